//! Inverted dropout with a counter-based mask: element `i` of a call with `seed` is kept when
//! `uniform(seed, i) >= p`. Nothing is stored between forward and backward; the backward pass
//! regenerates the mask. The hash is plain u32 arithmetic so `shaders/dropout.wgsl` draws the
//! same mask bit for bit.

use crate::simd;

/// A 32-bit integer hash with good avalanche (Wellons' "lowbias32").
#[inline(always)]
pub fn hash_u32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The per-stream key: hashed once per call, not per element.
#[inline(always)]
pub fn stream_key(seed: u64) -> u32 {
    hash_u32(seed as u32 ^ hash_u32((seed >> 32) as u32 ^ 0x9e37_79b9))
}

/// The 24 random bits of element `index` of the stream `key`.
#[inline(always)]
fn draw_bits(key: u32, index: u32) -> u32 {
    hash_u32(key.wrapping_add(hash_u32(index))) >> 8
}

/// A uniform draw in [0, 1) with 24 bits, for element `index` of the stream `seed`.
#[inline(always)]
pub fn uniform(seed: u64, index: u32) -> f32 {
    draw_bits(stream_key(seed), index) as f32 * (1.0 / 16_777_216.0)
}

/// Whether element `index` survives dropout with drop probability `p`: the definition the
/// reference and `shaders/dropout.wgsl` use.
#[inline(always)]
pub fn keep_mask(seed: u64, index: u32, p: f32) -> bool {
    uniform(seed, index) >= p
}

/// `keep_mask` in integers: `bits * 2^-24 >= p` exactly when `bits >= ceil(p * 2^24)`, since
/// both sides are exact in f32 (24-bit integers, a power-of-two scale). Integer compares
/// vectorise where the float conversion of a u32 does not.
#[inline(always)]
fn keep_threshold(p: f32) -> u32 {
    (p * 16_777_216.0).ceil() as u32
}

/// `out[i] = x[i] / (1 - p)` where kept, else 0. `p` in [0, 1).
pub fn dropout(x: &[f32], p: f32, seed: u64, out: &mut [f32]) {
    apply_mask(x, p, seed, out);
}

/// The gradient of [`dropout`] with the same `p` and `seed`: the same mask on `dy`.
pub fn dropout_backward(dy: &[f32], p: f32, seed: u64, dx: &mut [f32]) {
    apply_mask(dy, p, seed, dx);
}

fn apply_mask(x: &[f32], p: f32, seed: u64, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "dropout: input {} and output {} lengths differ", x.len(), out.len());
    assert!((0.0..1.0).contains(&p), "dropout: p = {p} is outside [0, 1)");
    let scale = 1.0 / (1.0 - p);
    let isa = simd::isa();
    let chunk = crate::par_chunk_len(x.len(), 8);
    let (key, threshold) = (stream_key(seed), keep_threshold(p));
    let body = |start: usize, xs: &[f32], os: &mut [f32]| match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: both paths come from run-time detection of AVX2 (see `simd::detected`).
        simd::Isa::Avx2Fma | simd::Isa::Avx512 => unsafe { mask_avx2(xs, start as u32, key, threshold, scale, os) },
        _ => mask_scalar(xs, start as u32, key, threshold, scale, os),
    };
    use rayon::prelude::*;
    out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).enumerate().for_each(|(c, (os, xs))| body(c * chunk, xs, os));
}

fn mask_scalar(x: &[f32], start: u32, key: u32, threshold: u32, scale: f32, out: &mut [f32]) {
    let mut index = start;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = if draw_bits(key, index) >= threshold { v * scale } else { 0.0 };
        index = index.wrapping_add(1);
    }
}

/// [`mask_scalar`] eight lanes at a time: the compiler keeps the u32 hash scalar on its own.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn mask_avx2(x: &[f32], start: u32, key: u32, threshold: u32, scale: f32, out: &mut [f32]) {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx2")]
    fn hash8(v: __m256i) -> __m256i {
        let v = _mm256_xor_si256(v, _mm256_srli_epi32::<16>(v));
        let v = _mm256_mullo_epi32(v, _mm256_set1_epi32(0x7feb_352d));
        let v = _mm256_xor_si256(v, _mm256_srli_epi32::<15>(v));
        let v = _mm256_mullo_epi32(v, _mm256_set1_epi32(0x846c_a68bu32 as i32));
        _mm256_xor_si256(v, _mm256_srli_epi32::<16>(v))
    }
    let n = x.len().min(out.len());
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let (keys, limit, scales) = (_mm256_set1_epi32(key as i32), _mm256_set1_epi32(threshold as i32), _mm256_set1_ps(scale));
    let mut i = 0;
    while i + 8 <= n {
        let index = _mm256_add_epi32(_mm256_set1_epi32(start.wrapping_add(i as u32) as i32), lanes);
        // 24-bit draws and a threshold of at most 2^24: the signed compare is exact.
        let bits = _mm256_srli_epi32::<8>(hash8(_mm256_add_epi32(keys, hash8(index))));
        let drop = _mm256_castsi256_ps(_mm256_cmpgt_epi32(limit, bits));
        // SAFETY: i + 8 <= n <= both lengths, so the eight loads and stores are in bounds.
        unsafe {
            let v = _mm256_mul_ps(_mm256_loadu_ps(x.as_ptr().add(i)), scales);
            _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_andnot_ps(drop, v));
        }
        i += 8;
    }
    mask_scalar(&x[i..n], start.wrapping_add(i as u32), key, threshold, scale, &mut out[i..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_one_minus_p_and_scales() {
        let x = vec![1.0f32; 100_003];
        let mut y = vec![0.0; x.len()];
        for (isa, &p) in
            simd::available().into_iter().flat_map(|isa| [0.2f32, 0.5, 0.8, 1e-7, 0.3333333, 0.999].iter().map(move |p| (isa, p)))
        {
            simd::with_isa(isa, || dropout(&x, p, 42, &mut y));
            let kept = y.iter().filter(|&&v| v != 0.0).count() as f32 / x.len() as f32;
            assert!((kept - (1.0 - p)).abs() < 0.01, "p={p}: kept {kept}");
            // The integer threshold draws exactly the mask of the float definition.
            assert!(y.iter().all(|&v| v == 0.0 || v == 1.0 / (1.0 - p)));
            let expect = crate::reference::dropout(&vec![1.0; x.len()], p, 42);
            assert!(
                y.iter().zip(&expect).all(|(a, b)| (*a == 0.0) == (*b == 0.0) && (*a as f64 - b).abs() <= 1e-6 * b.abs()),
                "{isa:?} p={p}: mask or scale differs from the reference"
            );
        }
    }

    #[test]
    fn seeds_give_different_masks_and_backward_matches_forward() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32 + 1.0).collect();
        let (mut a, mut b, mut d) = (vec![0.0; 1000], vec![0.0; 1000], vec![0.0; 1000]);
        dropout(&x, 0.5, 1, &mut a);
        dropout(&x, 0.5, 2, &mut b);
        assert_ne!(a, b);
        dropout_backward(&x, 0.5, 1, &mut d);
        assert_eq!(a, d);
        dropout(&x, 0.0, 7, &mut a);
        assert_eq!(a, x, "p = 0 keeps everything");
    }
}
