//! Blocks of rows to one vector per column and back with AVX2's 8x8 register transpose, for
//! both x86 paths and the GEMM's packing.

use super::*;
use std::arch::x86_64::*;

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
pub(super) fn transpose8_out(src: &[f32], cols: usize, count: usize, dst: &mut [f32], stride: usize, lane0: usize) {
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
