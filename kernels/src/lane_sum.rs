//! Sums of exponentials, lane by lane, to f64 accuracy in f32 vectors.
//!
//! Every probability is divided by such a sum, and where two nearly equal distributions are
//! subtracted (the KD gradient at t = 100, 2% apart) it must hold 1e-7, which a running f32 sum
//! of ten terms already misses. Widening each vector to f64 instead took 15% of softmax's time
//! and 20% of the 128x10 KD pass's on Zen 4.
//!
//! The sum is kept biased: `BIAS + sum` as a rounded part and the low bits its rounding lost.
//! With every term in `[0, BIAS]` the running part is never smaller than the term added to it,
//! so each addition's error is exact (Fast2Sum, 3 adds), and removing the bias is exact too
//! (`hi - BIAS` for `hi < 2^24`): the sum is the exact one, up to the low part's own roundings
//! (2^-24 of a value under an ulp of `hi`, each: 3e-13 of a sum of a thousand terms) and one
//! rounding to f32 at the end.

use crate::lanes::Lanes;

/// The largest term [`LaneSum::add`] takes exactly: a pair of exponentials.
const BIAS: f32 = 2.0;

/// `BIAS + sum` of terms in `[0, BIAS]`, lane by lane, as `hi + lo`.
pub(crate) struct LaneSum<L: Lanes> {
    hi: L::V,
    lo: L::V,
}

impl<L: Lanes> Clone for LaneSum<L> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<L: Lanes> Copy for LaneSum<L> {}

impl<L: Lanes> LaneSum<L> {
    /// The empty sum.
    #[inline(always)]
    pub(crate) fn zero(l: L) -> Self {
        Self { hi: l.splat(BIAS), lo: l.splat(0.0) }
    }

    /// The sum of one term, `v`.
    #[inline(always)]
    pub(crate) fn of(l: L, v: L::V) -> Self {
        Self::zero(l).add(l, v)
    }

    /// This sum plus `v`, each lane's term in `[0, BIAS]` (or NaN, which stays NaN).
    #[inline(always)]
    pub(crate) fn add(self, l: L, v: L::V) -> Self {
        let hi = l.add(self.hi, v);
        Self { hi, lo: l.add(self.lo, l.add(l.sub(self.hi, hi), v)) }
    }

    /// Each lane's sum, rounded once to f32.
    #[inline(always)]
    pub(crate) fn value(self, l: L) -> L::V {
        l.add(l.sub(self.hi, l.splat(BIAS)), self.lo)
    }

    /// Each lane's sum less 1, rounded once: the others' sum beside a row max's exact 1, whose
    /// digits the difference of the f32 rounding from 1 would lose. With the sum at least 1,
    /// `hi - (BIAS + 1)` is exact.
    #[inline(always)]
    pub(crate) fn value_less_one(self, l: L) -> L::V {
        l.add(l.sub(self.hi, l.splat(BIAS + 1.0)), self.lo)
    }

    /// This sum less `other`, lane by lane, rounded about once: the high parts' difference is
    /// exact where they are within 2x of each other, and large beside the rounding elsewhere.
    #[inline(always)]
    pub(crate) fn minus(self, l: L, other: Self) -> L::V {
        l.add(l.sub(self.hi, other.hi), l.sub(self.lo, other.lo))
    }

    /// The sum over all lanes, in f64, added as a tree: a running sum waits on 2N dependent adds
    /// at the end of every row.
    #[inline(always)]
    pub(crate) fn total(self, l: L) -> f64 {
        let (mut hi, mut lo) = ([0.0f32; 16], [0.0f32; 16]);
        l.store(&mut hi, l.sub(self.hi, l.splat(BIAS)));
        l.store(&mut lo, self.lo);
        let mut sums: [f64; 16] = std::array::from_fn(|i| hi[i] as f64 + lo[i] as f64);
        let mut width = L::N;
        while width > 1 {
            width /= 2;
            for i in 0..width {
                sums[i] += sums[i + width];
            }
        }
        sums[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::with_lanes;
    use crate::simd::{available, isa, with_isa};
    use crate::testing::Rng;

    /// Sums of exponential-like terms (most tiny, some near 1 and 2) against f64, and the
    /// others' sum beside an exact 1 and a difference of two close sums, on every path.
    #[test]
    fn sums_match_f64_to_one_rounding() {
        let mut rng = Rng::new(5);
        for path in available() {
            for count in [1usize, 2, 10, 33, 1000] {
                let terms: Vec<Vec<f32>> =
                    (0..count).map(|_| rng.vec(16, -30.0, 1.0).iter().map(|&y| (y as f64).exp2().min(2.0) as f32).collect()).collect();
                let other: Vec<Vec<f32>> = terms.iter().map(|t| t.iter().map(|&v| v * (1.0 - 1e-6)).collect()).collect();
                let (mut got, mut less_one, mut diff, mut total) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 16], 0.0f64);
                with_isa(path, || {
                    with_lanes!(isa(), l => {
                        let (mut a, mut b) = (LaneSum::of(l, l.splat(1.0)), LaneSum::of(l, l.splat(1.0)));
                        for (t, o) in terms.iter().zip(&other) {
                            a = a.add(l, l.load(t));
                            b = b.add(l, l.load(o));
                        }
                        l.store(&mut got, a.value(l));
                        l.store(&mut less_one, a.value_less_one(l));
                        l.store(&mut diff, a.minus(l, b));
                        total = a.total(l);
                    })
                });
                let lanes = with_isa(path, || with_lanes!(isa(), l => l.n()));
                let mut want_total = 0.0f64;
                for lane in 0..lanes {
                    let others: f64 = terms.iter().map(|t| t[lane] as f64).sum();
                    let others_b: f64 = other.iter().map(|t| t[lane] as f64).sum();
                    want_total += 1.0 + others;
                    // One f32 rounding of the result, and the low parts' own (1e-12 of the sum).
                    let close = |got: f32, want: f64, what: &str| {
                        let err = (got as f64 - want).abs();
                        assert!(
                            err <= 1.2e-7 * want.abs() + 1e-12 * (1.0 + others),
                            "{path:?} {count} terms, lane {lane}: {what} {got} against {want} ({err:.2e})"
                        );
                    };
                    close(got[lane], 1.0 + others, "sum");
                    close(less_one[lane], others, "sum less 1");
                    close(diff[lane], others - others_b, "difference");
                }
                assert!((total - want_total).abs() <= 1e-12 * want_total, "{path:?}: total {total} against {want_total}");
            }
        }
    }
}
