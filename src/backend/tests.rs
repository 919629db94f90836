//! Every backend kernel against the naive f64 reference of `retort-kernels` (or, for dropout and
//! the convolution layer, the CPU kernel), on sizes that are not multiples of any tile and on
//! extreme inputs: one body per test, run on the CPU and on the GPU.

use super::{Device, Storage};
use crate::test_devices::device_test;
use retort_kernels::testing::{Rng, Tolerance, assert_close, assert_finite_rows_sum_to_zero, f64s, logits_and_labels, numeric_gradient};
use retort_kernels::{dropout, reference};

fn down(d: &Device, b: &Storage) -> Vec<f32> {
    d.download(b)
}

/// A buffer of NaN: outputs must be written, never read, where beta = 0.
fn nans(d: &Device, n: usize) -> Storage {
    d.upload(&vec![f32::NAN; n])
}

const SIZES: [usize; 6] = [1, 7, 33, 65, 257, 1000];

device_test!(upload_download_zeros_and_copies, |g| {
    let mut rng = Rng::new(1);
    for n in [0usize, 1, 7, 1000] {
        let x = rng.vec(n, -1.0, 1.0);
        let b = g.upload(&x);
        assert_eq!(down(g, &b), x);
        let copy = b.clone();
        drop(b);
        // The recycled buffer is taken and overwritten; the copy is unaffected.
        let other = g.upload(&vec![5.0; n]);
        assert_eq!(down(g, &copy), x);
        assert_eq!(down(g, &other), vec![5.0; n]);
        assert_eq!(down(g, &g.zeros(n)), vec![0.0; n]);
    }
});

/// Every transpose and beta on shapes around the tiles of both GPU kernels.
pub(crate) fn matmul_on_odd_shapes(g: &Device) {
    let mut rng = Rng::new(2);
    let shapes =
        [(1usize, 1usize, 1usize), (7, 7, 7), (33, 65, 257), (65, 33, 7), (1, 1000, 7), (257, 3, 65), (130, 200, 70), (129, 9, 257)];
    for &(m, k, n) in &shapes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for beta in [0.0f32, 1.0, 0.5] {
                let (a, b, c0) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0), rng.vec(m * n, -1.0, 1.0));
                let mut c = if beta == 0.0 { nans(g, m * n) } else { g.upload(&c0) };
                g.matmul(m, k, n, &g.upload(&a), ta, &g.upload(&b), tb, &mut c, beta);
                let mut want = reference::matmul(m, k, n, &f64s(&a), ta, &f64s(&b), tb);
                want.iter_mut().zip(&c0).for_each(|(w, &c)| *w += beta as f64 * c as f64);
                assert_close(&format!("matmul {m}x{k}x{n} ta={ta} tb={tb} beta={beta}"), &down(g, &c), &want, Tolerance::dot(k));
            }
        }
    }
}

// A linear layer, `relu?(x w + bias)`, on shapes around the tiles, its output poisoned first.
device_test!(linear_layer_matches_reference, |g| {
    let mut rng = Rng::new(3);
    for &(m, k, n) in &[(1usize, 1usize, 1usize), (7, 33, 5), (33, 65, 257), (130, 200, 70), (128, 784, 37)] {
        let (x, w, bias) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0), rng.vec(n, -0.5, 0.5));
        for relu in [false, true] {
            let mut out = nans(g, m * n);
            g.linear(m, k, n, &g.upload(&x), &g.upload(&w), &g.upload(&bias), relu, &mut out);
            let want = reference::add_bias(m, n, &reference::matmul(m, k, n, &f64s(&x), false, &f64s(&w), false), &f64s(&bias), relu);
            assert_close(&format!("linear {m}x{k}x{n} relu={relu}"), &down(g, &out), &want, Tolerance::dot(k));
        }
    }
});

device_test!(matmul_with_empty_inner_dimension_scales_c, |g| {
    let mut c = g.upload(&[1.0, 2.0, 3.0]);
    g.matmul(3, 0, 1, &g.zeros(0), false, &g.zeros(0), false, &mut c, 0.5);
    assert_eq!(down(g, &c), vec![0.5, 1.0, 1.5]);
});

