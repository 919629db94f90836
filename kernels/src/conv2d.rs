//! A whole convolution layer, `y = relu(conv(x, w) + bias)`, forward and backward.
//!
//! The forward GEMM and the weight gradient's read the column matrix without building it: the
//! images are copied once with their padding, and [`matmul_gathered`] addresses the matrix
//! through two offset tables (an output pixel's window corner, a kernel tap's place in the
//! window). Written out, the column matrix is `k^2` times its image (25 times for a 5x5
//! kernel), written and read back by each GEMM; the padded copy is about one image. The forward
//! pass takes the whole batch at once (one GEMM, one hand-off to the threads); the backward
//! pass goes a chunk of images at a time, as the input gradient of a layer with a stride still
//! writes a column matrix (its gradient, which col2im sums back into the image) that should stay
//! in L3 (a whole batch at once for stride 1 measured no faster).
//!
//! NHWC images, weights `[k * k * in_channels, out_channels]`, as in [`crate::im2col`].

use crate::elementwise::relu_backward;
use crate::im2col::col2im;
use crate::matmul::{Epilogue, matmul, matmul_gathered};
use crate::reduce::col_sums;
use crate::window::Conv2dGeometry;

/// Column-matrix values per chunk (the input gradient's): 4 MiB, so a chunk and its gradient
/// stay in L3. Measured on the CNN student and teacher (2026-11-24, 2 cores, 32 MiB L3): 1 MiB
/// and 16 MiB both slower.
const CHUNK_VALUES: usize = 1 << 20;

/// Images per chunk for `g`: as many as fit [`CHUNK_VALUES`], at least one.
pub fn images_per_chunk(g: &Conv2dGeometry) -> usize {
    (CHUNK_VALUES / (g.out_height() * g.out_width() * g.col_width()).max(1)).clamp(1, g.batch.max(1))
}

/// Values of one image with its padding ([`Conv2dGeometry::padded_height`]).
fn padded_image_len(g: &Conv2dGeometry) -> usize {
    g.padded_height() * g.padded_width() * g.channels
}

/// The scratch [`conv2d`] and [`conv2d_backward`] need, in values: a chunk's padded images,
/// its output gradient, and for the input gradient either the padded output gradient (stride
/// 1) or the column-matrix gradient.
pub fn conv2d_scratch_len(g: &Conv2dGeometry, out_channels: usize) -> usize {
    let images = images_per_chunk(g);
    let rows = images * g.out_height() * g.out_width();
    let input_gradient = match transposed(g, out_channels) {
        Some(t) => images * padded_image_len(&t),
        None => rows * g.col_width(),
    };
    // The forward pass pads the whole batch at once.
    (g.batch * padded_image_len(g)).max(images * padded_image_len(g) + rows * out_channels + input_gradient)
}

/// The input gradient of a stride-1 convolution is itself a convolution: of the output
/// gradient (`out_channels` channels), padded by `k - 1 - p`, with the kernel turned half a
/// turn and its channels swapped ([`turned_weights`]), giving an image of the input's size.
/// Its geometry, for a batch as `g`'s; `None` for other strides (or padding past `k - 1`),
/// whose input gradient goes through a column matrix and col2im.
fn transposed(g: &Conv2dGeometry, out_channels: usize) -> Option<Conv2dGeometry> {
    let (k, p) = (g.kernel, g.padding);
    (g.stride == 1 && p < k).then(|| Conv2dGeometry::new(g.batch, g.out_height(), g.out_width(), out_channels, k, 1, k - 1 - p))
}

/// `w` (`[(ky, kx, c), o]`) as the weights of [`transposed`]: `[(k-1-ky, k-1-kx, o), c]`.
fn turned_weights(g: &Conv2dGeometry, out_channels: usize, w: &[f32]) -> Vec<f32> {
    let (k, c) = (g.kernel, g.channels);
    let mut turned = vec![0.0; w.len()];
    for (tap, row) in turned.chunks_exact_mut(out_channels * c).enumerate() {
        // The tap half a turn away, in the original's `(ky, kx)` order.
        let from = k * k - 1 - tap;
        for o in 0..out_channels {
            for ch in 0..c {
                row[o * c + ch] = w[(from * c + ch) * out_channels + o];
            }
        }
    }
    turned
}

