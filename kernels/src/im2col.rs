//! im2col and its adjoint col2im on NHWC images: a convolution becomes one GEMM of the column
//! matrix by the weights `[k * k * in_channels, out_channels]`, like a linear layer's `[in, out]`,
//! and its output rows `[n, oy, ox]` by `out_channels` come straight out with no transposes.
//! Twin of `shaders/im2col.wgsl`.

use crate::short_copy::{copy_run, zero_run};
use crate::simd;
pub use crate::window::Conv2dGeometry;
use rayon::prelude::*;

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
    let isa = simd::isa();
    cols.par_chunks_mut(row_len * ow).enumerate().for_each_init(
        // WIDE values of slack: a wide copy may read past the last window.
        || vec![0.0f32; padded_len + WIDE],
        |padded, (n_oy, rows)| {
            simd::dispatch!(isa, {
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
            })
        },
    );
}

/// Values [`im2col`] copies at once for a run shorter than this.
const WIDE: usize = 8;

/// The adjoint of [`im2col`]: `dx` becomes the sum, over every column entry, of its value at the
/// image position it was read from (the input gradient of a convolution). Overwrites `dx`.
pub fn col2im(g: &Conv2dGeometry, cols: &[f32], dx: &mut [f32]) {
    check(g, dx.len(), cols.len(), "col2im");
    let (oh, ow, c, k, s, p) = (g.out_height(), g.out_width(), g.channels, g.kernel, g.stride, g.padding);
    let (row_len, run) = (g.col_width(), k * c);
    // Sums go to a padded image, so every window row is one full run (no clipping); its
    // interior is the result. Rows and columns past the last window (a stride that does not
    // divide the image) stay zero.
    let (padded_w, padded_h) = (g.padded_width(), g.padded_height());
    let isa = simd::isa();
    // One image per task: images are disjoint, so the scatter-add needs no synchronisation and
    // sums in a fixed order.
    dx.par_chunks_mut(g.height * g.width * c).enumerate().for_each_init(
        || vec![0.0f32; padded_h * padded_w * c],
        |padded, (n, image)| {
            simd::dispatch!(isa, {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Rng, Tolerance, assert_close, conv_geometries, f64s};
    use crate::{matmul, reference};

    #[test]
    fn im2col_then_matmul_is_the_reference_convolution() {
        let mut rng = Rng::new(30);
        for g in conv_geometries() {
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
        for g in conv_geometries() {
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
}
