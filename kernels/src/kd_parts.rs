//! What a distillation step is made of, row by row: the parts of the KD loss and how closely the
//! student follows its teacher. The study tools log their means; nothing here feeds a gradient.
//!
//! Per row, at the training temperature `t` unless said: `KL(pt || ps)`, the cross-entropy on
//! the label at 1, TCKD and NCKD (the decoupled split of the KL: `KL = TCKD + (1 - pt_y) NCKD`,
//! see [`crate::dkd_loss`]), whether student and teacher pick the same top-1 class, and
//! `KL(pt || ps)` at 1 (the predictive KL).

use crate::kd_loss::{KdOutputs, kd_loss};

/// Values per row of [`kd_parts`], in this order.
pub const PARTS: usize = 6;
/// `KL(pt || ps)` at `t`.
pub const KL: usize = 0;
/// Cross-entropy of the student's logits against the label, at 1.
pub const CE: usize = 1;
pub const TCKD: usize = 2;
pub const NCKD: usize = 3;
/// 1 where the student's arg-max (first on ties) is the teacher's, else 0.
pub const AGREE: usize = 4;
/// `KL(pt || ps)` at 1.
pub const KL_T1: usize = 5;

/// The parts of each row of student logits `zs` against teacher logits `zt` (`rows x cols`) and
/// `labels`, at temperature `t`, into `out (rows x PARTS)`: the KD loss's pass, parts only.
#[allow(clippy::too_many_arguments)]
pub fn kd_parts(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, out: &mut [f32]) {
    let mut row_loss = vec![0.0; rows];
    kd_loss(rows, cols, zs, zt, labels, t, 1.0, KdOutputs { row_loss: &mut row_loss, grad: None, parts: Some(out) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{Rng, f64s, logits_and_labels};

    /// Each part against its definition in f64: the KLs and the cross-entropy from the reference
    /// softmax, agreement from the reference arg-max, and TCKD + (1 - pt_y) NCKD = KL.
    #[test]
    fn parts_match_their_definitions() {
        for isa in crate::simd::available() {
            crate::simd::with_isa(isa, parts_match_their_definitions_on_this_path);
        }
    }

    fn parts_match_their_definitions_on_this_path() {
        let mut rng = Rng::new(61);
        for &(r, c) in &[(1usize, 1usize), (7, 7), (3, 33), (2, 1000), (129, 10), (40, 1000)] {
            for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
                let (mut zs, mut zt, y) = logits_and_labels(&mut rng, r, c, 5.0);
                // A row where the label holds nearly everything in both, and one in the teacher only.
                if r > 2 {
                    zs[c + y[1] as usize] = 60.0 * t;
                    zt[c + y[1] as usize] = 60.0 * t;
                    zt[2 * c + y[2] as usize] = 60.0 * t;
                }
                // And one where the others' exponentials underflow f32 (the f64 path's rows).
                if r > 3 {
                    zs[3 * c + y[3] as usize] = 200.0 * t;
                    zt[3 * c + y[3] as usize] = 150.0 * t;
                }
                // Some rows where the two agree.
                zt[..c].copy_from_slice(&zs[..c]);
                let mut out = vec![f32::NAN; r * PARTS];
                kd_parts(r, c, &zs, &zt, &y, t, &mut out);
                let (zs64, zt64) = (f64s(&zs), f64s(&zt));
                let (ams, amt) = (reference::argmax_rows(r, c, &zs64), reference::argmax_rows(r, c, &zt64));
                let lp1 = reference::log_softmax(r, c, &zs64, 1.0);
                let pt = reference::softmax(r, c, &zt64, t as f64);
                for i in 0..r {
                    let row = |z: &[f64]| z[i * c..(i + 1) * c].to_vec();
                    let o = &out[i * PARTS..(i + 1) * PARTS];
                    let close = |got: f32, want: f64, what: &str| {
                        assert!(
                            (got as f64 - want).abs() <= 1e-5 + 1e-4 * want.abs(),
                            "{what} {:?} {r}x{c} t={t} row {i}: {got} against {want}",
                            crate::simd::isa()
                        );
                    };
                    close(o[KL], reference::kl_t(&row(&zt64), &row(&zs64), t as f64), "KL at t");
                    close(o[KL_T1], reference::kl_t(&row(&zt64), &row(&zs64), 1.0), "KL at 1");
                    close(o[CE], -lp1[i * c + y[i] as usize], "CE");
                    close(o[AGREE], (ams[i] == amt[i]) as u32 as f64, "agreement");
                    let kl = o[KL] as f64;
                    close((o[TCKD] as f64 + (1.0 - pt[i * c + y[i] as usize]) * o[NCKD] as f64) as f32, kl, "TCKD + (1 - pt_y) NCKD");
                }
                assert_eq!(out[AGREE], 1.0, "identical rows agree");
            }
        }
    }

    #[test]
    fn extreme_logits_give_finite_parts() {
        let mut rng = Rng::new(62);
        for &t in &[0.5f32, 100.0] {
            let (zs, zt, y) = logits_and_labels(&mut rng, 5, 1000, 1e4);
            let mut out = vec![0.0; 5 * PARTS];
            kd_parts(5, 1000, &zs, &zt, &y, t, &mut out);
            assert!(out.iter().all(|v| v.is_finite() && *v >= 0.0), "t={t}: {out:?}");
        }
    }
}