device_test!(elementwise_kernels_match_reference, |g| {
    let mut rng = Rng::new(3);
    for &rows in &[1usize, 3, 65] {
        for &cols in &SIZES {
            let n = rows * cols;
            let (x, y, bias) = (rng.vec(n, -2.0, 2.0), rng.vec(n, -2.0, 2.0), rng.vec(cols, -1.0, 1.0));
            let (xb, yb) = (g.upload(&x), g.upload(&y));
            let name = |op: &str| format!("{op} {rows}x{cols}");
            for relu in [false, true] {
                let mut out = nans(g, n);
                g.add_bias(rows, cols, &xb, &g.upload(&bias), relu, &mut out);
                assert_close(
                    &name("add_bias"),
                    &down(g, &out),
                    &reference::add_bias(rows, cols, &f64s(&x), &f64s(&bias), relu),
                    Tolerance::FORWARD,
                );
            }
            let mut out = nans(g, n);
            g.relu(&xb, &mut out);
            assert_close(&name("relu"), &down(g, &out), &reference::relu(&f64s(&x)), Tolerance::FORWARD);
            g.relu_backward(&xb, &yb, &mut out);
            let want: Vec<f64> = x.iter().zip(&y).map(|(&x, &dy)| if x > 0.0 { dy as f64 } else { 0.0 }).collect();
            assert_close(&name("relu_backward"), &down(g, &out), &want, Tolerance::FORWARD);
            g.add(&xb, &yb, &mut out);
            assert_close(
                &name("add"),
                &down(g, &out),
                &x.iter().zip(&y).map(|(&a, &b)| a as f64 + b as f64).collect::<Vec<_>>(),
                Tolerance::FORWARD,
            );
            g.mul(&xb, &yb, &mut out);
            assert_close(
                &name("mul"),
                &down(g, &out),
                &x.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).collect::<Vec<_>>(),
                Tolerance::FORWARD,
            );
            g.scale(&xb, -1.5, None, &mut out);
            assert_close(&name("scale"), &down(g, &out), &x.iter().map(|&a| -1.5 * a as f64).collect::<Vec<_>>(), Tolerance::FORWARD);
            g.scale(&xb, 2.0, Some(&g.upload(&[0.25])), &mut out);
            assert_close(&name("scale_by"), &down(g, &out), &x.iter().map(|&a| 0.5 * a as f64).collect::<Vec<_>>(), Tolerance::FORWARD);
            let mut acc = g.upload(&y);
            g.axpy(3.0, &xb, &mut acc);
            assert_close(
                &name("axpy"),
                &down(g, &acc),
                &x.iter().zip(&y).map(|(&a, &b)| b as f64 + 3.0 * a as f64).collect::<Vec<_>>(),
                Tolerance::FORWARD,
            );
        }
    }
});

device_test!(dropout_draws_the_cpu_mask_bit_for_bit, |g| {
    let mut rng = Rng::new(4);
    for &n in &[1usize, 7, 257, 10_007] {
        for &p in &[0.0f32, 0.2, 0.5, 0.9] {
            for seed in [0u64, 42, 0xdead_beef_0000_0001, u64::MAX] {
                let x = rng.vec(n, -2.0, 2.0);
                let mut want = vec![0.0; n];
                dropout::dropout(&x, p, seed, &mut want);
                let mut out = nans(g, n);
                g.dropout(&g.upload(&x), p, seed, &mut out);
                let got = down(g, &out);
                assert!(
                    got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "dropout n={n} p={p} seed={seed:#x}: GPU and CPU masks differ"
                );
            }
        }
    }
});

device_test!(reductions_match_reference, |g| {
    let mut rng = Rng::new(5);
    for &rows in &[1usize, 7, 129, 1000] {
        for &cols in &SIZES {
            let x = rng.vec(rows * cols, -1.0, 1.0);
            let xb = g.upload(&x);
            let sums = reference::col_sums(rows, cols, &f64s(&x));
            let mut out = nans(g, cols);
            g.col_sums(rows, cols, &xb, 0.0, &mut out);
            assert_close(&format!("col_sums {rows}x{cols}"), &down(g, &out), &sums, Tolerance::dot(rows));
            g.col_sums(rows, cols, &xb, 1.0, &mut out);
            assert_close(
                &format!("col_sums beta=1 {rows}x{cols}"),
                &down(g, &out),
                &sums.iter().map(|s| 2.0 * s).collect::<Vec<_>>(),
                Tolerance::dot(rows),
            );
            let mut total = nans(g, 1);
            g.sum(&xb, &mut total);
            assert_close(&format!("sum {rows}x{cols}"), &down(g, &total), &[sums.iter().sum()], Tolerance::dot(rows * cols));
        }
    }
});

