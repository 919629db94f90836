//! [`Avx2`]: 8 lanes of AVX2 with FMA.

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
