//! 2-D max-pooling on NHWC images, forward and backward. Twin of `shaders/pool.wgsl`.

use crate::lanes::{Lanes, with_lanes};
use crate::simd;
use crate::window::Conv2dGeometry;
use rayon::prelude::*;

/// Max-pooling over `kernel x kernel` windows at `stride` (no padding):
/// `y[n, oy, ox, c] = max x[n, oy s + ky, ox s + kx, c]`. Channels are contiguous, so each
/// window position is one vectorised max over a run of `channels` values.
pub fn max_pool2d(g: &Conv2dGeometry, x: &[f32], y: &mut [f32]) {
    check_pool(g, x.len(), y.len(), "max_pool2d");
    let (oh, ow, c) = (g.out_height(), g.out_width(), g.channels);
    let isa = simd::isa();
    y.par_chunks_mut(ow * c).enumerate().for_each(|(n_oy, out)| with_lanes!(isa, l => pool_row(l, g, n_oy / oh, n_oy % oh, x, out)));
}

/// Output row `oy` of image `n` of [`max_pool2d`], a vector of channels at a time.
#[inline(always)]
fn pool_row<L: Lanes>(l: L, g: &Conv2dGeometry, n: usize, oy: usize, x: &[f32], out: &mut [f32]) {
    let c = g.channels;
    for (ox, out) in out.chunks_exact_mut(c).enumerate() {
        for c0 in (0..c).step_by(L::N) {
            let whole = c0 + L::N <= c;
            let first = window_start(g, n, oy, ox, 0, 0);
            let mut acc = l.load_known(&x[first..first + c], c0, whole, 0.0);
            for (ky, kx) in window_offsets(g).skip(1) {
                let at = window_start(g, n, oy, ox, ky, kx);
                let v = l.load_known(&x[at..at + c], c0, whole, 0.0);
                // A NaN in the window wins, as in the ReLU: divergence must reach the loss.
                // (`max` keeps a NaN already in `acc`; the select takes a new one.)
                acc = l.select_eq(v, v, l.max(v, acc), v);
            }
            l.store_known(out, c0, whole, acc);
        }
    }
}

/// The gradient of [`max_pool2d`]: each window's `dy` goes to the first position holding
/// the window's maximum (`y`), the rest get zero. Overwrites `dx`.
pub fn max_pool2d_backward(g: &Conv2dGeometry, x: &[f32], y: &[f32], dy: &[f32], dx: &mut [f32]) {
    check_pool(g, x.len(), y.len(), "max_pool2d_backward");
    assert!(dy.len() == y.len() && dx.len() == x.len(), "max_pool2d_backward: gradient lengths");
    let image_len = g.height * g.width * g.channels;
    let isa = simd::isa();
    dx.par_chunks_mut(image_len).enumerate().for_each(|(n, image)| {
        let x = &x[n * image_len..][..image_len];
        with_lanes!(isa, l => route_image(l, g, n, x, y, dy, image))
    });
}

/// [`max_pool2d_backward`] for image `n` (its input `x`, its gradient `image`), a vector of
/// channels at a time: branch-free selects over whole vectors, where a loop over a run-time
/// number of channels (8 or 16 in a small CNN) spent its time on the loop.
#[inline(always)]
fn route_image<L: Lanes>(l: L, g: &Conv2dGeometry, n: usize, x: &[f32], y: &[f32], dy: &[f32], image: &mut [f32]) {
    let (oh, ow, c) = (g.out_height(), g.out_width(), g.channels);
    let (zero, one) = (l.splat(0.0), l.splat(1.0));
    image.fill(0.0);
    for oy in 0..oh {
        for ox in 0..ow {
            let o = ((n * oh + oy) * ow + ox) * c;
            let (ys, dys) = (&y[o..o + c], &dy[o..o + c]);
            for c0 in (0..c).step_by(L::N) {
                let whole = c0 + L::N <= c;
                let (yv, gv) = (l.load_known(ys, c0, whole, 0.0), l.load_known(dys, c0, whole, 0.0));
                // 1 in the channels whose maximum is not yet found.
                let mut open = one;
                for (ky, kx) in window_offsets(g) {
                    let at = window_start(g, 0, oy, ox, ky, kx);
                    let xv = l.load_known(&x[at..at + c], c0, whole, 0.0);
                    let ds = &mut image[at..at + c];
                    // dy where this position holds the maximum and no earlier one did.
                    let take = l.select_eq(open, zero, zero, gv);
                    let d = l.add(l.load_known(ds, c0, whole, 0.0), l.select_eq(xv, yv, take, zero));
                    l.store_known(ds, c0, whole, d);
                    open = l.select_eq(xv, yv, zero, open);
                }
            }
        }
    }
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
        for isa in crate::simd::available() {
            for g in pool_geometries() {
                let x = rng.vec(g.input_len(), -1.0, 1.0);
                let mut y = vec![f32::NAN; g.col_rows() * g.channels];
                crate::simd::with_isa(isa, || max_pool2d(&g, &x, &mut y));
                let name = format!("{isa:?} {g:?}");
                assert_close(&format!("max_pool2d {name}"), &y, &reference::max_pool2d(&g, &f64s(&x)), Tolerance::FORWARD);
                let r = rng.vec(y.len(), -1.0, 1.0);
                let mut dx = vec![f32::NAN; x.len()];
                crate::simd::with_isa(isa, || max_pool2d_backward(&g, &x, &y, &r, &mut dx));
                let num = numeric_gradient(&f64s(&x), |x| reference::max_pool2d(&g, x).iter().zip(&r).map(|(a, &b)| a * b as f64).sum());
                assert_close(&format!("max_pool2d_backward {name}"), &dx, &num, Tolerance::GRADIENT);
            }
        }
    }

    /// A NaN anywhere in a window makes its output NaN (divergence must reach the loss), an
    /// infinity is the maximum; on every path, in whole vectors of channels and in tails.
    #[test]
    fn max_pool_lets_nan_through_from_any_window_position() {
        for isa in crate::simd::available() {
            for channels in [1usize, 8, 9, 16, 17] {
                let g = Conv2dGeometry::pool(1, 2, 2, channels, 2);
                for at in 0..4 {
                    for (bad, name) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
                        // Channel `ch` of window position `at`, for every channel `ch % 4 == at`.
                        let x: Vec<f32> = (0..4 * channels)
                            .map(|i| if (i / channels) == at && (i % channels) % 4 == at { bad } else { (i % 5) as f32 })
                            .collect();
                        let mut y = vec![0.0; channels];
                        crate::simd::with_isa(isa, || max_pool2d(&g, &x, &mut y));
                        for (ch, &v) in y.iter().enumerate() {
                            let hit = ch % 4 == at;
                            let ok = match (hit, name) {
                                (true, "NaN") => v.is_nan(),
                                (true, _) => v == f32::INFINITY,
                                _ => v.is_finite(),
                            };
                            assert!(ok, "{isa:?}: {name} at window position {at}, channel {ch} of {channels}: {v}");
                        }
                    }
                }
            }
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