/// Rows, columns, temperatures and logit scales of the softmax and KD tests.
fn softmax_cases() -> Vec<(usize, usize, f32, f32)> {
    let mut cases = Vec::new();
    for &(r, c) in &[(1usize, 1usize), (7, 7), (3, 33), (5, 65), (2, 257), (4, 1000), (129, 10)] {
        for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
            for scale in [3.0f32, 1e4] {
                cases.push((r, c, t, scale));
            }
        }
    }
    cases
}

device_test!(softmax_forward_and_backward_match_reference, |g| {
    let mut rng = Rng::new(6);
    for (r, c, t, scale) in softmax_cases() {
        let (x, dy) = (rng.vec(r * c, -scale, scale), rng.vec(r * c, -1.0, 1.0));
        let (xb, dyb) = (g.upload(&x), g.upload(&dy));
        let case = format!("{r}x{c} t={t} scale={scale}");
        let p = reference::softmax(r, c, &f64s(&x), t as f64);
        let lp = reference::log_softmax(r, c, &f64s(&x), t as f64);
        let mut y = nans(g, r * c);
        g.softmax(r, c, &xb, t, false, &mut y);
        assert_close(&format!("softmax {case}"), &down(g, &y), &p, Tolerance::FORWARD);
        let mut ly = nans(g, r * c);
        g.softmax(r, c, &xb, t, true, &mut ly);
        // Log-probabilities reach -2e4 / t: relative tolerance.
        assert_close(&format!("log_softmax {case}"), &down(g, &ly), &lp, Tolerance { abs: 1e-4, rel: 1e-5 });
        // dx = y (dy - <y, dy>) / t and dx = (dy - exp(y) sum(dy)) / t, from the f64 forward.
        let mut want = vec![0.0; r * c];
        let mut want_log = vec![0.0; r * c];
        for i in 0..r {
            let row = i * c..(i + 1) * c;
            let dot: f64 = row.clone().map(|j| p[j] * dy[j] as f64).sum();
            let total: f64 = row.clone().map(|j| dy[j] as f64).sum();
            for j in row {
                want[j] = p[j] * (dy[j] as f64 - dot) / t as f64;
                want_log[j] = (dy[j] as f64 - lp[j].exp() * total) / t as f64;
            }
        }
        let mut dx = nans(g, r * c);
        g.softmax_backward(r, c, &y, &dyb, t, false, &mut dx);
        assert_close(&format!("softmax_backward {case}"), &down(g, &dx), &want, Tolerance::FORWARD);
        g.softmax_backward(r, c, &ly, &dyb, t, true, &mut dx);
        assert_close(&format!("log_softmax_backward {case}"), &down(g, &dx), &want_log, Tolerance { abs: 1e-4, rel: 1e-4 });
    }
});

device_test!(kd_loss_forward_matches_reference_on_odd_shapes_and_extremes, |g| {
    let mut rng = Rng::new(7);
    for (r, c, t, scale) in softmax_cases() {
        for &alpha in &[0.0f32, 0.5, 0.9, 1.0] {
            let (zs, zt, y) = (rng.vec(r * c, -scale, scale), rng.vec(r * c, -scale, scale), rng.labels(r, c));
            let mut out = nans(g, 1);
            g.kd_loss(r, c, &g.upload(&zs), &g.upload(&zt), &g.upload_labels(&y), t, alpha, &mut out, None, None);
            let want = reference::kd_loss(r, c, &f64s(&zs), &f64s(&zt), &y, t as f64, alpha as f64);
            assert_close(
                &format!("kd_loss {r}x{c} t={t} alpha={alpha} scale={scale}"),
                &down(g, &out),
                &[want],
                Tolerance { abs: 1e-4, rel: 1e-4 },
            );
        }
    }
});

device_test!(kd_loss_gradient_matches_finite_differences, |g| {
    let mut rng = Rng::new(8);
    for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 33), (1, 65)] {
        for &t in &[0.5f32, 2.0, 20.0, 100.0] {
            for &alpha in &[0.0f32, 0.7, 1.0] {
                let (zs, zt, y) = (rng.vec(r * c, -3.0, 3.0), rng.vec(r * c, -3.0, 3.0), rng.labels(r, c));
                let (mut d, mut loss) = (nans(g, r * c), nans(g, 1));
                g.kd_loss(r, c, &g.upload(&zs), &g.upload(&zt), &g.upload_labels(&y), t, alpha, &mut loss, Some(&mut d), None);
                let ztd = f64s(&zt);
                let num = numeric_gradient(&f64s(&zs), |zs| reference::kd_loss(r, c, zs, &ztd, &y, t as f64, alpha as f64));
                assert_close(&format!("kd_loss gradient {r}x{c} t={t} alpha={alpha}"), &down(g, &d), &num, Tolerance::GRADIENT);
            }
        }
    }
});

