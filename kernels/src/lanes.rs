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

/// One lane, plain Rust: the fallback every machine runs.
#[derive(Clone, Copy)]
pub struct Scalar;

impl Lanes for Scalar {
    const N: usize = 1;
    const FUSED: bool = false;
    type V = f32;
    type Narrow = Self;
    #[inline(always)]
    fn narrow(self) -> Self {
        self
    }
    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> f32 {
        s[0]
    }
    #[inline(always)]
    fn floats(self, v: &[f32]) -> &[f32] {
        v
    }
    #[inline(always)]
    fn floats_mut(self, v: &mut [f32]) -> &mut [f32] {
        v
    }
    #[inline(always)]
    fn store(self, d: &mut [f32], v: f32) {
        d[0] = v;
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        // Unfused: a software fma would cost a library call per element.
        a * b + c
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        if b.is_nan() || b > a { b } else { a }
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn select_eq(self, a: f32, b: f32, x: f32, y: f32) -> f32 {
        if a == b { x } else { y }
    }
    #[inline(always)]
    fn ln(self, x: f32) -> f32 {
        x.ln()
    }
    #[inline(always)]
    fn select_abs_below(self, a: f32, bound: f32, x: f32, y: f32) -> f32 {
        if a.abs() < bound { x } else { y }
    }
    #[inline(always)]
    fn eq_bits(self, a: f32, b: f32) -> u32 {
        (a == b) as u32
    }
    #[inline(always)]
    fn exp(self, x: f32) -> f32 {
        x.exp()
    }
    #[inline(always)]
    fn exp2_nonpositive(self, y: f32) -> f32 {
        if y < EXP2_FLUSH { 0.0 } else { y.exp2() }
    }
    #[inline(always)]
    fn exp2_nonpositive_short(self, y: f32) -> f32 {
        self.exp2_nonpositive(y)
    }
    #[inline(always)]
    fn sum(self, v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn max_lane(self, v: f32) -> f32 {
        v
    }
}

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

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{transpose8_in, transpose16_in, transpose16_out};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    /// 8 lanes of AVX2 with FMA.
    #[derive(Clone, Copy)]
    pub struct Avx2(());

    impl Avx2 {
        /// 8 lanes of AVX2.
        ///
        /// # Safety
        /// The CPU has AVX2 and FMA.
        pub unsafe fn new() -> Self {
            Avx2(())
        }
        /// [`Lanes::exp2_nonpositive`] on AVX2 with the polynomial `poly` (highest coefficient first,
        /// the constant 1 left out).
        #[inline(always)]
        fn exp2_nonpositive_with(self, y: __m256, poly: &[f32]) -> __m256 {
            // SAFETY: `self` exists only where the CPU has the path's features (its constructor's
            // contract).
            unsafe {
                let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
                let f = _mm256_sub_ps(y, n);
                let mut q = _mm256_set1_ps(poly[0]);
                for c in &poly[1..] {
                    q = _mm256_fmadd_ps(q, f, _mm256_set1_ps(*c));
                }
                let p = _mm256_fmadd_ps(q, f, _mm256_set1_ps(1.0));
                let scaled = _mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32::<23>(_mm256_cvtps_epi32(n)));
                // Unordered compare: a NaN lane is kept (its bits plus n's stay NaN).
                let keep = _mm256_cmp_ps::<_CMP_NLT_UQ>(y, _mm256_set1_ps(EXP2_FLUSH));
                _mm256_and_ps(_mm256_castsi256_ps(scaled), keep)
            }
        }
    }