/// The offset tables of a chunk of `images` padded images as [`matmul_gathered`] reads them:
/// each output pixel's window corner, `(n, oy, ox)` order, and each tap's offset from it,
/// `(ky, kx, c)` order, the column matrix's.
fn window_offsets(g: &Conv2dGeometry, images: usize) -> (Vec<u32>, Vec<u32>) {
    let (oh, ow, s, c, k) = (g.out_height(), g.out_width(), g.stride, g.channels, g.kernel);
    let (pw, image) = (g.padded_width(), padded_image_len(g));
    let offset = |o: usize| u32::try_from(o).expect("conv2d: a chunk's padded images past 2^32 values");
    let mut corners = Vec::with_capacity(images * oh * ow);
    for n in 0..images {
        for oy in 0..oh {
            let row = n * image + oy * s * pw * c;
            corners.extend((0..ow).map(|ox| offset(row + ox * s * c)));
        }
    }
    let mut taps = Vec::with_capacity(k * k * c);
    for ky in 0..k {
        taps.extend((ky * pw * c..ky * pw * c + k * c).map(offset));
    }
    (corners, taps)
}

/// The images of `x` into `padded`, each inside its zero border.
fn pad_images(g: &Conv2dGeometry, x: &[f32], padded: &mut [f32]) {
    let (c, p, pw) = (g.channels, g.padding, g.padded_width());
    for (image, out) in x.chunks_exact(g.height * g.width * c).zip(padded.chunks_exact_mut(padded_image_len(g))) {
        out.fill(0.0);
        for (src, dst) in image.chunks_exact(g.width * c).zip(out[p * pw * c..].chunks_exact_mut(pw * c)) {
            dst[p * c..][..src.len()].copy_from_slice(src);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check(g: &Conv2dGeometry, out_channels: usize, x: usize, w: usize, bias: usize, y: usize, scratch: usize, op: &str) {
    assert!(g.is_valid(), "{op}: invalid geometry {g:?}");
    let y_len = g.col_rows() * out_channels;
    assert!(
        x == g.input_len()
            && w == g.col_width() * out_channels
            && bias == out_channels
            && y == y_len
            && scratch >= conv2d_scratch_len(g, out_channels),
        "{op}: {g:?} to {out_channels} channels expects x {}, w {}, bias {out_channels}, y {y_len}, scratch {}; got {x}, {w}, {bias}, {y}, {scratch}",
        g.input_len(),
        g.col_width() * out_channels,
        conv2d_scratch_len(g, out_channels)
    );
}

/// The chunks of a batch: `(first image, images, geometry of the chunk)`.
fn chunks(g: &Conv2dGeometry, per_chunk: usize) -> impl Iterator<Item = (usize, usize, Conv2dGeometry)> + use<> {
    let g = *g;
    (0..g.batch).step_by(per_chunk.max(1)).map(move |n0| {
        let images = per_chunk.min(g.batch - n0);
        (n0, images, Conv2dGeometry { batch: images, ..g })
    })
}

/// `y[(n, oy, ox), o] = relu?(sum_{ky, kx, c} x[n, oy s + ky - p, ox s + kx - p, c] w[(ky, kx, c), o] + bias[o])`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d(g: &Conv2dGeometry, out_channels: usize, x: &[f32], w: &[f32], bias: &[f32], relu: bool, y: &mut [f32], scratch: &mut [f32]) {
    check(g, out_channels, x.len(), w.len(), bias.len(), y.len(), scratch.len(), "conv2d");
    // One chunk: without a column matrix the forward pass holds only the padded images (about
    // one batch), and one GEMM hands its rows to the threads once.
    forward_chunked(g, out_channels, x, w, bias, relu, y, scratch, g.batch);
}

#[allow(clippy::too_many_arguments)]
fn forward_chunked(
    g: &Conv2dGeometry, out_channels: usize, x: &[f32], w: &[f32], bias: &[f32], relu: bool, y: &mut [f32], scratch: &mut [f32],
    per_chunk: usize,
) {
    let (image_len, image_rows, width) = (g.height * g.width * g.channels, g.out_height() * g.out_width(), g.col_width());
    let (corners, taps) = window_offsets(g, per_chunk);
    for (n0, images, _) in chunks(g, per_chunk) {
        let rows = images * image_rows;
        let padded = &mut scratch[..images * padded_image_len(g)];
        pad_images(g, &x[n0 * image_len..][..images * image_len], padded);
        let y = &mut y[n0 * image_rows * out_channels..][..rows * out_channels];
        // The bias and ReLU in the GEMM's tile, as it stores each output.
        let out = Epilogue { beta: 0.0, bias: Some(bias), relu };
        matmul_gathered(rows, width, out_channels, padded, &corners[..rows], &taps, w, false, y, out);
    }
}

/// The gradients of [`conv2d`] given its output `y` (for the ReLU) and `dy`: `dx` (when
/// asked for: not for a network's input), `dw` and `dbias`, each overwritten.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    g: &Conv2dGeometry, out_channels: usize, x: &[f32], w: &[f32], y: &[f32], dy: &[f32], relu: bool, dx: Option<&mut [f32]>,
    dw: &mut [f32], dbias: &mut [f32], scratch: &mut [f32],
) {
    check(g, out_channels, x.len(), w.len(), dbias.len(), y.len(), scratch.len(), "conv2d_backward");
    assert!(
        dy.len() == y.len() && dw.len() == w.len() && dx.as_ref().is_none_or(|dx| dx.len() == x.len()),
        "conv2d_backward: gradient lengths"
    );
    backward_chunked(g, out_channels, x, w, y, dy, relu, dx, dw, dbias, scratch, images_per_chunk(g));
}

#[allow(clippy::too_many_arguments)]
fn backward_chunked(
    g: &Conv2dGeometry, out_channels: usize, x: &[f32], w: &[f32], y: &[f32], dy: &[f32], relu: bool, mut dx: Option<&mut [f32]>,
    dw: &mut [f32], dbias: &mut [f32], scratch: &mut [f32], per_chunk: usize,
) {
    let (image_len, image_rows, width) = (g.height * g.width * g.channels, g.out_height() * g.out_width(), g.col_width());
    let (corners, taps) = window_offsets(g, per_chunk);
    // The input gradient as a convolution of the output gradient, where the stride allows:
    // its geometry, weights and offset tables.
    let as_convolution = transposed(g, out_channels)
        .filter(|_| dx.is_some())
        .map(|t| (t, turned_weights(g, out_channels, w), window_offsets(&t, per_chunk)));
    for (i, (n0, images, chunk)) in chunks(g, per_chunk).enumerate() {
        let rows = images * image_rows;
        let out = n0 * image_rows * out_channels..(n0 * image_rows + rows) * out_channels;
        let (padded, rest) = scratch.split_at_mut(images * padded_image_len(g));
        let (dz_buf, rest) = rest.split_at_mut(rows * out_channels);
        // The gradient before the ReLU: `dy` where the output is positive.
        let dz = if relu {
            relu_backward(&y[out.clone()], &dy[out.clone()], dz_buf);
            &*dz_buf
        } else {
            &dy[out]
        };
        // The first chunk overwrites the weight and bias gradients, the rest add to them.
        let beta = if i == 0 { 0.0 } else { 1.0 };
        col_sums(rows, out_channels, dz, beta, dbias);
        pad_images(g, &x[n0 * image_len..][..images * image_len], padded);
        // dw = cols^T dz: the column matrix transposed is gathered with the tables swapped.
        matmul_gathered(width, rows, out_channels, padded, &taps, &corners[..rows], dz, false, dw, Epilogue::beta(beta));
        let Some(dx) = dx.as_deref_mut() else { continue };
        let dx = &mut dx[n0 * image_len..][..images * image_len];
        match &as_convolution {
            Some((t, turned, (t_corners, t_taps))) => {
                let padded_dz = &mut rest[..images * padded_image_len(t)];
                pad_images(t, dz, padded_dz);
                let pixels = images * g.height * g.width;
                matmul_gathered(
                    pixels,
                    t_taps.len(),
                    g.channels,
                    padded_dz,
                    &t_corners[..pixels],
                    t_taps,
                    turned,
                    false,
                    dx,
                    Epilogue::beta(0.0),
                );
            }
            None => {
                let dcols = &mut rest[..rows * width];
                matmul(rows, out_channels, width, dz, false, w, true, dcols, 0.0);
                col2im(&chunk, dcols, dx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{Rng, Tolerance, assert_close, f64s, numeric_gradient};

    fn geometries() -> Vec<Conv2dGeometry> {
        let g = Conv2dGeometry::new;
        vec![g(1, 1, 1, 1, 1, 1, 0), g(3, 7, 5, 3, 3, 1, 1), g(5, 9, 9, 2, 5, 2, 2), g(2, 4, 4, 1, 5, 1, 2)]
    }

    /// The reference layer: direct convolution, bias, ReLU, in f64.
    fn reference_layer(g: &Conv2dGeometry, out_channels: usize, x: &[f64], w: &[f64], bias: &[f64], relu: bool) -> Vec<f64> {
        let z = reference::conv2d(g, x, w, out_channels);
        reference::add_bias(g.col_rows(), out_channels, &z, bias, relu)
    }

    #[test]
    fn forward_matches_the_reference_in_any_chunking() {
        let mut rng = Rng::new(50);
        for g in geometries() {
            for (out_channels, relu) in [(1usize, false), (7, true), (33, true)] {
                let (x, w, b) =
                    (rng.vec(g.input_len(), -1.0, 1.0), rng.vec(g.col_width() * out_channels, -1.0, 1.0), rng.vec(out_channels, -0.5, 0.5));
                let want = reference_layer(&g, out_channels, &f64s(&x), &f64s(&w), &f64s(&b), relu);
                for per_chunk in [1, 2, g.batch] {
                    let mut y = vec![f32::NAN; want.len()];
                    let mut scratch = vec![
                        f32::NAN;
                        conv2d_scratch_len(&Conv2dGeometry { batch: per_chunk, ..g }, out_channels)
                            .max(conv2d_scratch_len(&g, out_channels))
                    ];
                    forward_chunked(&g, out_channels, &x, &w, &b, relu, &mut y, &mut scratch, per_chunk);
                    assert_close(
                        &format!("conv2d {g:?} -> {out_channels}, {per_chunk} per chunk"),
                        &y,
                        &want,
                        Tolerance::dot(g.col_width()),
                    );
                }
            }
        }
    }

    /// Without the ReLU, against finite differences of `<r, layer(x, w, b)>`; with it, the
    /// same gradients as the linear layer given `dy` masked where the output is zero.
    #[test]
    fn backward_matches_finite_differences_in_any_chunking() {
        let mut rng = Rng::new(51);
        for g in geometries() {
            let out_channels = 3;
            let (x, w, b) =
                (rng.vec(g.input_len(), -1.0, 1.0), rng.vec(g.col_width() * out_channels, -1.0, 1.0), rng.vec(out_channels, -0.5, 0.5));
            let r = rng.vec(g.col_rows() * out_channels, -1.0, 1.0);
            let (x64, w64, b64) = (f64s(&x), f64s(&w), f64s(&b));
            let dot = |y: Vec<f64>| y.iter().zip(&r).map(|(a, &b)| a * b as f64).sum::<f64>();
            let want_dx = numeric_gradient(&x64, |x| dot(reference_layer(&g, out_channels, x, &w64, &b64, false)));
            let want_dw = numeric_gradient(&w64, |w| dot(reference_layer(&g, out_channels, &x64, w, &b64, false)));
            let want_db = numeric_gradient(&b64, |b| dot(reference_layer(&g, out_channels, &x64, &w64, b, false)));
            let scratch_len = conv2d_scratch_len(&g, out_channels).max(conv2d_scratch_len(&Conv2dGeometry { batch: 1, ..g }, out_channels));
            let y = reference_layer(&g, out_channels, &x64, &w64, &b64, true).iter().map(|&v| v as f32).collect::<Vec<_>>();
            let masked: Vec<f32> = r.iter().zip(&y).map(|(&d, &y)| if y > 0.0 { d } else { 0.0 }).collect();
            for per_chunk in [1, 2, g.batch] {
                let run = |relu: bool, dy: &[f32]| {
                    let (mut dx, mut dw, mut db, mut scratch) =
                        (vec![f32::NAN; x.len()], vec![f32::NAN; w.len()], vec![f32::NAN; out_channels], vec![f32::NAN; scratch_len]);
                    backward_chunked(&g, out_channels, &x, &w, &y, dy, relu, Some(&mut dx), &mut dw, &mut db, &mut scratch, per_chunk);
                    (dx, dw, db)
                };
                let name = format!("conv2d_backward {g:?}, {per_chunk} per chunk");
                let (dx, dw, db) = run(false, &r);
                assert_close(&format!("{name}: dx"), &dx, &want_dx, Tolerance::GRADIENT);
                assert_close(&format!("{name}: dw"), &dw, &want_dw, Tolerance::GRADIENT);
                assert_close(&format!("{name}: dbias"), &db, &want_db, Tolerance::GRADIENT);
                let (relu, linear) = (run(true, &r), run(false, &masked));
                assert_eq!(relu, linear, "{name}: the ReLU masks dy");
            }
        }
    }

    #[test]
    fn backward_without_dx_leaves_the_other_gradients_alone() {
        let g = Conv2dGeometry { batch: 3, height: 6, width: 6, channels: 2, kernel: 3, stride: 1, padding: 1 };
        let mut rng = Rng::new(52);
        let (x, w, dy) = (rng.vec(g.input_len(), -1.0, 1.0), rng.vec(g.col_width() * 4, -1.0, 1.0), rng.vec(g.col_rows() * 4, -1.0, 1.0));
        let y = vec![1.0; dy.len()];
        let mut scratch = vec![0.0; conv2d_scratch_len(&g, 4)];
        let (mut dw, mut db, mut dx) = (vec![0.0; w.len()], vec![0.0; 4], vec![0.0; x.len()]);
        conv2d_backward(&g, 4, &x, &w, &y, &dy, true, Some(&mut dx), &mut dw, &mut db, &mut scratch);
        let (mut dw2, mut db2) = (vec![0.0; w.len()], vec![0.0; 4]);
        conv2d_backward(&g, 4, &x, &w, &y, &dy, true, None, &mut dw2, &mut db2, &mut scratch);
        assert_eq!((dw, db), (dw2, db2));
    }
}