// One pass gives the loss, the gradient and the parts; each matches the CPU kernel, extreme
// logits included, and the parts asked for alone match them asked for with the rest.
device_test!(kd_loss_pass_is_finite_on_extreme_logits_and_matches_the_cpu_kernel, |g| {
    use retort_kernels::kd_loss::{KdOutputs, kd_loss};
    use retort_kernels::kd_parts::PARTS;
    let mut rng = Rng::new(9);
    for (r, c, t, scale) in softmax_cases() {
        let (zs, mut zt, y) = logits_and_labels(&mut rng, r, c, scale);
        zt[..c].copy_from_slice(&zs[..c]);
        let (zsb, ztb, yb) = (g.upload(&zs), g.upload(&zt), g.upload_labels(&y));
        let (mut d, mut loss, mut sums) = (nans(g, r * c), nans(g, 1), g.upload(&[1.0; PARTS]));
        g.kd_loss(r, c, &zsb, &ztb, &yb, t, 0.9, &mut loss, Some(&mut d), Some(&mut sums));
        let (mut want_d, mut want_loss, mut want_parts) = (vec![0.0; r * c], vec![0.0; r], vec![0.0; r * PARTS]);
        let outputs = KdOutputs { row_loss: &mut want_loss, grad: Some((&mut want_d, 1.0 / r as f32)), parts: Some(&mut want_parts) };
        kd_loss(r, c, &zs, &zt, &y, t, 0.9, outputs);
        let case = format!("kd_loss {r}x{c} t={t} scale={scale}");
        let got = down(g, &d);
        assert_close(&format!("{case}: gradient"), &got, &f64s(&want_d), Tolerance::FORWARD);
        // Both softmaxes and the one-hot sum to one.
        assert_finite_rows_sum_to_zero(&case, &got, c, 1e-4);
        let mean = want_loss.iter().map(|&v| v as f64).sum::<f64>() / r as f64;
        assert_close(&format!("{case}: loss"), &down(g, &loss), &[mean], Tolerance { abs: 1e-4, rel: 1e-4 });
        let want: Vec<f64> = (0..PARTS).map(|k| 1.0 + (0..r).map(|i| want_parts[i * PARTS + k] as f64).sum::<f64>()).collect();
        // The GPU sums in f32, the CPU in f64.
        let tol = Tolerance { abs: 1e-4, rel: 1e-4 };
        assert_close(&format!("{case}: parts"), &down(g, &sums), &want, tol);
        let mut alone = g.upload(&[1.0; PARTS]);
        g.kd_loss(r, c, &zsb, &ztb, &yb, t, 0.0, &mut loss, None, Some(&mut alone));
        assert_close(&format!("{case}: parts alone"), &down(g, &alone), &want, tol);
    }
});

// Where student and teacher nearly agree at high t the KL is ~1e-9 and t^2 = 1e4 shows any
// cancellation: the loss within 1e-4 of the f64 one (1e-9 absolute), teacher logits shifted by
// up to 1000 from the student's.
device_test!(kd_loss_keeps_a_tiny_kl_at_high_temperature, |g| {
    let mut rng = Rng::new(13);
    for c in [10usize, 1000] {
        let zs = rng.vec(c, -8.0, 8.0);
        for (shift, noise) in [(0.0f32, 1e-3f32), (1000.0, 1e-2), (-3.0, 0.3)] {
            let zt: Vec<f32> = zs.iter().map(|&v| v + shift + rng.vec(1, -noise, noise)[0]).collect();
            let y = rng.labels(1, c);
            for t in [1.0f32, 20.0, 100.0] {
                let mut loss = nans(g, 1);
                g.kd_loss(1, c, &g.upload(&zs), &g.upload(&zt), &g.upload_labels(&y), t, 1.0, &mut loss, None, None);
                let want = (t as f64).powi(2) * reference::kl_t(&f64s(&zt), &f64s(&zs), t as f64);
                let got = down(g, &loss)[0] as f64;
                assert!((got - want).abs() <= 1e-4 * want + 1e-9, "1x{c} shift={shift} noise={noise} t={t}: {got} against {want}");
            }
        }
    }
});