    // SAFETY (every `unsafe` block in this impl): an `Avx2` exists only where the CPU has AVX2
    // and FMA (its constructor's contract); loads and stores stay inside the slices, whose
    // lengths are asserted first.
    impl Lanes for Avx2 {
        const N: usize = 8;
        type V = __m256;
        type Narrow = crate::lanes_pair::Avx2Pair;
        #[inline(always)]
        fn narrow(self) -> Self::Narrow {
            crate::lanes_pair::Avx2Pair::of(self)
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> __m256 {
            assert!(s.len() >= 8);
            unsafe { _mm256_loadu_ps(s.as_ptr()) }
        }
        #[inline(always)]
        fn floats(self, v: &[__m256]) -> &[f32] {
            // SAFETY: a `__m256` is 8 f32 lanes in order with no padding, every bit pattern a
            // valid f32, and f32's alignment divides its: the same bytes, read as floats.
            unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len() * 8) }
        }
        #[inline(always)]
        fn floats_mut(self, v: &mut [__m256]) -> &mut [f32] {
            // SAFETY: as in `floats`; the borrow of `v` is exclusive and outlives the view.
            unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 8) }
        }
        #[inline(always)]
        fn transpose_in(self, src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
            match cols < 8 {
                true => transpose_in_by_element(src, cols, count, dst, 8),
                false => transpose8_in(src, cols, cols, count, dst, 8, 0),
            }
        }
        #[inline(always)]
        fn transpose_out(self, src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
            match cols < 8 {
                true => transpose_out_by_element(src, cols, count, dst, 8),
                false => transpose8_out(src, cols, count, dst, 8, 0),
            }
        }
        #[inline(always)]
        fn load_part(self, s: &[f32], fill: f32) -> __m256 {
            assert!(s.len() < 8);
            // maskload neither reads nor faults on the masked lanes.
            unsafe {
                let mask = tail_mask(s.len());
                _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(s.as_ptr(), mask), _mm256_castsi256_ps(mask))
            }
        }
        #[inline(always)]
        fn store(self, d: &mut [f32], v: __m256) {
            assert!(d.len() >= 8);
            unsafe { _mm256_storeu_ps(d.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn store_part(self, d: &mut [f32], v: __m256) {
            assert!(d.len() < 8);
            // Four, two and one lanes by plain stores: a masked store (vmaskmovps) costs tens of
            // cycles on AMD's cores, and a row of 10 classes ends in one every sweep.
            unsafe {
                let (mut p, mut n) = (d.as_mut_ptr(), d.len());
                let mut part = _mm256_castps256_ps128(v);
                if n >= 4 {
                    _mm_storeu_ps(p, part);
                    (p, n, part) = (p.add(4), n - 4, _mm256_extractf128_ps::<1>(v));
                }
                if n >= 2 {
                    _mm_storel_pd(p.cast(), _mm_castps_pd(part));
                    (p, n, part) = (p.add(2), n - 2, _mm_movehl_ps(part, part));
                }
                if n == 1 {
                    _mm_store_ss(p, part);
                }
            }
        }
        #[inline(always)]
        fn add(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn max(self, a: __m256, b: __m256) -> __m256 {
            // maxps returns its second operand when either is NaN.
            unsafe { _mm256_max_ps(a, b) }
        }
        #[inline(always)]
        fn div(self, a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_div_ps(a, b) }
        }
        #[inline(always)]
        fn select_eq(self, a: __m256, b: __m256, x: __m256, y: __m256) -> __m256 {
            unsafe { _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b)) }
        }
        #[inline(always)]
        fn ln(self, x: __m256) -> __m256 {
            unsafe {
                // x = m 2^e with m in [1/2, 1), from the bits; then m in [sqrt(1/2), sqrt(2)).
                let bits = _mm256_castps_si256(x);
                let e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32::<23>(bits), _mm256_set1_epi32(126)));
                let mant = _mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x3f00_0000));
                let m = _mm256_castsi256_ps(mant);
                let low = _mm256_cmp_ps::<_CMP_LT_OQ>(m, _mm256_set1_ps(SQRT_HALF));
                let e = _mm256_sub_ps(e, _mm256_and_ps(low, _mm256_set1_ps(1.0)));
                let m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(low, m)), _mm256_set1_ps(1.0));
                let z = _mm256_mul_ps(m, m);
                let mut p = _mm256_set1_ps(LN_POLY[0]);
                for c in &LN_POLY[1..] {
                    p = _mm256_fmadd_ps(p, m, _mm256_set1_ps(*c));
                }
                let y = _mm256_fmadd_ps(e, _mm256_set1_ps(LN2_LO), _mm256_mul_ps(_mm256_mul_ps(p, m), z));
                let y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5), y);
                _mm256_fmadd_ps(e, _mm256_set1_ps(LN2_HI), _mm256_add_ps(m, y))
            }
        }
        #[inline(always)]
        fn select_abs_below(self, a: __m256, bound: f32, x: __m256, y: __m256) -> __m256 {
            unsafe {
                let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), a);
                _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_LT_OQ>(abs, _mm256_set1_ps(bound)))
            }
        }
        #[inline(always)]
        fn eq_bits(self, a: __m256, b: f32) -> u32 {
            unsafe { _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(a, _mm256_set1_ps(b))) as u32 }
        }
        #[inline(always)]
        fn exp(self, x: __m256) -> __m256 {
            unsafe {
                // min/max return the second operand on NaN: NaN passes through both clamps.
                let x = _mm256_max_ps(_mm256_set1_ps(EXP_LO), _mm256_min_ps(_mm256_set1_ps(EXP_HI), x));
                let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)));
                let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
                let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
                // Estrin's scheme: three short chains instead of one of five dependent FMAs.
                let c = |i: usize| _mm256_set1_ps(EXP_POLY[i]);
                let r2 = _mm256_mul_ps(r, r);
                let lo = _mm256_fmadd_ps(c(4), r, c(5));
                let mid = _mm256_fmadd_ps(c(2), r, c(3));
                let hi = _mm256_fmadd_ps(c(0), r, c(1));
                let p = _mm256_fmadd_ps(_mm256_fmadd_ps(hi, r2, mid), r2, lo);
                let y = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0));
                // 2^n as two normal factors, so n from -150 to 128 scales through the subnormals
                // down to 0, and up to inf.
                let n = _mm256_cvtps_epi32(n);
                let half = _mm256_srai_epi32::<1>(n);
                let pow2 = |e: __m256i| _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(e, _mm256_set1_epi32(127))));
                _mm256_mul_ps(_mm256_mul_ps(y, pow2(half)), pow2(_mm256_sub_epi32(n, half)))
            }
        }
        #[inline(always)]
        fn exp2_nonpositive(self, y: __m256) -> __m256 {
            self.exp2_nonpositive_with(y, &EXP2_POLY)
        }
        #[inline(always)]
        fn exp2_nonpositive_short(self, y: __m256) -> __m256 {
            self.exp2_nonpositive_with(y, &EXP2_POLY_SHORT)
        }
        #[inline(always)]
        fn sum(self, v: __m256) -> f32 {
            unsafe {
                let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
            }
        }
        #[inline(always)]
        fn max_lane(self, v: __m256) -> f32 {
            unsafe {
                let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
                let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
                _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)))
            }
        }
    }

    /// All ones in the first `n` (< 8) lanes.
    #[inline(always)]
    fn tail_mask(n: usize) -> __m256i {
        // SAFETY: reached only from `Avx2`'s methods, so the CPU has AVX2.
        unsafe { _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)) }
    }

    /// The 8x8 transpose of `r` (eight rows of eight) into its columns: unpacks, shuffles and
    /// 128-bit permutes, 24 in all.
    #[inline(always)]
    fn transpose8x8(r: [__m256; 8]) -> [__m256; 8] {
        // SAFETY: reached only from `Avx2`'s and `Avx512`'s methods and from functions compiled
        // for AVX2, so the CPU has AVX2.
        unsafe {
            let t = [
                _mm256_unpacklo_ps(r[0], r[1]),
                _mm256_unpackhi_ps(r[0], r[1]),
                _mm256_unpacklo_ps(r[2], r[3]),
                _mm256_unpackhi_ps(r[2], r[3]),
                _mm256_unpacklo_ps(r[4], r[5]),
                _mm256_unpackhi_ps(r[4], r[5]),
                _mm256_unpacklo_ps(r[6], r[7]),
                _mm256_unpackhi_ps(r[6], r[7]),
            ];
            let s = [
                _mm256_shuffle_ps::<0x44>(t[0], t[2]),
                _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
                _mm256_shuffle_ps::<0x44>(t[1], t[3]),
                _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
                _mm256_shuffle_ps::<0x44>(t[4], t[6]),
                _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
                _mm256_shuffle_ps::<0x44>(t[5], t[7]),
                _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
            ];
            [
                _mm256_permute2f128_ps::<0x20>(s[0], s[4]),
                _mm256_permute2f128_ps::<0x20>(s[1], s[5]),
                _mm256_permute2f128_ps::<0x20>(s[2], s[6]),
                _mm256_permute2f128_ps::<0x20>(s[3], s[7]),
                _mm256_permute2f128_ps::<0x31>(s[0], s[4]),
                _mm256_permute2f128_ps::<0x31>(s[1], s[5]),
                _mm256_permute2f128_ps::<0x31>(s[2], s[6]),
                _mm256_permute2f128_ps::<0x31>(s[3], s[7]),
            ]
        }
    }

    /// `dst[j * stride + lane0 + i] = src[i * src_stride + j]` for rows `i < count` (`<= 8`) of
    /// `cols` values each, zeros in the other lanes of those eight; `cols >= 8`. Eight columns
    /// at a time, the last window ending at the row's end (overlapping the one before), so no
    /// load leaves a row. Also how the packed GEMM packs operands whose steps are contiguous.
    #[inline(always)]
    pub(crate) fn transpose8_in(src: &[f32], src_stride: usize, cols: usize, count: usize, dst: &mut [f32], stride: usize, lane0: usize) {
        assert!(cols >= 8 && count <= 8 && (count == 0 || src.len() >= (count - 1) * src_stride + cols));
        assert!(dst.len() >= (cols - 1) * stride + lane0 + 8);
        for c0 in (0..cols).step_by(8) {
            let w0 = c0.min(cols - 8);
            // SAFETY: the CPU has AVX2 (callers are `Avx2`'s, `Avx2Pair`'s and `Avx512`'s
            // methods, or code compiled for AVX2); rows `i < count`, columns `w0..w0 + 8 <=
            // cols`: inside `src` (asserted).
            let rows = unsafe {
                let p = src.as_ptr().add(w0);
                let mut r = [_mm256_setzero_ps(); 8];
                if count == 8 {
                    for (i, r) in r.iter_mut().enumerate() {
                        *r = _mm256_loadu_ps(p.add(i * src_stride));
                    }
                } else {
                    for (i, r) in r.iter_mut().enumerate().take(count) {
                        *r = _mm256_loadu_ps(p.add(i * src_stride));
                    }
                }
                r
            };
            let columns = transpose8x8(rows);
            for (k, &column) in columns.iter().enumerate().skip(c0 - w0) {
                let at = (w0 + k) * stride + lane0;
                // SAFETY: AVX2 as above; `at + 8 <= dst.len()` (asserted, `w0 + k < cols`).
                unsafe { _mm256_storeu_ps(dst.as_mut_ptr().add(at), column) }
            }
        }
    }

    /// [`Lanes::transpose_in`] for 16 lanes (AVX-512's, AVX2's in pairs): two 8-row halves
    /// through [`transpose8_in`], or a value at a time under 8 columns. The caller's code is
    /// compiled for AVX2.
    #[inline(always)]
    pub(crate) fn transpose16_in(src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
        if cols < 8 {
            return transpose_in_by_element(src, cols, count, dst, 16);
        }
        let top = count.min(8);
        transpose8_in(src, cols, cols, top, dst, 16, 0);
        transpose8_in(&src[top * cols..], cols, cols, count - top, dst, 16, 8);
    }

    /// [`Lanes::transpose_out`] for 16 lanes, as [`transpose16_in`].
    #[inline(always)]
    pub(crate) fn transpose16_out(src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
        if cols < 8 {
            return transpose_out_by_element(src, cols, count, dst, 16);
        }
        let top = count.min(8);
        transpose8_out(src, cols, top, dst, 16, 0);
        transpose8_out(src, cols, count - top, &mut dst[top * cols..], 16, 8);
    }

    /// `dst[i * cols + j] = src[j * stride + lane0 + i]` for rows `i < count` (`<= 8`); `cols >=
    /// 8`. The last window overlaps the one before, rewriting its values unchanged.
    #[inline(always)]
    fn transpose8_out(src: &[f32], cols: usize, count: usize, dst: &mut [f32], stride: usize, lane0: usize) {
        assert!(cols >= 8 && count <= 8 && dst.len() >= count * cols && src.len() >= (cols - 1) * stride + lane0 + 8);
        for c0 in (0..cols).step_by(8) {
            let w0 = c0.min(cols - 8);
            // SAFETY: AVX2 as in `transpose8_in`; columns `w0..w0 + 8 <= cols` of `src` and rows
            // `i < count` of `dst`, whose windows end inside their rows: in bounds (asserted).
            unsafe {
                let mut columns = [_mm256_setzero_ps(); 8];
                for (k, c) in columns.iter_mut().enumerate() {
                    *c = _mm256_loadu_ps(src.as_ptr().add((w0 + k) * stride + lane0));
                }
                let rows = transpose8x8(columns);
                let p = dst.as_mut_ptr().add(w0);
                if count == 8 {
                    for (i, &r) in rows.iter().enumerate() {
                        _mm256_storeu_ps(p.add(i * cols), r);
                    }
                } else {
                    for (i, &r) in rows.iter().enumerate().take(count) {
                        _mm256_storeu_ps(p.add(i * cols), r);
                    }
                }
            }
        }
    }

    /// 16 lanes of AVX-512F.
    #[derive(Clone, Copy)]
    pub struct Avx512(());

    impl Avx512 {
        /// 16 lanes of AVX-512.
        ///
        /// # Safety
        /// The CPU has AVX-512F, AVX2 and FMA.
        pub unsafe fn new() -> Self {
            Avx512(())
        }
        /// [`Lanes::exp2_nonpositive`] on AVX-512 with the polynomial `poly`, as [`Avx2::exp2_nonpositive_with`].
        #[inline(always)]
        fn exp2_nonpositive_with(self, y: __m512, poly: &[f32]) -> __m512 {
            // SAFETY: `self` exists only where the CPU has the path's features (its constructor's
            // contract).
            unsafe {
                let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
                let f = _mm512_sub_ps(y, n);
                let mut q = _mm512_set1_ps(poly[0]);
                for c in &poly[1..] {
                    q = _mm512_fmadd_ps(q, f, _mm512_set1_ps(*c));
                }
                let p = _mm512_fmadd_ps(q, f, _mm512_set1_ps(1.0));
                // Unordered compare: a NaN lane is kept (scalef of NaN is NaN). The flushed
                // lanes (-inf among them, whose f is NaN) are never scaled: no denormals, which
                // would cost more than the compare.
                let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(y, _mm512_set1_ps(EXP2_FLUSH));
                // One instruction for `p 2^n`, where the exponent's shift and add and the mask
                // were four.
                _mm512_maskz_scalef_ps(keep, p, n)
            }
        }
    }

    // SAFETY (every `unsafe` block in this impl): an `Avx512` exists only where the CPU has
    // AVX-512F (its constructor's contract); loads and stores stay inside the slices.
    impl Lanes for Avx512 {
        const N: usize = 16;
        type V = __m512;
        type Narrow = Self;
        #[inline(always)]
        fn narrow(self) -> Self {
            self
        }
        #[inline(always)]
        fn splat(self, x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> __m512 {
            assert!(s.len() >= 16);
            unsafe { _mm512_loadu_ps(s.as_ptr()) }
        }
        #[inline(always)]
        fn floats(self, v: &[__m512]) -> &[f32] {
            // SAFETY: a `__m512` is 16 f32 lanes in order with no padding, every bit pattern a
            // valid f32, and f32's alignment divides its: the same bytes, read as floats.
            unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len() * 16) }
        }
        #[inline(always)]
        fn floats_mut(self, v: &mut [__m512]) -> &mut [f32] {
            // SAFETY: as in `floats`; the borrow of `v` is exclusive and outlives the view.
            unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), v.len() * 16) }
        }
        #[inline(always)]
        fn transpose_in(self, src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
            // AVX2's shuffles: every AVX-512 CPU has AVX2, and the dispatch enables it beside
            // AVX-512F.
            transpose16_in(src, cols, count, dst)
        }
        #[inline(always)]
        fn transpose_out(self, src: &[f32], cols: usize, count: usize, dst: &mut [f32]) {
            transpose16_out(src, cols, count, dst)
        }
        #[inline(always)]
        fn load_part(self, s: &[f32], fill: f32) -> __m512 {
            assert!(s.len() < 16);
            unsafe { _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (1u16 << s.len()) - 1, s.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, d: &mut [f32], v: __m512) {
            assert!(d.len() >= 16);
            unsafe { _mm512_storeu_ps(d.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn store_part(self, d: &mut [f32], v: __m512) {
            assert!(d.len() < 16);
            unsafe { _mm512_mask_storeu_ps(d.as_mut_ptr(), (1u16 << d.len()) - 1, v) }
        }
        #[inline(always)]
        fn add(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        fn sub(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_sub_ps(a, b) }
        }
        #[inline(always)]
        fn mul(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn max(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_max_ps(a, b) }
        }
        #[inline(always)]
        fn div(self, a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_div_ps(a, b) }
        }
        #[inline(always)]
        fn select_eq(self, a: __m512, b: __m512, x: __m512, y: __m512) -> __m512 {
            unsafe { _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b), y, x) }
        }
        #[inline(always)]
        fn ln(self, x: __m512) -> __m512 {
            unsafe {
                // x = m 2^e with m in [1/2, 1), from the bits; then m in [sqrt(1/2), sqrt(2)).
                let bits = _mm512_castps_si512(x);
                let e = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(126)));
                let mant = _mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi32(0x007f_ffff)), _mm512_set1_epi32(0x3f00_0000));
                let m = _mm512_castsi512_ps(mant);
                let low = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(m, _mm512_set1_ps(SQRT_HALF));
                let e = _mm512_mask_sub_ps(e, low, e, _mm512_set1_ps(1.0));
                let m = _mm512_sub_ps(_mm512_mask_add_ps(m, low, m, m), _mm512_set1_ps(1.0));
                let z = _mm512_mul_ps(m, m);
                let mut p = _mm512_set1_ps(LN_POLY[0]);
                for c in &LN_POLY[1..] {
                    p = _mm512_fmadd_ps(p, m, _mm512_set1_ps(*c));
                }
                let y = _mm512_fmadd_ps(e, _mm512_set1_ps(LN2_LO), _mm512_mul_ps(_mm512_mul_ps(p, m), z));
                let y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5), y);
                _mm512_fmadd_ps(e, _mm512_set1_ps(LN2_HI), _mm512_add_ps(m, y))
            }
        }
        #[inline(always)]
        fn select_abs_below(self, a: __m512, bound: f32, x: __m512, y: __m512) -> __m512 {
            unsafe { _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(_mm512_abs_ps(a), _mm512_set1_ps(bound)), y, x) }
        }
        #[inline(always)]
        fn eq_bits(self, a: __m512, b: f32) -> u32 {
            unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, _mm512_set1_ps(b)) as u32 }
        }
        #[inline(always)]
        fn exp(self, x: __m512) -> __m512 {
            unsafe {
                let x = _mm512_max_ps(_mm512_set1_ps(EXP_LO), _mm512_min_ps(_mm512_set1_ps(EXP_HI), x));
                let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm512_mul_ps(x, _mm512_set1_ps(LOG2E)));
                let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
                let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
                let c = |i: usize| _mm512_set1_ps(EXP_POLY[i]);
                let r2 = _mm512_mul_ps(r, r);
                let lo = _mm512_fmadd_ps(c(4), r, c(5));
                let mid = _mm512_fmadd_ps(c(2), r, c(3));
                let hi = _mm512_fmadd_ps(c(0), r, c(1));
                let p = _mm512_fmadd_ps(_mm512_fmadd_ps(hi, r2, mid), r2, lo);
                let y = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0));
                // scalef computes y 2^n with IEEE rounding into the subnormals, 0 and inf.
                _mm512_scalef_ps(y, n)
            }
        }
        #[inline(always)]
        fn exp2_nonpositive(self, y: __m512) -> __m512 {
            self.exp2_nonpositive_with(y, &EXP2_POLY)
        }
        #[inline(always)]
        fn exp2_nonpositive_short(self, y: __m512) -> __m512 {
            self.exp2_nonpositive_with(y, &EXP2_POLY_SHORT)
        }
        #[inline(always)]
        fn sum(self, v: __m512) -> f32 {
            unsafe { _mm512_reduce_add_ps(v) }
        }
        #[inline(always)]
        fn max_lane(self, v: __m512) -> f32 {
            unsafe { _mm512_reduce_max_ps(v) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{available, isa, with_isa};

    /// Runs `$body` with `$l` bound to this thread's path's lanes, then to its rows-as-lanes
    /// kernels' ([`Lanes::narrow`]: AVX2's in pairs), which are held to the same checks.
    macro_rules! with_each_lanes {
        ($l:ident => $body:block) => {
            with_lanes!(isa(), lanes => {
                {
                    let $l = lanes;
                    $body
                }
                {
                    let $l = lanes.narrow();
                    $body
                }
            })
        };
    }

    /// `exp` of every `x` through the lanes of this thread's path.
    fn exp_all(xs: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; xs.len()];
        with_lanes!(isa(), l => {
            let mut i = 0;
            while i + l.n() <= xs.len() {
                let n = l.n();
                l.store(&mut out[i..], l.exp(l.load(&xs[i..])));
                i += n;
            }
            if i < xs.len() {
                l.store_part(&mut out[i..], l.exp(l.load_part(&xs[i..], 0.0)));
            }
        });
        out
    }

    #[test]
    fn exp_matches_f64_over_the_whole_range() {
        // Every 61st float from -104 to 89 (about 30 million values), plus the boundaries.
        let mut xs: Vec<f32> = Vec::new();
        for bits in ((-0.0f32).to_bits()..=(-104.0f32).to_bits()).step_by(61).chain((0u32..=89.0f32.to_bits()).step_by(61)) {
            xs.push(f32::from_bits(bits));
        }
        xs.extend([0.0, -0.0, 88.72283, 88.72284, -87.33654, -87.33655, -103.97, 1e-30, -1e-30]);
        for path in available() {
            let got = with_isa(path, || exp_all(&xs));
            let mut worst = (0.0f64, 0.0f32);
            for (&x, &y) in xs.iter().zip(&got) {
                let want = (x as f64).exp();
                if want >= f32::MIN_POSITIVE as f64 && want <= f32::MAX as f64 {
                    let rel = (y as f64 - want).abs() / want;
                    if rel > worst.0 {
                        worst = (rel, x);
                    }
                } else if want < f32::MIN_POSITIVE as f64 {
                    // Subnormal results: within a few of the smallest steps.
                    assert!((y as f64 - want).abs() <= 4.0 * 1.4e-45 + 1e-6 * want, "{path:?}: exp({x}) = {y}, want {want}");
                } else {
                    assert_eq!(y, f32::INFINITY, "{path:?}: exp({x})");
                }
            }
            eprintln!("{path:?}: worst relative error {:.3e} at {}", worst.0, worst.1);
            assert!(worst.0 < 1e-7, "{path:?}: relative error {:.3e} at x = {}", worst.0, worst.1);
        }
    }

    /// `2^x` of each of `xs`, by [`Lanes::exp2_nonpositive_short`] if `short`.
    fn exp2_all(xs: &[f32], short: bool) -> Vec<f32> {
        let mut out = vec![0.0; xs.len()];
        with_lanes!(isa(), l => for j in (0..xs.len()).step_by(l.n()) {
            let v = l.load_at(xs, j, 0.0);
            l.store_at(&mut out, j, if short { l.exp2_nonpositive_short(v) } else { l.exp2_nonpositive(v) });
        });
        out
    }

    #[test]
    fn exp2_nonpositive_matches_f64_and_flushes_below_its_floor() {
        exp2_matches_f64_and_flushes_below_its_floor(false, 1e-7);
    }

    /// The short polynomial within 2.5e-7, up to the 1/2 softmax's shift may add.
    #[test]
    fn exp2_nonpositive_short_matches_f64_and_flushes_below_its_floor() {
        exp2_matches_f64_and_flushes_below_its_floor(true, 2.5e-7);
    }

    fn exp2_matches_f64_and_flushes_below_its_floor(short: bool, tolerance: f64) {
        // Every 17th float from 0 down to -130, every 17th up to 1/2, plus the edges.
        let mut xs: Vec<f32> = ((-0.0f32).to_bits()..=(-130.0f32).to_bits()).step_by(17).map(f32::from_bits).collect();
        xs.extend((0.0f32.to_bits()..=0.5f32.to_bits()).step_by(17).map(f32::from_bits));
        xs.extend([0.0, -0.5, 0.5 - 1.0, 0.5, -124.99, -125.0, -125.01, -1e30, f32::NEG_INFINITY]);
        for path in available() {
            let got = with_isa(path, || exp2_all(&xs, short));
            let mut worst = (0.0f64, 0.0f32);
            for (&y, &e) in xs.iter().zip(&got) {
                let want = (y as f64).exp2();
                if y >= EXP2_FLUSH {
                    let rel = (e as f64 - want).abs() / want;
                    if rel > worst.0 {
                        worst = (rel, y);
                    }
                } else {
                    assert!(e == 0.0 || (path == crate::simd::Isa::Scalar && (e as f64 - want).abs() < 1e-44), "{path:?}: 2^{y} = {e}");
                }
            }
            eprintln!("{path:?}: 2^y (short: {short}) worst relative error {:.3e} at {}", worst.0, worst.1);
            assert!(worst.0 < tolerance, "{path:?}: relative error {:.3e} at y = {}", worst.0, worst.1);
            let ends = with_isa(path, || exp2_all(&[0.0, -0.0, f32::NAN, f32::NEG_INFINITY], short));
            assert_eq!(&ends[..2], &[1.0, 1.0], "{path:?}: 2^0 is exactly 1");
            assert!(ends[2].is_nan() && ends[3] == 0.0, "{path:?}: {ends:?}");
        }
    }

    #[test]
    fn ln_matches_f64_over_the_normal_range() {
        // Every 97th float from the smallest normal to f32::MAX, plus values around 1.
        let mut xs: Vec<f32> = (f32::MIN_POSITIVE.to_bits()..f32::MAX.to_bits()).step_by(97).map(f32::from_bits).collect();
        xs.extend([1.0, 1.0 + f32::EPSILON, 1.0 - f32::EPSILON / 2.0, SQRT_HALF, 2.0f32.sqrt(), 0.5, 2.0, f32::MAX]);
        for path in available() {
            let mut got = vec![0.0; xs.len()];
            with_isa(path, || {
                with_lanes!(isa(), l => for j in (0..xs.len()).step_by(l.n()) {
                    l.store_at(&mut got, j, l.ln(l.load_at(&xs, j, 1.0)));
                })
            });
            let mut worst = (0.0f64, 0.0f32);
            for (&x, &y) in xs.iter().zip(&got) {
                let want = (x as f64).ln();
                let err = (y as f64 - want).abs() / want.abs().max(1.0);
                if err > worst.0 {
                    worst = (err, x);
                }
            }
            eprintln!("{path:?}: ln worst error {:.3e} at {}", worst.0, worst.1);
            assert!(worst.0 < 2e-7, "{path:?}: ln error {:.3e} at x = {}", worst.0, worst.1);
        }
    }

    #[test]
    fn selects_and_divides_lane_by_lane() {
        for path in available() {
            with_isa(path, || {
                with_each_lanes!(l => {
                    let n = l.n();
                    let idx: Vec<f32> = (0..n).map(|i| i as f32).collect();
                    let v = l.load(&idx);
                    let mut out = vec![0.0f32; n];
                    l.store(&mut out, l.select_eq(v, l.splat(1.0), l.splat(-1.0), l.div(v, l.splat(4.0))));
                    for (i, &o) in out.iter().enumerate() {
                        assert_eq!(o, if i == 1 { -1.0 } else { i as f32 / 4.0 }, "{path:?} lane {i}");
                    }
                });
            });
        }
    }

    #[test]
    fn exp_ends_are_exact_and_nan_stays_nan() {
        let xs = [f32::NEG_INFINITY, -1e30, -104.5, -200.0, f32::INFINITY, 1e30, 89.5, f32::NAN, 0.0, -f32::NAN];
        for path in available() {
            let y = with_isa(path, || exp_all(&xs));
            assert_eq!(&y[..4], &[0.0; 4], "{path:?}");
            assert_eq!(&y[4..7], &[f32::INFINITY; 3], "{path:?}");
            assert!(y[7].is_nan() && y[9].is_nan(), "{path:?}: {y:?}");
            assert_eq!(y[8], 1.0, "{path:?}");
        }
    }

    #[test]
    fn reductions_blends_and_tails() {
        let xs: Vec<f32> = (0..37).map(|i| ((i * 7919) % 37) as f32 - 18.0).collect();
        for path in available() {
            with_isa(path, || {
                with_each_lanes!(l => {
                    let n = l.n();
                    let (mut sum, mut max) = (l.splat(0.0), l.splat(f32::NEG_INFINITY));
                    let mut i = 0;
                    while i + n <= xs.len() {
                        let v = l.load(&xs[i..]);
                        sum = l.add(sum, v);
                        max = l.max(max, v);
                        i += n;
                    }
                    if i < xs.len() {
                        sum = l.add(sum, l.load_part(&xs[i..], 0.0));
                        max = l.max(max, l.load_part(&xs[i..], f32::NEG_INFINITY));
                    }
                    assert_eq!(l.sum(sum), xs.iter().sum::<f32>(), "{path:?}");
                    assert_eq!(l.max_lane(max), 18.0, "{path:?}");
                    let v = l.load_part(&[-3.0, 0.5, 2.0][..3.min(n)], 9.0);
                    let picked = l.select_abs_below(v, 1.0, l.splat(1.0), l.splat(-1.0));
                    let mut out = [0.0f32; 16];
                    l.store(&mut out, picked);
                    assert_eq!(out[0], -1.0, "{path:?}");
                    if n > 1 {
                        assert_eq!(&out[1..3], &[1.0, -1.0], "{path:?}");
                        assert_eq!(l.eq_bits(v, 9.0), ((1u32 << n) - 1) & !7, "{path:?}");
                    }
                });
            });
        }
    }
}
