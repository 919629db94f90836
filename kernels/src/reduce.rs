//! Reductions: the sum of a buffer, column sums (the bias gradient), and each row's arg-max
//! (predicted classes). Twin of `shaders/reduce.wgsl`.

use crate::lanes::{Lanes, with_lanes};
use crate::simd;
use rayon::prelude::*;

/// Sum of all values, accumulated in f64 per chunk so a million small terms do not drift. The
/// chunks are of a fixed size and their sums added in order: the same bits on any number of
/// threads.
pub fn sum(x: &[f32]) -> f32 {
    if x.len() <= crate::PAR_MIN_ELEMS {
        return chunk_sum(x) as f32;
    }
    let partials: Vec<f64> = x.par_chunks(crate::PAR_MIN_ELEMS).map(chunk_sum).collect();
    partials.iter().sum::<f64>() as f32
}

/// The sum of `x` in f64 as four running sums, their order fixed: one running sum waits on
/// each add (a 128-row batch's losses: 0.1 us, 3% of the 128x10 KD pass).
fn chunk_sum(x: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut quads = x.chunks_exact(4);
    for q in &mut quads {
        for (a, &v) in acc.iter_mut().zip(q) {
            *a += v as f64;
        }
    }
    for (a, &v) in acc.iter_mut().zip(quads.remainder()) {
        *a += v as f64;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// `out[j] = beta * out[j] + sum_i x[i, j]` over `x (rows x cols)`: the bias gradient.
pub fn col_sums(rows: usize, cols: usize, x: &[f32], beta: f32, out: &mut [f32]) {
    assert!(x.len() == rows * cols && out.len() == cols, "col_sums: {rows}x{cols} with x {}, out {}", x.len(), out.len());
    let isa = simd::isa();
    // Column blocks in parallel; each walks all rows, so the sum order is fixed (deterministic).
    let block = 64usize;
    out.par_chunks_mut(block)
        .enumerate()
        .for_each(|(b, o)| with_lanes!(isa, l => column_block_sums(l, rows, cols, &x[b * block..], beta, o)));
}

/// The sums of the `o.len()` columns at the start of each `cols`-wide row of `x`, into `o`, a
/// vector of columns at a time held in a register down all the rows (a convolution's bias
/// gradient: 8 or 16 columns over 100,000 rows, where a loop over the row's few columns cost
/// more than its adds). Each column is summed top to bottom, whatever the path.
#[inline(always)]
fn column_block_sums<L: Lanes>(l: L, rows: usize, cols: usize, x: &[f32], beta: f32, o: &mut [f32]) {
    let width = o.len();
    for c0 in (0..width).step_by(L::N) {
        let whole = c0 + L::N <= width;
        // beta = 0 never reads `out`: it may hold anything (a recycled buffer, NaN).
        let mut acc = if beta == 0.0 { l.splat(0.0) } else { l.mul(l.load_known(o, c0, whole, 0.0), l.splat(beta)) };
        for i in 0..rows {
            acc = l.add(acc, l.load_known(&x[i * cols..][..width], c0, whole, 0.0));
        }
        l.store_known(o, c0, whole, acc);
    }
}

/// The index of the largest value of `row`, the first on ties.
pub fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, j| if row[j] > row[best] { j } else { best })
}

/// Index of the largest value of each row of `x (rows x cols)` into `out (rows)`; first on ties.
pub fn argmax_rows(rows: usize, cols: usize, x: &[f32], out: &mut [u32]) {
    assert!(x.len() == rows * cols && out.len() == rows, "argmax_rows: {rows}x{cols} with x {}, out {}", x.len(), out.len());
    for (i, o) in out.iter_mut().enumerate() {
        let row = &x[i * cols..(i + 1) * cols];
        *o = argmax(row) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::simd::with_isa;
    use crate::testing::{Rng, Tolerance, assert_close, f64s};

    #[test]
    fn col_sums_match_reference_both_isas() {
        let mut rng = Rng::new(9);
        for isa in crate::simd::available() {
            with_isa(isa, || {
                for &(r, c) in &[(1usize, 1usize), (7, 33), (65, 257), (128, 1200), (300, 7), (1000, 8), (999, 16), (50, 17)] {
                    let x = rng.vec(r * c, -1.0, 1.0);
                    let mut s = rng.vec(c, -1.0, 1.0);
                    let want: Vec<f64> = reference::col_sums(r, c, &f64s(&x)).iter().zip(&s).map(|(a, &b)| a + 0.5 * b as f64).collect();
                    col_sums(r, c, &x, 0.5, &mut s);
                    assert_close(&format!("col_sums {isa:?} {r}x{c}"), &s, &want, Tolerance::dot(r));
                }
            })
        }
    }

    #[test]
    fn sum_and_argmax_rows() {
        let mut rng = Rng::new(10);
        // On one thread (with each count of values past the four running sums) and on several.
        for len in [1usize, 2, 3, 4, 5, 7, 128, 100_001] {
            let a = rng.vec(len, -1.0, 1.0);
            let want: f64 = a.iter().map(|&v| v as f64).sum();
            assert_close(&format!("sum of {len}"), &[sum(&a)], &[want], Tolerance::FORWARD);
        }
        let mut idx = vec![0u32; 7];
        let x = rng.vec(7 * 33, -1.0, 1.0);
        argmax_rows(7, 33, &x, &mut idx);
        assert_eq!(idx, reference::argmax_rows(7, 33, &f64s(&x)));
        // Ties go to the first maximum.
        let mut tied = vec![9u32; 2];
        argmax_rows(2, 3, &[1.0, 3.0, 3.0, 0.0, 5.0, 5.0], &mut tied);
        assert_eq!(tied, [1, 1]);
    }
}
