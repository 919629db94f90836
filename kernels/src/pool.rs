//! 2-D max-pooling on NHWC images, forward and backward. Twin of `shaders/pool.wgsl`.

use crate::simd;
use crate::window::Conv2dGeometry;
use rayon::prelude::*;

/// Max-pooling over `kernel x kernel` windows at `stride` (no padding):
/// `y[n, oy, ox, c] = max x[n, oy s + ky, ox s + kx, c]`. Channels are contiguous, so each
/// window position is one vectorised max over a run of `channels` values.
pub fn max_pool2d(g: &Conv2dGeometry, x: &[f32], y: &mut [f32]) {
    check_pool(g, x.len(), y.len(), "max_pool2d");
    let (oh, ow, c) = (g.out_height(), g.out_width(), g.channels);
    y.par_chunks_mut(ow * c).enumerate().for_each(|(n_oy, out)| {
        let (n, oy) = (n_oy / oh, n_oy % oh);
        for (ox, out) in out.chunks_mut(c).enumerate() {
            out.copy_from_slice(&x[window_start(g, n, oy, ox, 0, 0)..][..c]);
            for (ky, kx) in window_offsets(g) {
                let src = &x[window_start(g, n, oy, ox, ky, kx)..][..c];
                // A NaN in the window wins, as in the ReLU: divergence must reach the loss.
                out.iter_mut().zip(src).for_each(|(o, &v)| *o = if v > *o || v.is_nan() { v } else { *o });
            }
        }
    });
}

/// The gradient of [`max_pool2d`]: each window's `dy` goes to the first position holding
/// the window's maximum (`y`), the rest get zero. Overwrites `dx`.
pub fn max_pool2d_backward(g: &Conv2dGeometry, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    check_pool(g, x.len(), y.len(), "max_pool2d_backward");
    assert!(dy.len() == y.len() && dx.len() == x.len(), "max_pool2d_backward: gradient lengths");
    let (oh, ow, c) = (g.out_height(), g.out_width(), g.channels);
    let image_len = g.height * g.width * c;
    let isa = simd::isa();
    // Channels in blocks, branch-free within one: `open` marks the channels whose maximum is
    // not yet found, so the loop over a block vectorises.
    const BLOCK: usize = 64;
    dx.par_chunks_mut(image_len).enumerate().for_each(|(n, image)| {
        simd::dispatch!(isa, {
            image.fill(0.0);
            let mut open = [0.0f32; BLOCK];
            for oy in 0..oh {
                for ox in 0..ow {
                    for c0 in (0..c).step_by(BLOCK) {
                        let w = BLOCK.min(c - c0);
                        let o = ((n * oh + oy) * ow + ox) * c + c0;
                        let (ys, dys, open) = (&y[o..o + w], &dy[o..o + w], &mut open[..w]);
                        open.fill(1.0);
                        for (ky, kx) in window_offsets(g) {
                            let at = window_start(g, n, oy, ox, ky, kx) + c0;
                            let (xs, ds) = (&x[at..at + w], &mut image[at - n * image_len..][..w]);
                            // Every value read unconditionally: selects, not masked moves.
                            for ch in 0..w {
                                let (xv, yv, g, is_open, d) = (xs[ch], ys[ch], dys[ch], open[ch], ds[ch]);
                                let hit = (is_open != 0.0) & (xv == yv);
                                ds[ch] = d + if hit { g } else { 0.0 };
                                open[ch] = if hit { 0.0 } else { is_open };
                            }
                        }
                    }
                }
            }
        })
    });
}

/// Window offsets `(ky, kx)` in row-major order: the order "first maximum" refers to.
fn window_offsets(g: &Conv2dGeometry) -> impl Iterator<Item = (usize, usize)> + use<> {
    let k = g.kernel;
    (0..k).flat_map(move |ky| (0..k).map(move |kx| (ky, kx)))
}

/// The flat index of channel 0 at window offset `(ky, kx)` of pooling output `(n, oy, ox)`.
#[inline(always)]
fn window_start(g: &Conv2dGeometry, n: usize, oy: usize, ox: usize, ky: usize, kx: usize) -> usize {
    ((n * g.height + oy * g.stride + ky) * g.width + ox * g.stride + kx) * g.channels
}

fn check_pool(g: &Conv2dGeometry, x: usize, y: usize, op: &str) {
    assert!(g.is_valid() && g.padding == 0, "{op}: invalid pooling geometry {g:?}");
    assert!(
        x == g.input_len() && y == g.col_rows() * g.channels,
        "{op}: {g:?} expects {} input and {} output values, got {x} and {y}",
        g.input_len(),
        g.col_rows() * g.channels
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{Rng, Tolerance, assert_close, f64s, numeric_gradient, pool_geometries};

    #[test]
    fn max_pool_matches_reference_and_its_gradient_finite_differences() {
        let mut rng = Rng::new(32);
        for g in pool_geometries() {
            let x = rng.vec(g.input_len(), -1.0, 1.0);
            let mut y = vec![f32::NAN; g.col_rows() * g.channels];
            max_pool2d(&g, &x, &mut y);
            assert_close(&format!("max_pool2d {g:?}"), &y, &reference::max_pool2d(&g, &f64s(&x)), Tolerance::FORWARD);
            let r = rng.vec(y.len(), -1.0, 1.0);
            let mut dx = vec![f32::NAN; x.len()];
            max_pool2d_backward(&g, &x, &y, &r, &mut dx);
            let num = numeric_gradient(&f64s(&x), |x| reference::max_pool2d(&g, x).iter().zip(&r).map(|(a, &b)| a * b as f64).sum());
            assert_close(&format!("max_pool2d_backward {g:?}"), &dx, &num, Tolerance::GRADIENT);
        }
    }

    #[test]
    fn max_pool_routes_a_tie_to_the_first_maximum_only() {
        let g = Conv2dGeometry::pool(1, 2, 2, 1, 2);
        let x = [1.0, 3.0, 3.0, 0.0];
        let mut dx = [9.0; 4];
        max_pool2d_backward(&g, &x, &[3.0], &[2.0], &mut dx);
        assert_eq!(dx, [0.0, 2.0, 0.0, 0.0]);
    }
}