device_test!(optimizers_match_reference, |g| {
    let mut rng = Rng::new(10);
    for &n in &[1usize, 7, 33, 1000, 70_001] {
        let (w, grad, v0) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0), rng.vec(n, -0.1, 0.1));
        let (mut wb, mut vb) = (g.upload(&w), g.upload(&v0));
        g.sgd_momentum(&mut wb, &g.upload(&grad), &mut vb, 0.05, 0.9, 1e-4);
        let (mut wr, mut vr) = (f64s(&w), f64s(&v0));
        reference::sgd_momentum(&mut wr, &f64s(&grad), &mut vr, 0.05, 0.9, 1e-4);
        assert_close(&format!("sgd_momentum w n={n}"), &down(g, &wb), &wr, Tolerance::FORWARD);
        assert_close(&format!("sgd_momentum v n={n}"), &down(g, &vb), &vr, Tolerance::FORWARD);

        let m0 = rng.vec(n, -0.1, 0.1);
        let v0: Vec<f32> = rng.vec(n, 0.0, 0.01);
        let (mut wb, mut mb, mut vb) = (g.upload(&w), g.upload(&m0), g.upload(&v0));
        g.adam(&mut wb, &g.upload(&grad), &mut mb, &mut vb, 1e-3, 0.9, 0.999, 1e-8, 3, 1e-2);
        let (mut wr, mut mr, mut vr) = (f64s(&w), f64s(&m0), f64s(&v0));
        reference::adam(&mut wr, &f64s(&grad), &mut mr, &mut vr, 1e-3, 0.9, 0.999, 1e-8, 3, 1e-2);
        assert_close(&format!("adam w n={n}"), &down(g, &wb), &wr, Tolerance::FORWARD);
        assert_close(&format!("adam m n={n}"), &down(g, &mb), &mr, Tolerance::FORWARD);
        assert_close(&format!("adam v n={n}"), &down(g, &vb), &vr, Tolerance::FORWARD);
    }
    for &(rows, cols) in &[(1usize, 1usize), (7, 33), (65, 257), (784, 10)] {
        let w = rng.vec(rows * cols, -1.0, 1.0);
        let mut wb = g.upload(&w);
        g.max_norm_columns(rows, cols, &mut wb, 1.5);
        let mut wr = f64s(&w);
        reference::max_norm_columns(rows, cols, &mut wr, 1.5);
        assert_close(&format!("max_norm_columns {rows}x{cols}"), &down(g, &wb), &wr, Tolerance::FORWARD);
    }
});

device_test!(pooling_kernels_match_the_cpu_kernels, |g| {
    use retort_kernels::pool;
    let mut rng = Rng::new(11);
    for c in retort_kernels::testing::pool_geometries() {
        // Few distinct values, so windows hold ties and the first-maximum rule is exercised.
        let x: Vec<f32> = (0..c.input_len()).map(|_| rng.below(5) as f32).collect();
        let n_out = c.col_rows() * c.channels;
        let mut want = vec![0.0; n_out];
        pool::max_pool2d(&c, &x, &mut want);
        let (xb, mut y) = (g.upload(&x), nans(g, n_out));
        g.max_pool2d(c, &xb, &mut y);
        assert_eq!(down(g, &y), want, "max_pool2d {c:?}");
        let d = rng.vec(n_out, -1.0, 1.0);
        let mut want_dx = vec![0.0; x.len()];
        pool::max_pool2d_backward(&c, &x, &want, &d, &mut want_dx);
        let mut dx = nans(g, x.len());
        g.max_pool2d_backward(c, &xb, &y, &g.upload(&d), &mut dx);
        assert_close(&format!("max_pool2d_backward {c:?}"), &down(g, &dx), &f64s(&want_dx), Tolerance::FORWARD);
    }
});

