//! Vectors of f32 lanes behind one interface, so a row kernel is written once and compiled for
//! each path: [`Scalar`] (one lane, std's `exp`), [`Avx2`] (8 lanes) and [`Avx512`] (16 lanes).
//!
//! Kernels are generic over [`Lanes`] and entered through [`with_lanes!`], which instantiates
//! the body once per path inside [`crate::simd::dispatch!`], so every method inlines into code
//! compiled with its features. A lane type can only be made after run-time detection of its
//! features, which is what makes its safe methods sound.
//!
//! `exp` is a Cody-Waite range reduction `x = n ln2 + r`, `|r| <= ln2 / 2`, then a degree-7
//! polynomial for `e^r` (Cephes' coefficients) and a scale by `2^n`: under 1e-7 relative error
//! where the result is normal, 0 below -104, inf above ln(f32::MAX), NaN for NaN.

/// A vector of `N` f32 lanes and the operations the row kernels use.
pub trait Lanes: Copy {
    const N: usize;
    type V: Copy;
    /// The `N` lanes widened to f64, for sums that must keep every bit of their terms.
    type Wide: Copy;
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
    /// The larger lane by lane; NaN in `b` wins.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// `if |a| < bound { x } else { y }`, lane by lane.
    fn select_abs_below(self, a: Self::V, bound: f32, x: Self::V, y: Self::V) -> Self::V;
    /// Bit `i` set where lane `i` of `a` equals `b`.
    fn eq_bits(self, a: Self::V, b: f32) -> u32;
    fn exp(self, x: Self::V) -> Self::V;
    fn wide_zero(self) -> Self::Wide;
    /// `acc + v`, lane by lane in f64.
    fn wide_add(self, acc: Self::Wide, v: Self::V) -> Self::Wide;
    fn wide_sum(self, acc: Self::Wide) -> f64;
    fn sum(self, v: Self::V) -> f32;
    fn max_lane(self, v: Self::V) -> f32;
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
    type V = f32;
    type Wide = f64;
    #[inline(always)]
    fn wide_zero(self) -> f64 {
        0.0
    }
    #[inline(always)]
    fn wide_add(self, acc: f64, v: f32) -> f64 {
        acc + v as f64
    }
    #[inline(always)]
    fn wide_sum(self, acc: f64) -> f64 {
        acc
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

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

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
    }

    // SAFETY (every `unsafe` block in this impl): an `Avx2` exists only where the CPU has AVX2
    // and FMA (its constructor's contract); loads and stores stay inside the slices, whose
    // lengths are asserted first.
    impl Lanes for Avx2 {
        const N: usize = 8;
        type V = __m256;
        type Wide = [__m256d; 2];
        #[inline(always)]
        fn wide_zero(self) -> [__m256d; 2] {
            unsafe { [_mm256_setzero_pd(); 2] }
        }
        #[inline(always)]
        fn wide_add(self, [lo, hi]: [__m256d; 2], v: __m256) -> [__m256d; 2] {
            unsafe {
                [
                    _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v))),
                    _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v))),
                ]
            }
        }
        #[inline(always)]
        fn wide_sum(self, [lo, hi]: [__m256d; 2]) -> f64 {
            unsafe {
                let s = _mm256_add_pd(lo, hi);
                let s = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd::<1>(s));
                _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
            }
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
    }

    // SAFETY (every `unsafe` block in this impl): an `Avx512` exists only where the CPU has
    // AVX-512F (its constructor's contract); loads and stores stay inside the slices.
    impl Lanes for Avx512 {
        const N: usize = 16;
        type V = __m512;
        type Wide = [__m512d; 2];
        #[inline(always)]
        fn wide_zero(self) -> [__m512d; 2] {
            unsafe { [_mm512_setzero_pd(); 2] }
        }
        #[inline(always)]
        fn wide_add(self, [lo, hi]: [__m512d; 2], v: __m512) -> [__m512d; 2] {
            unsafe {
                let (a, b) = (_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))));
                [_mm512_add_pd(lo, _mm512_cvtps_pd(a)), _mm512_add_pd(hi, _mm512_cvtps_pd(b))]
            }
        }
        #[inline(always)]
        fn wide_sum(self, [lo, hi]: [__m512d; 2]) -> f64 {
            unsafe { _mm512_reduce_add_pd(_mm512_add_pd(lo, hi)) }
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
                with_lanes!(isa(), l => {
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
