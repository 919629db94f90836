//! Vectors of f32 lanes behind one interface, so a row kernel is written once and compiled for
//! each path: [`Scalar`] (one lane, std's `exp`), [`Avx2`] (8 lanes) and [`Avx512`] (16 lanes);
//! the rows-as-lanes kernels take AVX2's vectors in pairs ([`crate::lanes_pair`]).
//!
//! Kernels are generic over [`Lanes`] and entered through [`with_lanes!`], which instantiates
//! the body once per path inside [`crate::simd::dispatch!`], so every method inlines into code
//! compiled with its features. A lane type can only be made after run-time detection of its
//! features, which is what makes its safe methods sound.
//!
//! `exp` is a Cody-Waite range reduction `x = n ln2 + r`, `|r| <= ln2 / 2`, then a degree-7
//! polynomial for `e^r` (Cephes' coefficients) and a scale by `2^n`: under 1e-7 relative error
//! where the result is normal, 0 below -104, inf above ln(f32::MAX), NaN for NaN.
//! `exp2_nonpositive` is the row kernels' cheaper twin for `y <= 0` (a max already subtracted),
//! `ln` Cephes' `logf` for the sums' logs of the rows-as-lanes kernels, and `transpose_in/out`
//! turn a block of narrow rows into one vector per class and back.

/// A vector of `N` f32 lanes and the operations the row kernels use.
pub trait Lanes: Copy {
    const N: usize;
    /// Whether [`Lanes::mul_add`] rounds once (the scalar path's rounds twice).
    const FUSED: bool = true;
    type V: Copy;
    /// The lanes the rows-as-lanes kernels run on: these, or on AVX2 two vectors as one
    /// ([`crate::lanes_pair`]).
    type Narrow: Lanes;
    fn narrow(self) -> Self::Narrow;
    /// `N`, from a value (the kernels bind a lane value, not its type).
    #[inline(always)]
    fn n(self) -> usize {
        Self::N
    }
    fn splat(self, x: f32) -> Self::V;
    /// The first `N` values of `s` (`s.len() >= N`).
    fn load(self, s: &[f32]) -> Self::V;
    /// `s` (shorter than `N`) in the first lanes, `fill` in the rest.
    fn load_part(self, s: &[f32], fill: f32) -> Self::V {
        let mut buf = [fill; 16];
        buf[..s.len()].copy_from_slice(s);
        self.load(&buf)
    }
    /// The lanes of `v`, in order: a block of vectors as the floats a transpose reads or writes.
    fn floats(self, v: &[Self::V]) -> &[f32];
    /// [`Lanes::floats`], writable.
    fn floats_mut(self, v: &mut [Self::V]) -> &mut [f32];
    /// `dst[j * N + i] = src[i * cols + j]`: the first `count` (`<= N`) rows of `src` as
    /// `cols` vectors, one row per lane, zeros in the lanes past them.
    fn transpose_in(self, src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
        transpose_in_by_element(src, cols, count, dst, Self::N);
    }
    /// `dst[i * cols + j] = src[j * N + i]` for the first `count` rows: the inverse of
    /// [`Lanes::transpose_in`].
    fn transpose_out(self, src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
        transpose_out_by_element(src, cols, count, dst, Self::N);
    }
    /// Into the first `N` values of `d` (`d.len() >= N`).
    fn store(self, d: &mut [f32], v: Self::V);
    /// The first `d.len()` (< `N`) lanes into `d`.
    fn store_part(self, d: &mut [f32], v: Self::V) {
        let mut buf = [0.0; 16];
        self.store(&mut buf, v);
        let n = d.len();
        d.copy_from_slice(&buf[..n]);
    }
    /// The vector at `s[j..]`: whole, or the last part filled with `fill`. Loops call this (and
    /// [`Lanes::store_at`]) once per step rather than a closure twice (body and tail): a closure
    /// called once is always inlined into the function built with the path's features, one
    /// called twice may not be, and its intrinsics would then be calls.
    #[inline(always)]
    fn load_at(self, s: &[f32], j: usize, fill: f32) -> Self::V {
        if j + Self::N <= s.len() { self.load(&s[j..]) } else { self.load_part(&s[j..], fill) }
    }
    /// [`Lanes::load_at`] where the caller knows which it is (a loop's body, or its tail), so no
    /// step tests it: the loops' bodies call their step with `whole = true`, the tail with false.
    #[inline(always)]
    fn load_known(self, s: &[f32], j: usize, whole: bool, fill: f32) -> Self::V {
        if whole { self.load(&s[j..]) } else { self.load_part(&s[j..], fill) }
    }
    /// [`Lanes::store_at`] where the caller knows which it is.
    #[inline(always)]
    fn store_known(self, d: &mut [f32], j: usize, whole: bool, v: Self::V) {
        if whole { self.store(&mut d[j..], v) } else { self.store_part(&mut d[j..], v) }
    }
    /// Stores `v` at `d[j..]`, whole or its first lanes.
    #[inline(always)]
    fn store_at(self, d: &mut [f32], j: usize, v: Self::V) {
        if j + Self::N <= d.len() { self.store(&mut d[j..], v) } else { self.store_part(&mut d[j..], v) }
    }
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a b + c`, fused where the path has FMA.
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// The larger lane by lane; NaN in `b` wins.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if a == b { x } else { y }`, lane by lane.
    fn select_eq(self, a: Self::V, b: Self::V, x: Self::V, y: Self::V) -> Self::V;
    /// `if |a| < bound { x } else { y }`, lane by lane.
    fn select_abs_below(self, a: Self::V, bound: f32, x: Self::V, y: Self::V) -> Self::V;
    /// Bit `i` set where lane `i` of `a` equals `b`.
    fn eq_bits(self, a: Self::V, b: f32) -> u32;
    fn exp(self, x: Self::V) -> Self::V;
    /// `2^y` for `y <= 0` (or NaN), the row kernels' exponential once the row's max is
    /// subtracted and `log2(e) / t` folded into one factor: `y = n + f`, `|f| <= 1/2`, a degree-6
    /// polynomial for `2^f` and `n` added to its exponent bits. Under 1e-7 relative error where
    /// the result is at least `2^-125`; smaller results flush to 0 (their weight in a row that
    /// holds a 1 is nil). Half the work of [`Lanes::exp`], which serves the whole range.
    fn exp2_nonpositive(self, y: Self::V) -> Self::V;
    /// [`Lanes::exp2_nonpositive`] with a degree-5 polynomial: under 2.5e-7 relative error, for
    /// a sixth fewer FMAs; `y` up to 1/2. Softmax's exponentials, which nothing subtracts from
    /// each other.
    fn exp2_nonpositive_short(self, y: Self::V) -> Self::V;
    /// The natural log of positive normal lanes (Cephes' `logf`: `x = m 2^e`, `m` in
    /// `[sqrt(1/2), sqrt(2))`, a degree-8 polynomial in `m - 1`): within 2e-7 of `ln x`,
    /// relative, or absolute near `x = 1`.
    fn ln(self, x: Self::V) -> Self::V;
    fn sum(self, v: Self::V) -> f32;
    fn max_lane(self, v: Self::V) -> f32;
}

