//! Optimizer updates, in place on flat parameter slices: SGD with momentum (weight decay and a
//! max-norm constraint on incoming weights, as in Hinton's dropout nets) and AdamW.

use crate::simd;
use rayon::prelude::*;

/// SGD with momentum, PyTorch's convention: `v = mu v + g + wd w; w -= lr v`. All slices one length.
pub fn sgd_momentum(w: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, momentum: f32, weight_decay: f32) {
    assert!(w.len() == g.len() && w.len() == v.len(), "sgd_momentum: w {}, g {}, v {}", w.len(), g.len(), v.len());
    let isa = simd::isa();
    let chunk = crate::par_chunk_len(w.len(), 8);
    w.par_chunks_mut(chunk).zip(v.par_chunks_mut(chunk)).zip(g.par_chunks(chunk)).for_each(|((w, v), g)| {
        simd::dispatch!(isa, {
            for ((w, v), &g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                *v = momentum * *v + g + weight_decay * *w;
                *w -= lr * *v;
            }
        })
    });
}

/// Rescales every column of `w (rows x cols)` (the incoming weights of one unit, for `x W`)
/// whose L2 norm exceeds `max_norm` back onto the ball of that radius.
pub fn max_norm_columns(rows: usize, cols: usize, w: &mut [f32], max_norm: f32) {
    assert_eq!(w.len(), rows * cols, "max_norm_columns: {rows}x{cols} expects {} values, got {}", rows * cols, w.len());
    let mut norms = vec![0.0f32; cols];
    for row in w.chunks(cols) {
        norms.iter_mut().zip(row).for_each(|(n, &v)| *n += v * v);
    }
    let factors: Vec<f32> = norms.iter().map(|&n| if n.sqrt() > max_norm { max_norm / n.sqrt() } else { 1.0 }).collect();
    if factors.iter().all(|&f| f == 1.0) {
        return;
    }
    w.par_chunks_mut(cols).for_each(|row| row.iter_mut().zip(&factors).for_each(|(v, &f)| *v *= f));
}

/// AdamW: Adam with bias correction and decoupled weight decay; `step` counts from 1.
#[allow(clippy::too_many_arguments)]
pub fn adam(
    w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, beta1: f32, beta2: f32, eps: f32, step: u32, weight_decay: f32,
) {
    assert!(
        w.len() == g.len() && w.len() == m.len() && w.len() == v.len(),
        "adam: w {}, g {}, m {}, v {}",
        w.len(),
        g.len(),
        m.len(),
        v.len()
    );
    assert!(step >= 1, "adam: step counts from 1");
    let c1 = 1.0 - beta1.powi(step as i32);
    let c2 = 1.0 - beta2.powi(step as i32);
    let isa = simd::isa();
    let chunk = crate::par_chunk_len(w.len(), 8);
    w.par_chunks_mut(chunk).zip(m.par_chunks_mut(chunk)).zip(v.par_chunks_mut(chunk)).zip(g.par_chunks(chunk)).for_each(
        |(((w, m), v), g)| {
            simd::dispatch!(isa, {
                for (((w, m), v), &g) in w.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                    *m = beta1 * *m + (1.0 - beta1) * g;
                    *v = beta2 * *v + (1.0 - beta2) * g * g;
                    *w -= lr * ((*m / c1) / ((*v / c2).sqrt() + eps) + weight_decay * *w);
                }
            })
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::simd::with_isa;
    use crate::testing::{Rng, Tolerance, assert_close, f64s};

    #[test]
    fn updates_match_reference_both_isas() {
        let mut rng = Rng::new(11);
        for isa in crate::simd::available() {
            with_isa(isa, || {
                for n in [1usize, 7, 33, 100_003] {
                    let (w0, g, v0) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0), rng.vec(n, -0.1, 0.1));
                    let (mut w, mut v) = (w0.clone(), v0.clone());
                    let (mut wr, mut vr) = (f64s(&w0), f64s(&v0));
                    for _ in 0..3 {
                        sgd_momentum(&mut w, &g, &mut v, 0.05, 0.9, 1e-4);
                        reference::sgd_momentum(&mut wr, &f64s(&g), &mut vr, 0.05, 0.9, 1e-4);
                    }
                    assert_close(&format!("sgd {isa:?} n={n}"), &w, &wr, Tolerance::FORWARD);
                    let (mut w, mut m, mut v) = (w0.clone(), vec![0.0; n], vec![0.0; n]);
                    let (mut wr, mut mr, mut vr) = (f64s(&w0), vec![0.0; n], vec![0.0; n]);
                    for step in 1..=3 {
                        adam(&mut w, &g, &mut m, &mut v, 1e-3, 0.9, 0.999, 1e-8, step, 1e-2);
                        reference::adam(&mut wr, &f64s(&g), &mut mr, &mut vr, 1e-3, 0.9, 0.999, 1e-8, step, 1e-2);
                    }
                    assert_close(&format!("adam {isa:?} n={n}"), &w, &wr, Tolerance::FORWARD);
                }
            })
        }
    }

    #[test]
    fn max_norm_caps_only_long_columns() {
        let mut rng = Rng::new(12);
        let (r, c) = (33, 7);
        let w0 = rng.vec(r * c, -1.0, 1.0);
        let mut w = w0.clone();
        let mut wr = f64s(&w0);
        max_norm_columns(r, c, &mut w, 2.0);
        reference::max_norm_columns(r, c, &mut wr, 2.0);
        assert_close("max_norm_columns", &w, &wr, Tolerance::FORWARD);
        for j in 0..c {
            let norm: f32 = (0..r).map(|i| w[i * c + j].powi(2)).sum::<f32>().sqrt();
            assert!(norm <= 2.0 + 1e-4, "column {j} norm {norm}");
        }
    }
}
