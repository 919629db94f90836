//! [`Avx512`]: 16 lanes of AVX-512F.

use super::*;
use std::arch::x86_64::*;

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
