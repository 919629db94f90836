//! Decoupled knowledge distillation (Zhao et al. 2022), forward and backward, one pass per row.
//!
//! With `y` the true class, `p = softmax(z / t)`, the binary split `b = [p_y, 1 - p_y]` and `p^`
//! the distribution over the other classes (softmax of the logits with `y` left out):
//!
//! `KL(pt || ps) = TCKD + (1 - pt_y) NCKD`, `TCKD = KL(bt || bs)`, `NCKD = KL(pt^ || ps^)`,
//!
//! and DKD weighs the two parts freely: `L = 1/B sum_rows t^2 (alpha TCKD + beta NCKD)`. Its
//! gradient, with `ps^` and `pt^` zero at `y`:
//!
//! `dL/dzs = t / B [alpha (ps_y - pt_y)(onehot(y) - ps^) + beta (ps^ - pt^)]`.
//!
//! Every log-probability is taken from a max-shifted log-sum-exp in f64, so logits of +-1e4 and a
//! class holding all the probability give exact zeros, never `0 * log 0 = NaN`.

use crate::for_each_row;
use crate::kd_loss::check_logits;

/// Per-row DKD loss `t^2 (alpha TCKD + beta NCKD)` into `row_loss (rows)` (not yet divided by
/// the batch size). `zs`, `zt`: `rows x cols` logits; `labels`: `rows`, each `< cols`.
#[allow(clippy::too_many_arguments)]
pub fn dkd_loss(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, alpha: f32, beta: f32, row_loss: &mut [f32]) {
    check(rows, cols, zs, zt, labels, t, alpha, beta, "dkd_loss");
    assert_eq!(row_loss.len(), rows, "dkd_loss: row_loss has {} values for {rows} rows", row_loss.len());
    for_each_row(row_loss, 1, |i, out| {
        let parts = dkd_parts(&zs[i * cols..(i + 1) * cols], &zt[i * cols..(i + 1) * cols], labels[i] as usize, t);
        let t = t as f64;
        out[0] = (t * t * (alpha as f64 * parts.tckd + beta as f64 * parts.nckd)) as f32;
    });
}

/// The gradient `dzs = scale * t * [alpha (ps_y - pt_y)(onehot - ps^) + beta (ps^ - pt^)]`, with
/// `scale` the upstream gradient over the batch size. Shapes as [`dkd_loss`].
#[allow(clippy::too_many_arguments)]
pub fn dkd_loss_backward(
    rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, alpha: f32, beta: f32, scale: f32, dzs: &mut [f32],
) {
    check(rows, cols, zs, zt, labels, t, alpha, beta, "dkd_loss_backward");
    assert_eq!(dzs.len(), rows * cols, "dkd_loss_backward: dzs has {} values for {rows}x{cols}", dzs.len());
    let k = scale as f64 * t as f64;
    for_each_row(dzs, cols, |i, d| {
        let (zs, zt, y) = (&zs[i * cols..(i + 1) * cols], &zt[i * cols..(i + 1) * cols], labels[i] as usize);
        let (s, te) = (RowStats::new(zs, y, t), RowStats::new(zt, y, t));
        let target = alpha as f64 * (s.log_target.exp() - te.log_target.exp());
        for j in 0..cols {
            d[j] = if j == y {
                (k * target) as f32
            } else {
                let (ps_hat, pt_hat) = (s.log_others(zs[j]).exp(), te.log_others(zt[j]).exp());
                (k * (beta as f64 * (ps_hat - pt_hat) - target * ps_hat)) as f32
            };
        }
    });
}

/// The two parts of one row's KL at temperature `t`: `KL(pt || ps) = tckd + (1 - pt_y) nckd`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DkdParts {
    /// `KL(bt || bs)`, the binary target-versus-rest part.
    pub tckd: f64,
    /// `KL(pt^ || ps^)` over the non-target classes.
    pub nckd: f64,
    /// The teacher's probability of the true class at `t`.
    pub teacher_target: f64,
}