// The convolution layer, forward and all three gradients, against the chunked CPU kernel.
device_test!(conv2d_layer_matches_the_cpu_kernel, |g| {
    use retort_kernels::conv2d;
    use retort_kernels::window::Conv2dGeometry;
    let mut rng = Rng::new(12);
    let geom = Conv2dGeometry::new;
    for (c, out_channels, relu) in [
        (geom(1, 1, 1, 1, 1, 1, 0), 1, false),
        (geom(3, 7, 5, 3, 3, 1, 1), 7, true),
        (geom(2, 9, 9, 2, 5, 2, 2), 33, true),
        (geom(5, 28, 28, 1, 5, 1, 2), 8, true),
    ] {
        let (x, w, b) =
            (rng.vec(c.input_len(), -1.0, 1.0), rng.vec(c.col_width() * out_channels, -1.0, 1.0), rng.vec(out_channels, -0.5, 0.5));
        let n_out = c.col_rows() * out_channels;
        let mut scratch = vec![0.0; conv2d::conv2d_scratch_len(&c, out_channels)];
        let mut want_y = vec![0.0; n_out];
        conv2d::conv2d(&c, out_channels, &x, &w, &b, relu, &mut want_y, &mut scratch);
        let (xb, wb) = (g.upload(&x), g.upload(&w));
        let mut y = nans(g, n_out);
        g.conv2d(c, out_channels, &xb, &wb, &g.upload(&b), relu, &mut y);
        let name = format!("conv2d {c:?} -> {out_channels}");
        assert_close(&name, &down(g, &y), &f64s(&want_y), Tolerance::dot(c.col_width()));

        let dy = rng.vec(n_out, -1.0, 1.0);
        let (mut want_dx, mut want_dw, mut want_db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; out_channels]);
        conv2d::conv2d_backward(&c, out_channels, &x, &w, &want_y, &dy, relu, Some(&mut want_dx), &mut want_dw, &mut want_db, &mut scratch);
        let (mut dx, mut dw, mut db) = (nans(g, x.len()), nans(g, w.len()), nans(g, out_channels));
        g.conv2d_backward(c, out_channels, &xb, &wb, &g.upload(&want_y), &g.upload(&dy), relu, Some(&mut dx), &mut dw, &mut db);
        assert_close(&format!("{name}: dx"), &down(g, &dx), &f64s(&want_dx), Tolerance::dot(out_channels * c.kernel * c.kernel));
        assert_close(&format!("{name}: dw"), &down(g, &dw), &f64s(&want_dw), Tolerance::dot(c.col_rows()));
        assert_close(&format!("{name}: dbias"), &down(g, &db), &f64s(&want_db), Tolerance::dot(c.col_rows()));
    }
});

device_test!(matmul_matches_reference_on_odd_shapes_all_transposes, |g| {
    matmul_on_odd_shapes(g);
});

device_test!(dkd_loss_matches_reference_and_the_cpu_kernel, |g| {
    let mut rng = Rng::new(13);
    for (r, c, t, scale) in softmax_cases() {
        let (zs, zt, y) = logits_and_labels(&mut rng, r, c, scale);
        let (zsb, ztb, yb) = (g.upload(&zs), g.upload(&zt), g.upload_labels(&y));
        let case = format!("{r}x{c} t={t} scale={scale}");
        let mut out = nans(g, 1);
        g.dkd_loss(r, c, &zsb, &ztb, &yb, t, 1.0, 8.0, &mut out);
        let loss = down(g, &out)[0];
        assert!(loss.is_finite() && loss >= -1e-3, "dkd_loss {case}: {loss}");
        if scale < 10.0 {
            let want = reference::dkd_loss(r, c, &f64s(&zs), &f64s(&zt), &y, t as f64, 1.0, 8.0);
            // The GPU sums in f32: its rounding is magnified by t^2, as for kd_loss.
            let tol = Tolerance { abs: 1e-4 + 1e-5 * (t * t) as f64, rel: 1e-4 };
            assert_close(&format!("dkd_loss {case}"), &[loss], &[want], tol);
        }
        let mut d = nans(g, r * c);
        g.dkd_loss_backward(r, c, &zsb, &ztb, &yb, t, 1.0, 8.0, &g.upload(&[2.0]), &mut d);
        let got = down(g, &d);
        let mut want = vec![0.0; r * c];
        retort_kernels::dkd_loss::dkd_loss_backward(r, c, &zs, &zt, &y, t, 1.0, 8.0, 2.0 / r as f32, &mut want);
        assert_close(&format!("dkd_loss_backward {case}"), &got, &f64s(&want), Tolerance { abs: 1e-5, rel: 1e-4 });
        assert_finite_rows_sum_to_zero(&format!("dkd_loss_backward {case}"), &got, c, 1e-3);
    }
});
