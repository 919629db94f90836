//! Convolution as im2col + the one tuned GEMM, and 2-D max-pooling, on NHWC images (channels
//! innermost), so a convolution's output rows `[n, oy, ox]` by `out_channels` come straight out
//! of `cols x W` with no transposes, and weights are `[k * k * in_channels, out_channels]` like a
//! linear layer's `[in, out]`.

use crate::simd;
use rayon::prelude::*;

/// The shape of a convolution (or pooling window) over a batch of NHWC images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    /// Square window side.
    pub kernel: usize,
    pub stride: usize,
    /// Zeros added on each side.
    pub padding: usize,
}

impl Conv2dGeometry {
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }
    /// Values of one input batch.
    pub fn input_len(&self) -> usize {
        self.batch * self.height * self.width * self.channels
    }
    /// Rows of the column matrix: one per output position.
    pub fn col_rows(&self) -> usize {
        self.batch * self.out_height() * self.out_width()
    }
    /// Columns of the column matrix: one per window value, `(ky, kx, channel)` order.
    pub fn col_width(&self) -> usize {
        self.kernel * self.kernel * self.channels
    }
    /// Whether the window fits the padded image and the stride is positive.
    pub fn is_valid(&self) -> bool {
        self.kernel >= 1
            && self.stride >= 1
            && self.kernel <= self.height + 2 * self.padding
            && self.kernel <= self.width + 2 * self.padding
    }
    /// The input position of window offset `k` at output position `o`, if inside the image.
    #[inline(always)]
    fn source(&self, o: usize, k: usize, size: usize) -> Option<usize> {
        (o * self.stride + k).checked_sub(self.padding).filter(|&i| i < size)
    }
}

fn check(g: &Conv2dGeometry, x: usize, cols: usize, op: &str) {
    assert!(g.is_valid(), "{op}: invalid geometry {g:?}");
    assert!(
        x == g.input_len() && cols == g.col_rows() * g.col_width(),
        "{op}: {g:?} expects {} image and {} column values, got {x} and {cols}",
        g.input_len(),
        g.col_rows() * g.col_width()
    );
}

/// `cols[(n, oy, ox), (ky, kx, c)] = x[n, oy s + ky - p, ox s + kx - p, c]`, zero outside the image.
pub fn im2col(g: &Conv2dGeometry, x: &[f32], cols: &mut [f32]) {
    check(g, x.len(), cols.len(), "im2col");
    let (oh, ow, c, k, s) = (g.out_height(), g.out_width(), g.channels, g.kernel, g.stride);
    let (row_len, run) = (g.col_width(), g.kernel * g.channels);
    let image_len = g.height * g.width * c;
    // One image row with its padding, so that every window row is one full run of `k * c`
    // values: no clipping per output position.
    let padded_len = ((ow - 1) * s + k).max(g.width + g.padding) * c;
    cols.par_chunks_mut(row_len * ow).enumerate().for_each_init(
        // WIDE values of slack: a wide copy may read past the last window.
        || vec![0.0f32; padded_len + WIDE],
        |padded, (n_oy, rows)| {
            let (n, oy) = (n_oy / oh, n_oy % oh);
            for ky in 0..k {
                let Some(iy) = g.source(oy, ky, g.height) else {
                    rows.chunks_mut(row_len).for_each(|row| zero_run(&mut row[ky * run..][..run]));
                    continue;
                };
                let src = &x[n * image_len + iy * g.width * c..][..g.width * c];
                padded[g.padding * c..][..src.len()].copy_from_slice(src);
                if run < WIDE && ky * run + WIDE <= row_len {
                    // A short run (one channel: 5 values) as one copy of WIDE values: the excess
                    // lands on the runs of later window rows, written after this one.
                    for (ox, row) in rows.chunks_mut(row_len).enumerate() {
                        row[ky * run..][..WIDE].copy_from_slice(&padded[ox * s * c..][..WIDE]);
                    }
                } else {
                    for (ox, row) in rows.chunks_mut(row_len).enumerate() {
                        copy_run(&mut row[ky * run..][..run], &padded[ox * s * c..][..run]);
                    }
                }
            }
        },
    );
}

/// Values [`im2col`] copies at once for a run shorter than this.
const WIDE: usize = 8;

/// `dst = src` for the short runs of im2col (a window row: 5 values for a 5x5 kernel on one
/// channel), where a call to memcpy costs more than the copy: fixed-size pieces the compiler
/// turns into plain moves.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    let mut src = &src[..dst.len()];
    let mut dst = dst;
    while dst.len() >= 8 {
        let (d, rest) = dst.split_at_mut(8);
        d.copy_from_slice(&src[..8]);
        (dst, src) = (rest, &src[8..]);
    }
    if dst.len() >= 4 {
        let (d, rest) = dst.split_at_mut(4);
        d.copy_from_slice(&src[..4]);
        (dst, src) = (rest, &src[4..]);
    }
    for (d, &s) in dst.iter_mut().zip(src).take(3) {
        *d = s;
    }
}

/// `dst = 0` for the short runs of im2col's padding, without a call to memset (see [`copy_run`]).
#[inline(always)]
fn zero_run(dst: &mut [f32]) {
    let mut chunks = dst.chunks_exact_mut(4);
    for d in &mut chunks {
        d.copy_from_slice(&[0.0; 4]);
    }
    for d in chunks.into_remainder().iter_mut().take(3) {
        *d = 0.0;
    }
}

