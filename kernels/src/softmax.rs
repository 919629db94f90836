//! Softmax and log-softmax with temperature, row-wise, and their backward passes.
//!
//! Every row is shifted by its maximum before `exp`, so logits of +-1e4 at `t = 0.5` give
//! exact zeros and ones, never NaN or Inf.

use crate::kd_rows_as_lanes::{MAX_COLS, OWN_WIDTH};
use crate::lane_sum::LaneSum;
use crate::lanes::{Lanes, with_lanes};
use crate::{for_each_row_block, simd};

/// `out[i, j] = exp(x[i, j] / t) / sum_k exp(x[i, k] / t)`; `x`, `out`: `rows x cols`; `t > 0`.
///
/// Each row is read from memory once: the max, the exponentials (written to `out`) and the
/// scaling are three sweeps, the last two over a row that is still in L1. Narrow rows
/// ([`crate::kd_loss::rows_as_lanes`]) go a row per lane instead ([`softmax_rows_as_lanes`]):
/// a row kernel would spend its time on a vector and a masked tail per sweep (128x10: 3-5 us
/// that way on Zen 3).
pub fn softmax(rows: usize, cols: usize, x: &[f32], t: f32, out: &mut [f32]) {
    check(rows, cols, x, out, t, "softmax");
    let isa = simd::isa();
    for_each_row_block(out, cols, |first, block| {
        let x = &x[first * cols..first * cols + block.len()];
        with_lanes!(isa, l => match crate::kd_loss::rows_as_lanes(cols) {
            // Ten classes compiled on their own, as the KD pass's.
            true if cols == OWN_WIDTH => softmax_rows_as_lanes::<_, OWN_WIDTH, true>(l.narrow(), cols, x, exp2_factor(t), block),
            true => softmax_rows_as_lanes::<_, MAX_COLS, false>(l.narrow(), cols, x, exp2_factor(t), block),
            false => for (i, o) in block.chunks_exact_mut(cols).enumerate() {
                softmax_row(l, &x[i * cols..(i + 1) * cols], exp2_factor(t), o);
            },
        })
    });
}

/// Softmax of the rows of `x` into `out` (`cols` wide, at most `CAP`; with `EXACT`, `CAP`), `N`
/// rows at a time transposed so each lane holds a row (as [`crate::kd_loss`]'s narrow rows):
/// max, exponentials with their sums, and the scaling, each one vector per class.
#[inline(always)]
fn softmax_rows_as_lanes<L: Lanes, const CAP: usize, const EXACT: bool>(l: L, cols: usize, x: &[f32], k: f32, out: &mut [f32]) {
    let cols = if EXACT { CAP } else { cols };
    let (n, total) = (L::N, out.len() / cols);
    // The transposed logits, then their exponentials: vectors, so the sweeps index no floats.
    let mut scratch = [[l.splat(0.0); CAP]; 2];
    let [x_t, e] = scratch.each_mut();
    let (x_t, e) = (&mut x_t[..cols], &mut e[..cols]);
    for first in (0..total).step_by(n) {
        let rows = n.min(total - first);
        l.transpose_in(&x[first * cols..], cols, rows, l.floats_mut(x_t));
        let max = column_max(l, x_t);
        let inv = l.div(l.splat(1.0), column_exps(l, x_t, max, k, e).value(l));
        for p in e.iter_mut() {
            *p = l.mul(*p, inv);
        }
        l.transpose_out(l.floats(e), cols, rows, &mut out[first * cols..]);
    }
}

/// The lane-wise max of a transposed block (a row per lane, one vector per class).
#[inline(always)]
pub(crate) fn column_max<L: Lanes>(l: L, z: &[L::V]) -> L::V {
    z.iter().fold(l.splat(f32::NEG_INFINITY), |max, &v| l.max(max, v))
}

/// `out = 2^((z - max) k)` over a transposed block, vector by vector; returns each lane's sum
/// (its row's).
#[inline(always)]
pub(crate) fn column_exps<L: Lanes>(l: L, z: &[L::V], max: L::V, k: f32, out: &mut [L::V]) -> LaneSum<L> {
    let mut sum = LaneSum::zero(l);
    for (&v, o) in z.iter().zip(out) {
        *o = shifted_exp2(l, v, max, l.splat(k));
        sum = sum.add(l, *o);
    }
    sum
}

