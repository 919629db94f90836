//! Bias+ReLU, ReLU backward and the few elementwise ops the tape needs.
//!
//! Memory-bound loops: written plainly and compiled twice by [`simd::dispatch!`], once for the
//! baseline target and once with AVX2/FMA, chosen at run time.

use crate::{for_each_row_block, simd};
use rayon::prelude::*;

/// `out = x + bias` broadcast over the rows of `x (rows x cols)`, then `max(., 0)` if `relu`.
pub fn add_bias(rows: usize, cols: usize, x: &[f32], bias: &[f32], relu: bool, out: &mut [f32]) {
    assert!(
        x.len() == rows * cols && out.len() == rows * cols && bias.len() == cols,
        "add_bias: {rows}x{cols} with x {}, bias {}, out {}",
        x.len(),
        bias.len(),
        out.len()
    );
    let isa = simd::isa();
    // Blocks of rows, not a task per row: a convolution's rows are 8 or 16 values.
    for_each_row_block(out, cols, |first, block| {
        let x = &x[first * cols..][..block.len()];
        simd::dispatch!(isa, {
            for (o, x) in block.chunks_exact_mut(cols).zip(x.chunks_exact(cols)) {
                if relu {
                    o.iter_mut().zip(x).zip(bias).for_each(|((o, &x), &b)| *o = relu_of(x + b));
                } else {
                    o.iter_mut().zip(x).zip(bias).for_each(|((o, &x), &b)| *o = x + b);
                }
            }
        })
    });
}

/// `out = max(x, 0)`.
pub fn relu(x: &[f32], out: &mut [f32]) {
    zip_map(x, x, out, |v, _| relu_of(v));
}

/// `max(v, 0)`, but NaN stays NaN (`f32::max` would make it 0): a diverged layer must show in
/// the loss, where the training guard sees it, not vanish into the next layer.
#[inline(always)]
pub(crate) fn relu_of(v: f32) -> f32 {
    if v < 0.0 { 0.0 } else { v }
}

/// `dx = dy` where the ReLU's output `y > 0`, else 0.
pub fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    zip_map(y, dy, dx, |y, d| if y > 0.0 { d } else { 0.0 });
}

/// `out = a + b`.
pub fn add(a: &[f32], b: &[f32], out: &mut [f32]) {
    zip_map(a, b, out, |a, b| a + b);
}

/// `out = a * b`, elementwise.
pub fn mul(a: &[f32], b: &[f32], out: &mut [f32]) {
    zip_map(a, b, out, |a, b| a * b);
}

/// `out = s * x`.
pub fn scale(x: &[f32], s: f32, out: &mut [f32]) {
    zip_map(x, x, out, |v, _| s * v);
}

/// `y += s * x`: how gradients accumulate.
pub fn axpy(s: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy: x has {} values, y {}", x.len(), y.len());
    let isa = simd::isa();
    let chunk = crate::par_chunk_len(x.len(), 8);
    y.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(y, x)| simd::dispatch!(isa, y.iter_mut().zip(x).for_each(|(y, &x)| *y += s * x)));
}

fn zip_map(a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    assert!(a.len() == out.len() && b.len() == out.len(), "elementwise: lengths {}, {} and out {}", a.len(), b.len(), out.len());
    let isa = simd::isa();
    let chunk = crate::par_chunk_len(out.len(), 8);
    out.par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk))
        .zip(b.par_chunks(chunk))
        .for_each(|((o, a), b)| simd::dispatch!(isa, o.iter_mut().zip(a).zip(b).for_each(|((o, &a), &b)| *o = f(a, b))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::simd::with_isa;
    use crate::testing::{Rng, Tolerance, assert_close, f64s};

    #[test]
    fn add_bias_and_relu_match_reference_both_isas() {
        let mut rng = Rng::new(9);
        for isa in crate::simd::available() {
            with_isa(isa, || {
                for &(r, c) in &[(1usize, 1usize), (7, 33), (65, 257), (128, 1200), (300, 7)] {
                    let x = rng.vec(r * c, -1.0, 1.0);
                    let bias = rng.vec(c, -0.5, 0.5);
                    for relu in [false, true] {
                        let mut y = vec![f32::NAN; r * c];
                        add_bias(r, c, &x, &bias, relu, &mut y);
                        assert_close(
                            &format!("add_bias {isa:?} {r}x{c} relu={relu}"),
                            &y,
                            &reference::add_bias(r, c, &f64s(&x), &f64s(&bias), relu),
                            Tolerance::FORWARD,
                        );
                    }
                    let dy = rng.vec(r * c, -1.0, 1.0);
                    let mut y = vec![0.0; r * c];
                    relu(&x, &mut y);
                    assert_close("relu", &y, &reference::relu(&f64s(&x)), Tolerance::FORWARD);
                    let mut dx = vec![0.0; r * c];
                    relu_backward(&y, &dy, &mut dx);
                    let want: Vec<f64> = x.iter().zip(&dy).map(|(&x, &d)| if x > 0.0 { d as f64 } else { 0.0 }).collect();
                    assert_close("relu_backward", &dx, &want, Tolerance::FORWARD);
                }
            })
        }
    }

    #[test]
    fn small_ops() {
        let mut rng = Rng::new(10);
        let n = 100_001;
        let (a, b) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
        let mut o = vec![0.0; n];
        add(&a, &b, &mut o);
        assert_close("add", &o, &a.iter().zip(&b).map(|(x, y)| *x as f64 + *y as f64).collect::<Vec<_>>(), Tolerance::FORWARD);
        mul(&a, &b, &mut o);
        assert_close("mul", &o, &a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).collect::<Vec<_>>(), Tolerance::FORWARD);
        scale(&a, -3.0, &mut o);
        assert_close("scale", &o, &a.iter().map(|x| -3.0 * *x as f64).collect::<Vec<_>>(), Tolerance::FORWARD);
        let mut y = b.clone();
        axpy(2.0, &a, &mut y);
        assert_close("axpy", &y, &a.iter().zip(&b).map(|(x, y)| 2.0 * *x as f64 + *y as f64).collect::<Vec<_>>(), Tolerance::FORWARD);
    }
}
