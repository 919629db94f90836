//! Bias+ReLU, ReLU backward, row sums, argmax and the few elementwise ops the tape needs.
//!
//! Memory-bound loops: written plainly and compiled twice by [`simd::dispatch`], once for the
//! baseline target and once with AVX2/FMA, chosen at run time.

use crate::{for_each_row, simd};
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
    for_each_row(out, cols, |i, o| {
        let x = &x[i * cols..(i + 1) * cols];
        simd::dispatch(isa, || {
            if relu {
                o.iter_mut().zip(x).zip(bias).for_each(|((o, &x), &b)| *o = (x + b).max(0.0));
            } else {
                o.iter_mut().zip(x).zip(bias).for_each(|((o, &x), &b)| *o = x + b);
            }
        })
    });
}

/// `out = max(x, 0)`.
pub fn relu(x: &[f32], out: &mut [f32]) {
    zip_map(x, x, out, |v, _| v.max(0.0));
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
        .for_each(|(y, x)| simd::dispatch(isa, || y.iter_mut().zip(x).for_each(|(y, &x)| *y += s * x)));
}

/// Sum of all values, accumulated in f64 per chunk so a million small terms do not drift.
pub fn sum(x: &[f32]) -> f32 {
    let chunk = crate::par_chunk_len(x.len(), 8);
    x.par_chunks(chunk.max(1)).map(|c| c.iter().map(|&v| v as f64).sum::<f64>()).sum::<f64>() as f32
}

/// `out[j] = beta * out[j] + sum_i x[i, j]` over `x (rows x cols)`: the bias gradient.
pub fn col_sums(rows: usize, cols: usize, x: &[f32], beta: f32, out: &mut [f32]) {
    assert!(x.len() == rows * cols && out.len() == cols, "col_sums: {rows}x{cols} with x {}, out {}", x.len(), out.len());
    let isa = simd::isa();
    // Column blocks in parallel; each walks all rows, so the sum order is fixed (deterministic).
    let block = 64usize;
    out.par_chunks_mut(block).enumerate().for_each(|(b, o)| {
        let j0 = b * block;
        simd::dispatch(isa, || {
            // beta = 0 never reads `out`: it may hold anything (a recycled buffer, NaN).
            if beta == 0.0 {
                o.fill(0.0);
            } else {
                o.iter_mut().for_each(|v| *v *= beta);
            }
            for i in 0..rows {
                let row = &x[i * cols + j0..i * cols + j0 + o.len()];
                o.iter_mut().zip(row).for_each(|(o, &v)| *o += v);
            }
        })
    });
}

/// Index of the largest value of each row of `x (rows x cols)` into `out (rows)`; first on ties.
pub fn argmax_rows(rows: usize, cols: usize, x: &[f32], out: &mut [u32]) {
    assert!(x.len() == rows * cols && out.len() == rows, "argmax_rows: {rows}x{cols} with x {}, out {}", x.len(), out.len());
    for (i, o) in out.iter_mut().enumerate() {
        let row = &x[i * cols..(i + 1) * cols];
        *o = (0..cols).fold(0, |best, j| if row[j] > row[best] { j } else { best }) as u32;
    }
}

fn zip_map(a: &[f32], b: &[f32], out: &mut [f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    assert!(a.len() == out.len() && b.len() == out.len(), "elementwise: lengths {}, {} and out {}", a.len(), b.len(), out.len());
    let isa = simd::isa();
    let chunk = crate::par_chunk_len(out.len(), 8);
    out.par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk))
        .zip(b.par_chunks(chunk))
        .for_each(|((o, a), b)| simd::dispatch(isa, || o.iter_mut().zip(a).zip(b).for_each(|((o, &a), &b)| *o = f(a, b))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::simd::{Isa, with_isa};
    use crate::testing::{Rng, Tolerance, assert_close, f64s};

    #[test]
    fn add_bias_relu_col_sums_match_reference_both_isas() {
        let mut rng = Rng::new(9);
        for isa in [Isa::Scalar, Isa::Avx2Fma] {
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
                    let mut s = rng.vec(c, -1.0, 1.0);
                    let want: Vec<f64> = reference::col_sums(r, c, &f64s(&x)).iter().zip(&s).map(|(a, &b)| a + 0.5 * b as f64).collect();
                    col_sums(r, c, &x, 0.5, &mut s);
                    assert_close(&format!("col_sums {isa:?} {r}x{c}"), &s, &want, Tolerance::dot(r));
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
    fn small_ops_and_sum() {
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
        let want: f64 = a.iter().map(|&v| v as f64).sum();
        assert_close("sum", &[sum(&a)], &[want], Tolerance::FORWARD);
        let mut idx = vec![0u32; 7];
        let x = rng.vec(7 * 33, -1.0, 1.0);
        argmax_rows(7, 33, &x, &mut idx);
        assert_eq!(idx, reference::argmax_rows(7, 33, &f64s(&x)));
    }
}
