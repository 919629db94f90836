//! A whole convolution layer, `y = relu(conv(x, w) + bias)`, forward and backward, a few images
//! at a time: each chunk's column matrix is built, multiplied and dropped while it is still in
//! cache, and built again in the backward pass rather than kept. A column matrix is `k^2` times
//! its image (25 times for a 5x5 kernel): materialised for a whole batch it would cross memory
//! five times per step (written, read by the forward and the weight-gradient GEMMs, its gradient
//! written and read back), and at batch 128 that costs more than the GEMMs themselves.
//!
//! NHWC images, weights `[k * k * in_channels, out_channels]`, as in [`crate::conv`].

use crate::elementwise::{add_bias, relu_backward};
use crate::im2col::{col2im, im2col};
use crate::matmul::matmul;
use crate::reduce::col_sums;
use crate::window::Conv2dGeometry;

/// Column-matrix values per chunk: 4 MiB, so a chunk and its gradient stay in L3. Measured on
/// the CNN student and teacher (2026-11-24, 2 cores, 32 MiB L3): 1 MiB and 16 MiB both slower.
const CHUNK_VALUES: usize = 1 << 20;

/// Images per chunk for `g`: as many as fit [`CHUNK_VALUES`], at least one.
pub fn images_per_chunk(g: &Conv2dGeometry) -> usize {
    (CHUNK_VALUES / (g.out_height() * g.out_width() * g.col_width()).max(1)).clamp(1, g.batch.max(1))
}

/// The scratch [`conv2d`] and [`conv2d_backward`] need, in values: a chunk's column
/// matrix, its gradient, and its output rows.
pub fn conv2d_scratch_len(g: &Conv2dGeometry, out_channels: usize) -> usize {
    let rows = images_per_chunk(g) * g.out_height() * g.out_width();
    rows * (2 * g.col_width() + out_channels)
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
    forward_chunked(g, out_channels, x, w, bias, relu, y, scratch, images_per_chunk(g));
}

#[allow(clippy::too_many_arguments)]
fn forward_chunked(
    g: &Conv2dGeometry, out_channels: usize, x: &[f32], w: &[f32], bias: &[f32], relu: bool, y: &mut [f32], scratch: &mut [f32],
    per_chunk: usize,
) {
    let (image_len, image_rows, width) = (g.height * g.width * g.channels, g.out_height() * g.out_width(), g.col_width());
    for (n0, images, chunk) in chunks(g, per_chunk) {
        let rows = images * image_rows;
        let (cols, rest) = scratch.split_at_mut(rows * width);
        let z = &mut rest[..rows * out_channels];
        im2col(&chunk, &x[n0 * image_len..][..images * image_len], cols);
        matmul(rows, width, out_channels, cols, false, w, false, z, 0.0);
        add_bias(rows, out_channels, z, bias, relu, &mut y[n0 * image_rows * out_channels..][..rows * out_channels]);
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
    for (i, (n0, images, chunk)) in chunks(g, per_chunk).enumerate() {
        let rows = images * image_rows;
        let out = n0 * image_rows * out_channels..(n0 * image_rows + rows) * out_channels;
        let (cols, rest) = scratch.split_at_mut(rows * width);
        let (dcols, rest) = rest.split_at_mut(rows * width);
        // The gradient before the ReLU: `dy` where the output is positive.
        let dz = if relu {
            let dz = &mut rest[..rows * out_channels];
            relu_backward(&y[out.clone()], &dy[out.clone()], dz);
            &*dz
        } else {
            &dy[out]
        };
        // The first chunk overwrites the weight and bias gradients, the rest add to them.
        let beta = if i == 0 { 0.0 } else { 1.0 };
        col_sums(rows, out_channels, dz, beta, dbias);
        let x_chunk = &x[n0 * image_len..][..images * image_len];
        im2col(&chunk, x_chunk, cols);
        matmul(width, rows, out_channels, cols, true, dz, false, dw, beta);
        if let Some(dx) = dx.as_deref_mut() {
            matmul(rows, out_channels, width, dz, false, w, true, dcols, 0.0);
            col2im(&chunk, dcols, &mut dx[n0 * image_len..][..images * image_len]);
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