/// `out[i, j] = x[i, j] / t - log sum_k exp(x[i, k] / t)`; shapes as [`softmax`].
pub fn log_softmax(rows: usize, cols: usize, x: &[f32], t: f32, out: &mut [f32]) {
    check(rows, cols, x, out, t, "log_softmax");
    let isa = simd::isa();
    for_each_row_block(out, cols, |first, block| {
        with_lanes!(isa, l => for (i, o) in block.chunks_exact_mut(cols).enumerate() {
            let x = &x[(first + i) * cols..(first + i + 1) * cols];
            let max = row_max(l, x);
            // The exponentials go to `out` for their sum, then the log-probabilities over them.
            let lse = exp_shifted(l, x, max, exp2_factor(t), o).ln();
            map_row(l, x, o, #[inline(always)] |v| l.sub(l.mul(l.sub(v, l.splat(max)), l.splat(1.0 / t)), l.splat(lse)));
        })
    });
}

/// Gradient of softmax: `dx = y * (dy - sum_j dy_j y_j) / t`, with `y` the forward output.
pub fn softmax_backward(rows: usize, cols: usize, y: &[f32], dy: &[f32], t: f32, dx: &mut [f32]) {
    check(rows, cols, y, dx, t, "softmax_backward");
    for_each_row_block(dx, cols, |first, block| {
        for (i, d) in block.chunks_exact_mut(cols).enumerate() {
            let r = (first + i) * cols..(first + i + 1) * cols;
            let (y, dy) = (&y[r.clone()], &dy[r]);
            let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
            for j in 0..cols {
                d[j] = y[j] * (dy[j] - dot) / t;
            }
        }
    });
}

/// Gradient of log-softmax: `dx = (dy - exp(y) * sum_j dy_j) / t`, with `y` the forward output.
pub fn log_softmax_backward(rows: usize, cols: usize, y: &[f32], dy: &[f32], t: f32, dx: &mut [f32]) {
    check(rows, cols, y, dx, t, "log_softmax_backward");
    let isa = simd::isa();
    for_each_row_block(dx, cols, |first, block| {
        with_lanes!(isa, l => for (i, d) in block.chunks_exact_mut(cols).enumerate() {
            let r = (first + i) * cols..(first + i + 1) * cols;
            let (y, dy) = (&y[r.clone()], &dy[r]);
            let total: f32 = dy.iter().sum();
            map_row(l, y, d, #[inline(always)] |v| l.mul(l.exp(v), l.splat(-total)));
            d.iter_mut().zip(dy).for_each(|(d, &g)| *d = (g + *d) / t);
        })
    });
}

/// One row of softmax(x / t) into `out`, through the lanes `l`; `k = exp2_factor(t)`.
#[inline(always)]
pub(crate) fn softmax_row<L: Lanes>(l: L, x: &[f32], k: f32, out: &mut [f32]) {
    let max = row_max(l, x);
    // sum >= 2^-1/2: the max element's exponential, 2^0 up to softmax_exps' rounding of its shift.
    let inv = 1.0 / softmax_exps(l, x, max, k, out);
    scale_row(l, out, inv);
}

/// [`exp_shifted`] for softmax, its sweep a third shorter: softmax's outputs need f32 accuracy
/// (its tests ask 2e-6 of f64), not the f64-accurate sums the KD gradient's differences of two
/// distributions need. So the sum is two plain f32 accumulators (each lane adds a term per 32
/// values), the polynomial is one degree shorter, and the shift is one FMA, `x k - max k`
/// rounded once. That rounding multiplies every exponential and their sum by the same factor,
/// which the division cancels; it stays within `2^(+-1/2)` while `|max k| < 2^24`. Past that,
/// and where the FMA rounds twice (the scalar path), the row goes to [`exp_shifted`].
#[inline(always)]
pub(crate) fn softmax_exps<L: Lanes>(l: L, x: &[f32], max: f32, k: f32, out: &mut [f32]) -> f32 {
    let shift = max * k;
    let within = shift.abs() < SHIFT_LIMIT; // false for NaN and infinities
    if !L::FUSED || !within {
        return exp_shifted(l, x, max, k, out);
    }
    let (kv, minus_shift, n) = (l.splat(k), l.splat(-shift), L::N);
    let mut sums = [l.splat(0.0); 2];
    let pairs = x.len() / (2 * n) * (2 * n);
    for (xc, oc) in x[..pairs].chunks_exact(2 * n).zip(out[..pairs].chunks_exact_mut(2 * n)) {
        let (e0, e1) = (short_exp2(l, l.load(xc), kv, minus_shift), short_exp2(l, l.load(&xc[n..]), kv, minus_shift));
        l.store(oc, e0);
        l.store(&mut oc[n..], e1);
        sums = [l.add(sums[0], e0), l.add(sums[1], e1)];
    }
    // The rest, under two vectors; spare lanes filled with -inf: exp(-inf) = 0.
    for j in (pairs..x.len()).step_by(n) {
        let v = short_exp2(l, l.load_at(x, j, f32::NEG_INFINITY), kv, minus_shift);
        l.store_at(out, j, v);
        sums[0] = l.add(sums[0], v);
    }
    l.sum(l.add(sums[0], sums[1]))
}

/// `2^(v k - max k)` of a vector, [`softmax_exps`]'s.
#[inline(always)]
fn short_exp2<L: Lanes>(l: L, v: L::V, k: L::V, minus_shift: L::V) -> L::V {
    l.exp2_nonpositive_short(l.mul_add(v, k, minus_shift))
}

/// The largest `|max k|` [`softmax_exps`] shifts by in one FMA: its rounding, at most half an ulp,
/// stays under 1/2.
const SHIFT_LIMIT: f32 = (1 << 24) as f32;

/// The largest value of `x` (-inf if empty). Where `x` holds a NaN the result may be NaN or
/// not: the row's softmax is NaN either way, through that value's exponential.
///
/// Four running maxima, so the sweep does not wait on each `max`'s latency.
#[inline(always)]
pub(crate) fn row_max<L: Lanes>(l: L, x: &[f32]) -> f32 {
    let mut acc = [l.splat(f32::NEG_INFINITY); 4];
    let mut quads = x.chunks_exact(4 * L::N);
    for q in &mut quads {
        for (i, a) in acc.iter_mut().enumerate() {
            *a = l.max(*a, l.load(&q[i * L::N..]));
        }
    }
    let rest = quads.remainder();
    for (i, j) in (0..rest.len()).step_by(L::N).enumerate() {
        acc[i] = l.max(acc[i], l.load_at(rest, j, f32::NEG_INFINITY));
    }
    l.max_lane(l.max(l.max(acc[0], acc[1]), l.max(acc[2], acc[3])))
}

/// `log2(e) / t`, the factor [`exp_shifted`] takes, rounded once (from f64).
#[inline(always)]
pub(crate) fn exp2_factor(t: f32) -> f32 {
    (std::f64::consts::LOG2_E / t as f64) as f32
}

/// `out_j = exp((x_j - max) / t) = 2^((x_j - max) k)`, `k = exp2_factor(t)`, `max` the row's
/// largest value; returns their sum. The difference is taken before the scaling: `x k - max k`
/// would round logits of 1e4 to 1e-3.
///
/// The sum is a [`LaneSum`], to f64 accuracy, pairs of vectors added in f32 first (their
/// rounding at most 2^-24 of the pair): a tree of four vectors in f32 already costs 1.1e-5 of a
/// t = 100 KD gradient, against 1e-5 asked.
#[inline(always)]
pub(crate) fn exp_shifted<L: Lanes>(l: L, x: &[f32], max: f32, k: f32, out: &mut [f32]) -> f32 {
    let (m, kv, n) = (l.splat(max), l.splat(k), L::N);
    let mut total = LaneSum::zero(l);
    let pairs = x.len() / (2 * n) * (2 * n);
    for (xc, oc) in x[..pairs].chunks_exact(2 * n).zip(out[..pairs].chunks_exact_mut(2 * n)) {
        let (e0, e1) = (shifted_exp2(l, l.load(xc), m, kv), shifted_exp2(l, l.load(&xc[n..]), m, kv));
        l.store(oc, e0);
        l.store(&mut oc[n..], e1);
        total = total.add(l, l.add(e0, e1));
    }
    // The rest, under two vectors; spare lanes filled with -inf: exp(-inf) = 0.
    for j in (pairs..x.len()).step_by(n) {
        let v = shifted_exp2(l, l.load_at(x, j, f32::NEG_INFINITY), m, kv);
        l.store_at(out, j, v);
        total = total.add(l, v);
    }
    total.total(l) as f32
}

/// `2^((v - m) k)` of a vector, `m` and `k` splat.
#[inline(always)]
pub(crate) fn shifted_exp2<L: Lanes>(l: L, v: L::V, m: L::V, k: L::V) -> L::V {
    l.exp2_nonpositive(l.mul(l.sub(v, m), k))
}

/// `out_j = k out_j`.
#[inline(always)]
pub(crate) fn scale_row<L: Lanes>(l: L, out: &mut [f32], k: f32) {
    let kv = l.splat(k);
    let mut chunks = out.chunks_exact_mut(L::N);
    for c in &mut chunks {
        let v = l.mul(l.load(c), kv);
        l.store(c, v);
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let v = l.mul(l.load_part(tail, 0.0), kv);
        l.store_part(tail, v);
    }
}

/// `out_j = f(x_j)` a vector at a time.
#[inline(always)]
pub(crate) fn map_row<L: Lanes>(l: L, x: &[f32], out: &mut [f32], f: impl Fn(L::V) -> L::V) {
    for j in (0..x.len()).step_by(L::N) {
        l.store_at(out, j, f(l.load_at(x, j, 0.0)));
    }
}

fn check(rows: usize, cols: usize, x: &[f32], out: &[f32], t: f32, op: &str) {
    assert!(
        x.len() == rows * cols && out.len() == rows * cols,
        "{op}: {rows}x{cols} expects {} values, got input {} and output {}",
        rows * cols,
        x.len(),
        out.len()
    );
    assert!(t > 0.0 && t.is_finite(), "{op}: temperature {t} must be positive and finite");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{Rng, Tolerance, assert_close, f64s};

    const SHAPES: &[(usize, usize)] = &[(1, 1), (3, 7), (5, 33), (2, 1000), (257, 10), (64, 1000)];
    const TEMPS: &[f32] = &[0.5, 1.0, 4.0, 20.0, 100.0];

    /// The exponentials' sum within 1.5e-7 of their f64 sum on every path: the accuracy the KD
    /// gradient at t = 100 rests on, which a plain f32 running sum misses on long rows.
    #[test]
    fn exponential_sums_keep_f64_accuracy() {
        let mut rng = Rng::new(17);
        for isa in crate::simd::available() {
            for cols in [1usize, 7, 33, 1000, 4096] {
                for t in [1.0f32, 20.0, 100.0] {
                    let x = rng.vec(cols, -3.0, 3.0);
                    let mut e = vec![0.0; cols];
                    let got = crate::simd::with_isa(
                        isa,
                        || with_lanes!(crate::simd::isa(), l => exp_shifted(l, &x, row_max(l, &x), exp2_factor(t), &mut e)),
                    );
                    let want: f64 = e.iter().map(|&v| v as f64).sum();
                    let rel = (got as f64 - want).abs() / want;
                    assert!(rel <= 1.5e-7, "{isa:?} cols={cols} t={t}: sum {got} against {want} ({rel:.2e})");
                }
            }
        }
    }

    /// Softmax's own exponentials (a shorter polynomial, plain sums, the shift in one FMA) keep
    /// its outputs within 2e-6 of f64 on every path, where the row's max `k` is rounded by up to
    /// a half (`8388609 * 1.5`) and past the FMA's limit (2^24, where [`exp_shifted`] takes
    /// over).
    #[test]
    fn softmax_outputs_keep_f32_accuracy_on_every_path() {
        let mut rng = Rng::new(29);
        for isa in crate::simd::available() {
            crate::simd::with_isa(isa, || {
                let check = |x: &[f32], t: f32, what: &str| {
                    let cols = x.len();
                    let mut y = vec![0.0; cols];
                    softmax(1, cols, x, t, &mut y);
                    let want = reference::softmax(1, cols, &f64s(x), t as f64);
                    assert_close(&format!("softmax {isa:?} {what} cols={cols} t={t}"), &y, &want, Tolerance { abs: 1e-8, rel: 2e-6 });
                };
                for cols in [33usize, 1000, 4096] {
                    for t in [0.5f32, 1.0, 20.0, 100.0] {
                        for scale in [1.0f32, 30.0, 1e4] {
                            check(&rng.vec(cols, -scale, scale), t, &format!("scale {scale}"));
                        }
                    }
                }
                // max k rounds by a half: k = 1.5 at t = log2(e) / 1.5.
                let t = (std::f64::consts::LOG2_E / 1.5) as f32;
                assert_eq!(exp2_factor(t), 1.5);
                let row: Vec<f32> = (0..40).map(|j| 8_388_609.0 - j as f32).collect();
                check(&row, t, "max k = 12582913.5");
                let row: Vec<f32> = (0..40).map(|j| 2e7 - j as f32).collect();
                check(&row, t, "max k past 2^24");
                check(&row.iter().map(|v| -v).collect::<Vec<_>>(), t, "max k below -2^24");
            });
        }
    }

    /// The row max with its largest value at every place, past each of the four running maxima
    /// and into the tail, on every path.
    #[test]
    fn row_max_finds_the_largest_value_wherever_it_lies() {
        for isa in crate::simd::available() {
            for len in 1usize..=70 {
                for at in 0..len {
                    let mut x: Vec<f32> = (0..len).map(|j| -((j * 7 % 13) as f32)).collect();
                    x[at] = 5.0;
                    let max = crate::simd::with_isa(isa, || with_lanes!(crate::simd::isa(), l => row_max(l, &x)));
                    assert_eq!(max, 5.0, "{isa:?}: length {len}, max at {at}");
                }
            }
        }
    }

    #[test]
    fn softmax_and_log_softmax_match_reference() {
        for isa in crate::simd::available() {
            crate::simd::with_isa(isa, softmax_and_log_softmax_match_reference_on_this_path);
        }
    }

    fn softmax_and_log_softmax_match_reference_on_this_path() {
        let isa = crate::simd::isa();
        let mut rng = Rng::new(3);
        for &(r, c) in SHAPES {
            for &t in TEMPS {
                for scale in [1.0f32, 30.0, 1e4] {
                    let x = rng.vec(r * c, -scale, scale);
                    let (mut y, mut ly) = (vec![0.0; r * c], vec![0.0; r * c]);
                    softmax(r, c, &x, t, &mut y);
                    log_softmax(r, c, &x, t, &mut ly);
                    let op = format!("softmax {isa:?} {r}x{c} t={t} scale={scale}");
                    assert_close(&op, &y, &reference::softmax(r, c, &f64s(&x), t as f64), Tolerance::FORWARD);
                    // log-softmax values reach -2e4 / t: a relative tolerance there.
                    assert_close(
                        &format!("log_{op}"),
                        &ly,
                        &reference::log_softmax(r, c, &f64s(&x), t as f64),
                        Tolerance { abs: 1e-4, rel: 1e-5 },
                    );
                    for row in y.chunks(c) {
                        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{op}: row sums to {}", row.iter().sum::<f32>());
                    }
                }
            }
        }
    }

    #[test]
    fn hand_computable_power_law() {
        // softmax(log x / t) = x^(1/t) / sum x^(1/t)
        let x = [1.0f32, 2.0, 4.0, 8.0];
        let logx: Vec<f32> = x.iter().map(|v| v.ln()).collect();
        for t in [0.5f32, 1.0, 2.0] {
            let mut y = [0.0; 4];
            softmax(1, 4, &logx, t, &mut y);
            let p: Vec<f64> = x.iter().map(|&v| (v as f64).powf(1.0 / t as f64)).collect();
            let s: f64 = p.iter().sum();
            assert_close("softmax power law", &y, &p.iter().map(|v| v / s).collect::<Vec<_>>(), Tolerance::FORWARD);
        }
    }

    #[test]
    fn all_equal_rows_are_uniform() {
        let mut y = vec![0.0; 33];
        softmax(1, 33, &[1e4; 33], 0.5, &mut y);
        assert!(y.iter().all(|&v| (v - 1.0 / 33.0).abs() < 1e-6));
    }

    #[test]
    fn backward_matches_finite_differences_of_reference() {
        for isa in crate::simd::available() {
            crate::simd::with_isa(isa, backward_matches_finite_differences_on_this_path);
        }
    }

    fn backward_matches_finite_differences_on_this_path() {
        let mut rng = Rng::new(4);
        for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 33)] {
            for &t in &[0.5f32, 3.0, 20.0] {
                let x = rng.vec(r * c, -3.0, 3.0);
                let dy = rng.vec(r * c, -1.0, 1.0);
                for log in [false, true] {
                    let f = |x: &[f64]| -> f64 {
                        let y = if log { reference::log_softmax(r, c, x, t as f64) } else { reference::softmax(r, c, x, t as f64) };
                        y.iter().zip(&dy).map(|(y, &d)| y * d as f64).sum()
                    };
                    let mut y = vec![0.0; r * c];
                    let mut dx = vec![0.0; r * c];
                    if log {
                        log_softmax(r, c, &x, t, &mut y);
                        log_softmax_backward(r, c, &y, &dy, t, &mut dx);
                    } else {
                        softmax(r, c, &x, t, &mut y);
                        softmax_backward(r, c, &y, &dy, t, &mut dx);
                    }
                    let num = crate::testing::numeric_gradient(&f64s(&x), f);
                    assert_close(
                        &format!("softmax backward {:?} log={log} {r}x{c} t={t}", crate::simd::isa()),
                        &dx,
                        &num,
                        Tolerance::GRADIENT,
                    );
                }
            }
        }
    }
}