/// [`Lanes::transpose_in`] for `n` lanes, a value at a time.
#[inline(always)]
fn transpose_in_by_element(src: &[f32], cols: usize, count: usize, dst: &mut [f32], n: usize) {
    dst[..cols * n].fill(0.0);
    for (i, row) in src[..count * cols].chunks_exact(cols).enumerate() {
        for (j, &v) in row.iter().enumerate() {
            dst[j * n + i] = v;
        }
    }
}

/// [`Lanes::transpose_out`] for `n` lanes, a value at a time.
#[inline(always)]
fn transpose_out_by_element(src: &[f32], cols: usize, count: usize, dst: &mut [f32], n: usize) {
    for (i, row) in dst[..count * cols].chunks_exact_mut(cols).enumerate() {
        for (j, d) in row.iter_mut().enumerate() {
            *d = src[j * n + i];
        }
    }
}

/// Runs `$body` with `$l` bound to the lanes of `$isa`, each instantiation compiled with its
/// path's features (through [`crate::simd::dispatch!`]). Closures inside a kernel are passed
/// `#[inline(always)]` too, for the same reason.
#[macro_export]
#[doc(hidden)]
macro_rules! with_lanes {
    ($isa:expr, $l:ident => $body:expr) => {{
        use $crate::simd::Isa;
        match $isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                // SAFETY: `Isa::Avx512` comes from run-time detection of its features.
                let $l = unsafe { $crate::lanes::Avx512::new() };
                $crate::simd::dispatch!(Isa::Avx512, $body)
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                // SAFETY: `Isa::Avx2Fma` comes from run-time detection of AVX2 and FMA.
                let $l = unsafe { $crate::lanes::Avx2::new() };
                $crate::simd::dispatch!(Isa::Avx2Fma, $body)
            }
            _ => {
                let $l = $crate::lanes::Scalar;
                $body
            }
        }
    }};
}
pub use with_lanes;

// Cephes' expf: the reduction constants (ln 2 = C1 + C2, C1 exact in 9 bits, so n C1 is exact)
// and the coefficients of (e^r - 1 - r) / r^2 on |r| <= ln2 / 2.
const EXP_HI: f32 = 89.0;
const EXP_LO: f32 = -104.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const EXP_POLY: [f32; 6] = [1.987_569_1e-4, 1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
// `(2^f - 1) / f` on |f| <= 1/2, interpolated at the six Chebyshev nodes (highest power first):
// `1 + f q(f)` is within 6.7e-8 of 2^f with f32 rounding, and exactly 1 at f = 0, so a row's
// max contributes exactly 1 to its sum.
const EXP2_POLY: [f32; 6] = [1.545_316_3e-4, 1.339_086_3e-3, 9.618_083e-3, 5.550_357e-2, 0.240_226_5, std::f32::consts::LN_2];
// The same for degree 5, fitted to the least largest relative error (reweighted least squares):
// 9.2e-8 before f32 rounding, 1.7e-7 measured. Its linear coefficient is the fit's, 3 ulps
// from ln 2.
#[allow(clippy::approx_constant)]
const EXP2_POLY_SHORT: [f32; 5] = [1.326_542_7e-3, 9.671_512e-3, 5.550_731_3e-2, 0.240_222_42, 0.693_147];
// Cephes' logf: sqrt(1/2), and the coefficients of (ln(1 + x) - x + x^2 / 2) / x^3, highest first.
const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
const LN_POLY: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_4e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];
// Below this `2^y` is flushed to 0: adding n to the exponent bits of 2^f is only right while
// the result stays normal.
const EXP2_FLUSH: f32 = -125.0;

mod scalar;
pub use scalar::Scalar;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod transpose;
#[cfg(target_arch = "x86_64")]
use transpose::transpose8_out;
#[cfg(target_arch = "x86_64")]
pub(crate) use transpose::{transpose8_in, transpose16_in, transpose16_out};
#[cfg(target_arch = "x86_64")]
pub use {avx2::Avx2, avx512::Avx512};

#[cfg(test)]
mod tests;
