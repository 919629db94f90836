//! The knowledge-distillation loss, forward and fused backward, one pass per row:
//!
//! `L = 1/B sum_rows [ alpha * t^2 * KL(softmax(zt/t) || softmax(zs/t)) + (1 - alpha) * CE(zs, y) ]`
//!
//! and `dL/dzs = [alpha * t * (softmax(zs/t) - softmax(zt/t)) + (1 - alpha) * (softmax(zs) - onehot(y))] / B`.
//! The `t^2` keeps the soft term's gradient at the hard term's scale as `t` grows (Hinton et al.
//! 2015). Cross-entropy alone is this loss with `alpha = 0`.

use crate::for_each_row;
use crate::softmax::{row_max, softmax_row};

/// Per-row loss into `row_loss (rows)` (not yet divided by the batch size).
/// `zs`, `zt`: `rows x cols` student and teacher logits; `labels`: `rows`, each `< cols`.
#[allow(clippy::too_many_arguments)]
pub fn kd_loss(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, alpha: f32, row_loss: &mut [f32]) {
    check(rows, cols, zs, zt, labels, t, alpha, "kd_loss");
    assert_eq!(row_loss.len(), rows, "kd_loss: row_loss has {} values for {rows} rows", row_loss.len());
    for_each_row(row_loss, 1, |i, out| {
        let (zs, zt) = (&zs[i * cols..(i + 1) * cols], &zt[i * cols..(i + 1) * cols]);
        let mut soft = 0.0f64;
        if alpha > 0.0 {
            // KL(pt || ps) = sum pt (log pt - log ps) in f64: at t = 100 the terms are ~1e-3
            // and cancel to ~1e-5, then t^2 = 1e4 magnifies f32's rounding to 1e-3.
            let (lse_s, max_s) = log_sum_exp_f64(zs, t);
            let (lse_t, max_t) = log_sum_exp_f64(zt, t);
            let inv_t = 1.0 / t as f64;
            for j in 0..cols {
                let lt = (zt[j] as f64 - max_t) * inv_t - lse_t;
                let ls = (zs[j] as f64 - max_s) * inv_t - lse_s;
                soft += lt.exp() * (lt - ls);
            }
        }
        let (lse, max) = log_sum_exp_f64(zs, 1.0);
        let hard = lse - (zs[labels[i] as usize] as f64 - max);
        out[0] = (alpha as f64 * (t as f64).powi(2) * soft.max(0.0) + (1.0 - alpha as f64) * hard) as f32;
    });
}

/// The fused gradient: `dzs = scale * [alpha t (ps_t - pt_t) + (1 - alpha)(ps_1 - onehot)]`.
/// `scale` is the upstream gradient over the batch size. Shapes as [`kd_loss`].
#[allow(clippy::too_many_arguments)]
pub fn kd_loss_backward(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, alpha: f32, scale: f32, dzs: &mut [f32]) {
    check(rows, cols, zs, zt, labels, t, alpha, "kd_loss_backward");
    assert_eq!(dzs.len(), rows * cols, "kd_loss_backward: dzs has {} values for {rows}x{cols}", dzs.len());
    for_each_row(dzs, cols, |i, d| {
        let (zs, zt) = (&zs[i * cols..(i + 1) * cols], &zt[i * cols..(i + 1) * cols]);
        with_row_scratch(cols, |ps, pt| {
            d.iter_mut().for_each(|v| *v = 0.0);
            if alpha > 0.0 {
                softmax_row(zs, t, ps);
                softmax_row(zt, t, pt);
                let k = scale * alpha * t;
                for j in 0..cols {
                    d[j] = k * (ps[j] - pt[j]);
                }
            }
            softmax_row(zs, 1.0, ps);
            let k = scale * (1.0 - alpha);
            for j in 0..cols {
                d[j] += k * ps[j];
            }
            d[labels[i] as usize] -= k;
        })
    });
}

#[allow(clippy::too_many_arguments)]
fn check(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, alpha: f32, op: &str) {
    check_logits(rows, cols, zs, zt, labels, t, op);
    assert!((0.0..=1.0).contains(&alpha), "{op}: alpha {alpha} outside [0, 1]");
}

/// The checks every loss on two logit matrices makes: shapes, labels in range, `t > 0`.
pub(crate) fn check_logits(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, op: &str) {
    assert!(
        zs.len() == rows * cols && zt.len() == rows * cols,
        "{op}: {rows}x{cols} logits expected, got student {} and teacher {} values",
        zs.len(),
        zt.len()
    );
    assert!(labels.len() == rows, "{op}: {} labels for {rows} rows", labels.len());
    assert!(cols > 0, "{op}: no classes");
    assert!(t > 0.0 && t.is_finite(), "{op}: temperature {t} must be positive and finite");
    if let Some(bad) = labels.iter().find(|&&y| y as usize >= cols) {
        panic!("{op}: label {bad} out of range for {cols} classes");
    }
}