/// TCKD and NCKD of one row of student logits `zs` against teacher logits `zt`, true class `y`.
pub fn dkd_parts(zs: &[f32], zt: &[f32], y: usize, t: f32) -> DkdParts {
    let (s, te) = (RowStats::new(zs, y, t), RowStats::new(zt, y, t));
    // Binary KL: each term is skipped where the teacher's probability is exactly 0.
    let kl_term = |log_p: f64, log_q: f64| if log_p == f64::NEG_INFINITY { 0.0 } else { log_p.exp() * (log_p - log_q) };
    let tckd = kl_term(te.log_target, s.log_target) + kl_term(te.log_rest, s.log_rest);
    let mut nckd = 0.0;
    if zs.len() > 1 {
        for j in (0..zs.len()).filter(|&j| j != y) {
            nckd += kl_term(te.log_others(zt[j]), s.log_others(zs[j]));
        }
    }
    DkdParts { tckd: tckd.max(0.0), nckd: nckd.max(0.0), teacher_target: te.log_target.exp() }
}

/// A row's log-sum-exps at temperature `t`, over all classes and over all but `y`, in f64.
struct RowStats {
    inv_t: f64,
    /// `log p_y`.
    log_target: f64,
    /// `log (1 - p_y) = log sum_{j != y} p_j`; `-inf` with one class.
    log_rest: f64,
    /// Max and log-sum-exp over the classes other than `y`.
    others_max: f64,
    others_lse: f64,
}

impl RowStats {
    fn new(z: &[f32], y: usize, t: f32) -> Self {
        let inv_t = 1.0 / t as f64;
        let lse = |skip: Option<usize>| {
            let vals = || z.iter().enumerate().filter(move |&(j, _)| Some(j) != skip).map(|(_, &v)| v as f64);
            let max = vals().fold(f64::NEG_INFINITY, f64::max);
            if max == f64::NEG_INFINITY {
                return (max, f64::NEG_INFINITY);
            }
            (max, vals().map(|v| ((v - max) * inv_t).exp()).sum::<f64>().ln())
        };
        let (all_max, all_lse) = lse(None);
        let (others_max, others_lse) = lse(Some(y));
        let log_target = (z[y] as f64 - all_max) * inv_t - all_lse;
        let log_rest =
            if others_max == f64::NEG_INFINITY { f64::NEG_INFINITY } else { (others_max - all_max) * inv_t + others_lse - all_lse };
        RowStats { inv_t, log_target, log_rest, others_max, others_lse }
    }

    /// `log p^_j` of a class `j != y` with logit `z_j`.
    fn log_others(&self, z_j: f32) -> f64 {
        (z_j as f64 - self.others_max) * self.inv_t - self.others_lse
    }
}

