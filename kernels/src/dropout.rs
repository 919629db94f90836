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

/// A uniform draw in [0, 1) with 24 bits, for element `index` of the stream `seed`.
#[inline(always)]
pub fn uniform(seed: u64, index: u32) -> f32 {
    let key = hash_u32(seed as u32 ^ hash_u32((seed >> 32) as u32 ^ 0x9e37_79b9));
    let bits = hash_u32(key.wrapping_add(hash_u32(index)));
    (bits >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Whether element `index` survives dropout with drop probability `p`.
#[inline(always)]
pub fn keep_mask(seed: u64, index: u32, p: f32) -> bool {
    uniform(seed, index) >= p
}

/// `out[i] = x[i] / (1 - p)` where kept, else 0. `p` in [0, 1).
pub fn dropout_forward(x: &[f32], p: f32, seed: u64, out: &mut [f32]) {
    apply_mask(x, p, seed, out);
}

/// The gradient of [`dropout_forward`] with the same `p` and `seed`: the same mask on `dy`.
pub fn dropout_backward(dy: &[f32], p: f32, seed: u64, dx: &mut [f32]) {
    apply_mask(dy, p, seed, dx);
}

fn apply_mask(x: &[f32], p: f32, seed: u64, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "dropout: input {} and output {} lengths differ", x.len(), out.len());
    assert!((0.0..1.0).contains(&p), "dropout: p = {p} is outside [0, 1)");
    let scale = 1.0 / (1.0 - p);
    let isa = simd::isa();
    let chunk = crate::par_chunk_len(x.len(), 8);
    let body = |start: usize, xs: &[f32], os: &mut [f32]| {
        simd::dispatch(isa, || {
            for (k, (o, &v)) in os.iter_mut().zip(xs).enumerate() {
                *o = if keep_mask(seed, (start + k) as u32, p) { v * scale } else { 0.0 };
            }
        })
    };
    use rayon::prelude::*;
    out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).enumerate().for_each(|(c, (os, xs))| body(c * chunk, xs, os));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_one_minus_p_and_scales() {
        let x = vec![1.0f32; 100_003];
        let mut y = vec![0.0; x.len()];
        for &p in &[0.2f32, 0.5, 0.8] {
            dropout_forward(&x, p, 42, &mut y);
            let kept = y.iter().filter(|&&v| v != 0.0).count() as f32 / x.len() as f32;
            assert!((kept - (1.0 - p)).abs() < 0.01, "p={p}: kept {kept}");
            assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / (1.0 - p)).abs() < 1e-6));
            let expect = crate::reference::dropout(&vec![1.0; x.len()], p, 42);
            assert!(y.iter().zip(&expect).all(|(a, b)| (*a as f64 - b).abs() < 1e-6));
        }
    }

    #[test]
    fn seeds_give_different_masks_and_backward_matches_forward() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32 + 1.0).collect();
        let (mut a, mut b, mut d) = (vec![0.0; 1000], vec![0.0; 1000], vec![0.0; 1000]);
        dropout_forward(&x, 0.5, 1, &mut a);
        dropout_forward(&x, 0.5, 2, &mut b);
        assert_ne!(a, b);
        dropout_backward(&x, 0.5, 1, &mut d);
        assert_eq!(a, d);
        dropout_forward(&x, 0.0, 7, &mut a);
        assert_eq!(a, x, "p = 0 keeps everything");
    }
}