/// Two `cols`-long scratch rows from this thread's buffer: no allocation after the first call.
fn with_row_scratch<R>(cols: usize, f: impl FnOnce(&mut [f32], &mut [f32]) -> R) -> R {
    use std::cell::RefCell;
    thread_local!(static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) });
    SCRATCH.with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < 2 * cols {
            s.resize(2 * cols, 0.0);
        }
        let (a, b) = s[..2 * cols].split_at_mut(cols);
        f(a, b)
    })
}

/// `(log sum_j exp((x_j - max) / t), max)` in f64.
pub(crate) fn log_sum_exp_f64(x: &[f32], t: f32) -> (f64, f64) {
    let max = row_max(x) as f64;
    let inv_t = 1.0 / t as f64;
    (x.iter().map(|&v| ((v as f64 - max) * inv_t).exp()).sum::<f64>().ln(), max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::simd::{Isa, with_isa};
    use crate::testing::{Rng, Tolerance, assert_close, assert_finite_rows_sum_to_zero, f64s, logits_and_labels, numeric_gradient};

    fn loss(rows: usize, cols: usize, zs: &[f32], zt: &[f32], y: &[u32], t: f32, alpha: f32) -> f32 {
        let mut per_row = vec![0.0; rows];
        kd_loss(rows, cols, zs, zt, y, t, alpha, &mut per_row);
        per_row.iter().sum::<f32>() / rows as f32
    }

    #[test]
    fn forward_matches_reference_on_odd_shapes_and_extremes() {
        let mut rng = Rng::new(5);
        for &(r, c) in &[(1usize, 1usize), (7, 7), (3, 33), (2, 1000), (129, 10)] {
            for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
                for &alpha in &[0.0f32, 0.5, 0.9, 1.0] {
                    for scale in [3.0f32, 1e4] {
                        let (zs, zt, y) = (rng.vec(r * c, -scale, scale), rng.vec(r * c, -scale, scale), rng.labels(r, c));
                        let got = loss(r, c, &zs, &zt, &y, t, alpha);
                        let want = reference::kd_loss(r, c, &f64s(&zs), &f64s(&zt), &y, t as f64, alpha as f64);
                        assert!(got.is_finite(), "kd loss {r}x{c} t={t} alpha={alpha} scale={scale}: {got}");
                        // Losses reach t^2 * 2e4 / t on extreme logits: relative tolerance.
                        assert_close(
                            &format!("kd_loss {r}x{c} t={t} alpha={alpha} scale={scale}"),
                            &[got],
                            &[want],
                            Tolerance { abs: 1e-4, rel: 1e-4 },
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn identical_logits_leave_only_the_hard_term() {
        let mut rng = Rng::new(6);
        let z = rng.vec(4 * 10, -2.0, 2.0);
        let y = rng.labels(4, 10);
        let ce = loss(4, 10, &z, &z, &y, 1.0, 0.0);
        let mixed = loss(4, 10, &z, &z, &y, 7.0, 0.9);
        assert!((mixed - 0.1 * ce).abs() < 1e-5, "KL(p||p) = 0: got {mixed}, want {}", 0.1 * ce);
    }

    #[test]
    fn fused_backward_matches_finite_differences_both_isas() {
        let mut rng = Rng::new(7);
        for isa in [Isa::Scalar, Isa::Avx2Fma] {
            with_isa(isa, || {
                for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 33)] {
                    for &t in &[0.5f32, 2.0, 20.0, 100.0] {
                        for &alpha in &[0.0f32, 0.7, 1.0] {
                            let (zs, zt, y) = (rng.vec(r * c, -3.0, 3.0), rng.vec(r * c, -3.0, 3.0), rng.labels(r, c));
                            let mut d = vec![0.0; r * c];
                            kd_loss_backward(r, c, &zs, &zt, &y, t, alpha, 1.0 / r as f32, &mut d);
                            let ztd = f64s(&zt);
                            let num = numeric_gradient(&f64s(&zs), |zs| reference::kd_loss(r, c, zs, &ztd, &y, t as f64, alpha as f64));
                            assert_close(&format!("kd_loss_backward {isa:?} {r}x{c} t={t} alpha={alpha}"), &d, &num, Tolerance::GRADIENT);
                        }
                    }
                }
            })
        }
    }

    #[test]
    fn backward_is_finite_on_extreme_logits() {
        let mut rng = Rng::new(8);
        for &t in &[0.5f32, 100.0] {
            let (zs, zt, y) = logits_and_labels(&mut rng, 5, 1000, 1e4);
            let mut d = vec![0.0; 5 * 1000];
            kd_loss_backward(5, 1000, &zs, &zt, &y, t, 0.9, 0.2, &mut d);
            // Both softmaxes and the one-hot sum to one.
            assert_finite_rows_sum_to_zero(&format!("kd_loss_backward t={t}"), &d, 1000, 1e-3);
        }
    }
}