#[allow(clippy::too_many_arguments)]
fn check(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, alpha: f32, beta: f32, op: &str) {
    check_logits(rows, cols, zs, zt, labels, t, op);
    let finite = alpha >= 0.0 && beta >= 0.0 && alpha.is_finite() && beta.is_finite();
    assert!(finite, "{op}: alpha {alpha} and beta {beta} must be finite, >= 0");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{Rng, Tolerance, assert_close, assert_finite_rows_sum_to_zero, f64s, logits_and_labels, numeric_gradient};

    #[allow(clippy::too_many_arguments)]
    fn loss(rows: usize, cols: usize, zs: &[f32], zt: &[f32], y: &[u32], t: f32, alpha: f32, beta: f32) -> f32 {
        let mut per_row = vec![0.0; rows];
        dkd_loss(rows, cols, zs, zt, y, t, alpha, beta, &mut per_row);
        per_row.iter().sum::<f32>() / rows as f32
    }

    #[test]
    fn forward_matches_reference_on_odd_shapes() {
        let mut rng = Rng::new(41);
        for &(r, c) in &[(1usize, 1usize), (7, 7), (3, 33), (2, 1000), (129, 10)] {
            for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
                for &(alpha, beta) in &[(1.0f32, 8.0f32), (0.0, 1.0), (1.0, 0.0), (0.5, 2.0)] {
                    let (zs, zt, y) = (rng.vec(r * c, -5.0, 5.0), rng.vec(r * c, -5.0, 5.0), rng.labels(r, c));
                    let got = loss(r, c, &zs, &zt, &y, t, alpha, beta);
                    let want = reference::dkd_loss(r, c, &f64s(&zs), &f64s(&zt), &y, t as f64, alpha as f64, beta as f64);
                    let op = format!("dkd_loss {r}x{c} t={t} alpha={alpha} beta={beta}");
                    assert_close(&op, &[got], &[want], Tolerance { abs: 1e-5, rel: 1e-4 });
                }
            }
        }
    }

    /// `KL(pt || ps) = TCKD + (1 - pt_y) NCKD`, to 1e-6, on ordinary and extreme logits, including
    /// rows where one class holds all the probability.
    #[test]
    fn parts_add_up_to_the_kl() {
        let mut rng = Rng::new(42);
        for &c in &[2usize, 7, 33, 1000] {
            for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
                for scale in [3.0f32, 1e4] {
                    let (mut zs, mut zt) = (rng.vec(c, -scale, scale), rng.vec(c, -scale, scale));
                    let y = rng.below(c);
                    if scale > 1e3 {
                        // One class with all the probability: the true class in the teacher,
                        // another in the student.
                        zt[y] = 2e4;
                        zs[(y + 1) % c] = 2e4;
                    }
                    let p = dkd_parts(&zs, &zt, y, t);
                    let kl = reference::kl_t(&f64s(&zt), &f64s(&zs), t as f64);
                    let sum = p.tckd + (1.0 - p.teacher_target) * p.nckd;
                    assert!(p.tckd.is_finite() && p.nckd.is_finite(), "c={c} t={t} scale={scale}: {p:?}");
                    assert!(
                        (sum - kl).abs() <= 1e-6 * kl.abs().max(1.0),
                        "c={c} t={t} scale={scale}: tckd + (1 - pt) nckd = {sum}, KL = {kl}"
                    );
                }
            }
        }
    }

    #[test]
    fn extreme_logits_give_finite_loss_and_gradient() {
        let mut rng = Rng::new(44);
        for &t in &[0.5f32, 100.0] {
            let (zs, zt, y) = logits_and_labels(&mut rng, 5, 1000, 1e4);
            let l = loss(5, 1000, &zs, &zt, &y, t, 1.0, 8.0);
            assert!(l.is_finite() && l >= 0.0, "t={t}: loss {l}");
            let mut d = vec![0.0; 5 * 1000];
            dkd_loss_backward(5, 1000, &zs, &zt, &y, t, 1.0, 8.0, 0.2, &mut d);
            // Both parts' gradients sum to zero over a row.
            assert_finite_rows_sum_to_zero(&format!("dkd_loss_backward t={t}"), &d, 1000, 1e-3);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = Rng::new(43);
        for &(r, c) in &[(1usize, 1usize), (1, 2), (3, 7), (2, 33)] {
            for &t in &[0.5f32, 2.0, 4.0, 100.0] {
                for &(alpha, beta) in &[(1.0f32, 8.0f32), (0.3, 0.0), (0.0, 2.0)] {
                    let (zs, zt, y) = (rng.vec(r * c, -3.0, 3.0), rng.vec(r * c, -3.0, 3.0), rng.labels(r, c));
                    let mut d = vec![f32::NAN; r * c];
                    dkd_loss_backward(r, c, &zs, &zt, &y, t, alpha, beta, 1.0 / r as f32, &mut d);
                    let ztd = f64s(&zt);
                    let num =
                        numeric_gradient(&f64s(&zs), |zs| reference::dkd_loss(r, c, zs, &ztd, &y, t as f64, alpha as f64, beta as f64));
                    assert_close(&format!("dkd_loss_backward {r}x{c} t={t} alpha={alpha} beta={beta}"), &d, &num, Tolerance::GRADIENT);
                }
            }
        }
    }
}