/// The adjoint of [`im2col`]: `dx` becomes the sum, over every column entry, of its value at the
/// image position it was read from (the input gradient of a convolution). Overwrites `dx`.
pub fn col2im(g: &Conv2dGeometry, cols: &[f32], dx: &mut [f32]) {
    check(g, dx.len(), cols.len(), "col2im");
    let (oh, ow, c, k, s, p) = (g.out_height(), g.out_width(), g.channels, g.kernel, g.stride, g.padding);
    let (row_len, run) = (g.col_width(), k * c);
    // Sums go to a padded image, so every window row is one full run (no clipping); its
    // interior is the result. Rows and columns past the last window (a stride that does not
    // divide the image) stay zero.
    let padded_w = ((ow - 1) * s + k).max(g.width + p);
    let padded_h = ((oh - 1) * s + k).max(g.height + p);
    let isa = simd::isa();
    // One image per task: images are disjoint, so the scatter-add needs no synchronisation and
    // sums in a fixed order.
    dx.par_chunks_mut(g.height * g.width * c).enumerate().for_each_init(
        || vec![0.0f32; padded_h * padded_w * c],
        |padded, (n, image)| {
            simd::dispatch(isa, || {
                padded.fill(0.0);
                for oy in 0..oh {
                    for ky in 0..k {
                        let line = &mut padded[(oy * s + ky) * padded_w * c..][..padded_w * c];
                        for ox in 0..ow {
                            let src = &cols[((n * oh + oy) * ow + ox) * row_len + ky * run..][..run];
                            line[ox * s * c..][..run].iter_mut().zip(src).for_each(|(d, &v)| *d += v);
                        }
                    }
                }
                for (iy, dst) in image.chunks_mut(g.width * c).enumerate() {
                    dst.copy_from_slice(&padded[((iy + p) * padded_w + p) * c..][..g.width * c]);
                }
            })
        },
    );
}

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
                out.iter_mut().zip(src).for_each(|(o, &v)| *o = o.max(v));
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
        simd::dispatch(isa, || {
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
    use crate::testing::{Rng, Tolerance, assert_close, f64s, numeric_gradient};
    use crate::{matmul, reference};

    /// Odd shapes: single pixels, windows larger than the stride, padding wider than the image.
    fn geometries() -> Vec<Conv2dGeometry> {
        let g = |batch, height, width, channels, kernel, stride, padding| Conv2dGeometry {
            batch,
            height,
            width,
            channels,
            kernel,
            stride,
            padding,
        };
        vec![
            g(1, 1, 1, 1, 1, 1, 0),
            g(2, 7, 5, 3, 3, 1, 1),
            g(3, 9, 9, 2, 5, 2, 2),
            g(1, 6, 7, 4, 2, 2, 0),
            g(2, 4, 4, 1, 5, 1, 2),
            g(1, 3, 3, 2, 3, 3, 1),
            g(2, 8, 9, 1, 3, 2, 1),
        ]
    }

    #[test]
    fn im2col_then_matmul_is_the_reference_convolution() {
        let mut rng = Rng::new(30);
        for g in geometries() {
            for out_channels in [1usize, 7] {
                let x = rng.vec(g.input_len(), -1.0, 1.0);
                let w = rng.vec(g.col_width() * out_channels, -1.0, 1.0);
                let mut cols = vec![f32::NAN; g.col_rows() * g.col_width()];
                im2col(&g, &x, &mut cols);
                let mut y = vec![0.0; g.col_rows() * out_channels];
                matmul::matmul(g.col_rows(), g.col_width(), out_channels, &cols, false, &w, false, &mut y, 0.0);
                let want = reference::conv2d(&g, &f64s(&x), &f64s(&w), out_channels);
                assert_close(&format!("conv {g:?} -> {out_channels}"), &y, &want, Tolerance::dot(g.col_width()));
            }
        }
    }

    /// `<im2col(x), c> = <x, col2im(c)>` for random `x` and `c`: col2im is im2col's transpose.
    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let mut rng = Rng::new(31);
        for g in geometries() {
            let x = rng.vec(g.input_len(), -1.0, 1.0);
            let c = rng.vec(g.col_rows() * g.col_width(), -1.0, 1.0);
            let mut cols = vec![0.0; c.len()];
            im2col(&g, &x, &mut cols);
            let mut back = vec![f32::NAN; x.len()];
            col2im(&g, &c, &mut back);
            let lhs: f64 = cols.iter().zip(&c).map(|(&a, &b)| a as f64 * b as f64).sum();
            let rhs: f64 = x.iter().zip(&back).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!((lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()), "{g:?}: <im2col x, c> = {lhs}, <x, col2im c> = {rhs}");
        }
    }

    fn pools() -> Vec<Conv2dGeometry> {
        let g =
            |batch, height, width, channels, kernel| Conv2dGeometry { batch, height, width, channels, kernel, stride: kernel, padding: 0 };
        vec![g(1, 1, 1, 1, 1), g(2, 4, 4, 3, 2), g(1, 7, 5, 2, 2), g(3, 9, 9, 1, 3), g(1, 28, 28, 7, 2)]
    }

    #[test]
    fn max_pool_matches_reference_and_its_gradient_finite_differences() {
        let mut rng = Rng::new(32);
        for g in pools() {
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
        let g = Conv2dGeometry { batch: 1, height: 2, width: 2, channels: 1, kernel: 2, stride: 2, padding: 0 };
        let x = [1.0, 3.0, 3.0, 0.0];
        let mut dx = [9.0; 4];
        max_pool2d_backward(&g, &x, &[3.0], &[2.0], &mut dx);
        assert_eq!(dx, [0.0, 2.0, 0.0, 0.0]);
    }
}
