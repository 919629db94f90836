//! The KD pass of [`crate::kd_loss`] for rows narrower than a few vectors (MNIST's 10 classes):
//! a block of `N` rows is transposed so each lane holds one row and each vector one class. A row
//! kernel there would spend its time on a vector and a masked tail per sweep, and on the row's
//! scalar logs; here every instruction works on `N` rows, the logs included.
//!
//! Same loss, gradient and parts as the row kernel, the same care: sums to f64 accuracy
//! ([`LaneSum`]), the KL in its centred form ([`KlCentre`]), and at the row's arg-max, where the
//! probability is `1 / S`, `1 - p` from the unrounded sums (`S - 1`, the others' sum, since the
//! max's own term is exactly 1).

use crate::dkd_loss::dkd_parts;
use crate::kd_loss::{KdPass, KlCentre, Rows, TINY_OTHERS};
use crate::kd_parts::{AGREE, CE, KL, KL_T1, NCKD, PARTS, TCKD};
use crate::lane_sum::LaneSum;
use crate::lanes::Lanes;
use crate::softmax::{column_exps, column_max, exp2_factor, shifted_exp2};

/// Rows at most this wide go through [`kd_rows_as_lanes`]: at 16 classes it is 1.4x the row
/// kernel on AVX2, at 10 about 2.5x (at 32 the row kernel is ahead).
pub(crate) const MAX_COLS: usize = 16;

/// The width compiled on its own, a constant the sweeps unroll over: ten classes, MNIST's and
/// CIFAR-10's (softmax's rows-as-lanes kernel takes it too).
pub(crate) const OWN_WIDTH: usize = 10;

/// What a call computes: the soft and hard terms, the gradient, the parts.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Want {
    soft: bool,
    hard: bool,
    grad: bool,
    parts: bool,
}

/// A training step's call: both terms and the gradient, no parts.
const TRAINING: Want = Want { soft: true, hard: true, grad: true, parts: false };
/// A distillation step's call, which logs the parts: both terms, the gradient and the parts.
const LOGGED: Want = Want { soft: true, hard: true, grad: true, parts: true };

/// Loss, and the gradient and parts where asked for, of the rows of `zs`, `zt` (`loss.len()`
/// rows of `cols`), `N` rows at a time.
#[inline(always)]
pub(crate) fn kd_rows_as_lanes<L: Lanes>(
    l: L, s: KdPass, rows: Rows, loss: &mut [f32], grad: Option<&mut [f32]>, parts: Option<&mut [f32]>,
) {
    let want = Want {
        soft: s.alpha > 0.0 || parts.is_some(),
        hard: s.alpha < 1.0 || parts.is_some(),
        grad: grad.is_some(),
        parts: parts.is_some(),
    };
    // A training step's call is compiled on its own, its flags constants: the sums the parts
    // need are then gone from the sweeps, and on AVX2's 16 registers the others stop spilling
    // to the stack, where each sweep's step waited on a store and a load. Ten classes (MNIST's,
    // CIFAR-10's) on their own again, the width a constant: the sweeps unroll, and the scratch
    // zeroed per call is 7x10 vectors, not 7x16 (Zen 4, a 128x10 training call alternated with
    // the general one: AVX-512 2.30-2.36 -> 2.00 us, AVX2 3.00 -> 2.80). A distillation step,
    // which logs the parts, likewise (its call 4.5 -> 4.2 us on AVX-512, 6.2 -> 5.8 on AVX2).
    match (want, s.cols) {
        (TRAINING, OWN_WIDTH) => blocks::<L, OWN_WIDTH, true>(l, s, TRAINING, rows, loss, grad, parts),
        (TRAINING, _) => blocks::<L, MAX_COLS, false>(l, s, TRAINING, rows, loss, grad, parts),
        (LOGGED, OWN_WIDTH) => blocks::<L, OWN_WIDTH, true>(l, s, LOGGED, rows, loss, grad, parts),
        (_, OWN_WIDTH) => blocks::<L, OWN_WIDTH, true>(l, s, want, rows, loss, grad, parts),
        _ => blocks::<L, MAX_COLS, false>(l, s, want, rows, loss, grad, parts),
    }
}

/// [`kd_rows_as_lanes`] with its flags in `want`, on rows of at most `CAP` classes; with
/// `EXACT`, of exactly `CAP`.
#[inline(always)]
fn blocks<L: Lanes, const CAP: usize, const EXACT: bool>(
    l: L, s: KdPass, want: Want, rows: Rows, loss: &mut [f32], mut grad: Option<&mut [f32]>, mut parts: Option<&mut [f32]>,
) {
    let Rows { zs, zt, labels } = rows;
    let (cols, n) = (if EXACT { CAP } else { s.cols }, L::N);
    let Want { soft, hard, .. } = want;
    let (zero, one) = (l.splat(0.0), l.splat(1.0));
    // Transposed blocks, `cols` vectors each: the logits, their exponentials at t and at 1, and
    // the gradient. Vectors, not floats, so the sweeps' indexing is over `0..cols` alone; on the
    // stack, as a heap allocation and its free cost 5% of a 128x10 call.
    let mut scratch = [[zero; CAP]; 7];
    let [zs_t, zt_t, es, et, es1_own, et1_own, g_t] = scratch.each_mut();
    let (zs_t, zt_t, es, et) = (&mut zs_t[..cols], &mut zt_t[..cols], &mut es[..cols], &mut et[..cols]);
    let (es1_own, et1_own, g_t) = (&mut es1_own[..cols], &mut et1_own[..cols], &mut g_t[..cols]);
    let (k, k1, inv_t) = (exp2_factor(s.t), exp2_factor(1.0), 1.0 / s.t);
    let (a, t, kk) = (s.alpha, s.t, s.scale);
    // At t = 1 the exponentials at t are those at 1 (where they are computed at all).
    let same_t = soft && s.t == 1.0;
    // Each class's index in every lane, for the selects by label and arg-max.
    let mut classes = [zero; CAP];
    for (j, c) in classes.iter_mut().enumerate() {
        *c = l.splat(j as f32);
    }
    // `cols` long to the compiler too: the sweeps' `classes[j]` then need no bounds check.
    let classes = &classes[..cols];
    let sum_one = LaneSum::of(l, one);
    let mut lanes = [0.0f32; 16];
    for first in (0..loss.len()).step_by(n) {
        let count = n.min(loss.len() - first);
        // Lanes past the last row hold zero logits and label 0: finite, and never stored.
        l.transpose_in(&zs[first * cols..], cols, count, l.floats_mut(zs_t));
        l.transpose_in(&zt[first * cols..], cols, count, l.floats_mut(zt_t));
        lanes.fill(0.0);
        for (lane, &y) in lanes.iter_mut().zip(&labels[first..first + count]) {
            *lane = y as f32;
        }
        let y = l.load(&lanes);
        let (ms, mt) = (column_max(l, zs_t), column_max(l, zt_t));
        // Each row's first arg-max (student's and teacher's), and its label's logits.
        let (mut top, mut top_t, mut zy, mut zty) = (zero, zero, zero, zero);
        for j in (0..cols).rev() {
            let (jv, vs, vt) = (classes[j], zs_t[j], zt_t[j]);
            top = l.select_eq(vs, ms, jv, top);
            top_t = l.select_eq(vt, mt, jv, top_t);
            zy = l.select_eq(jv, y, vs, zy);
            zty = l.select_eq(jv, y, vt, zty);
        }
        // The exponentials at t and their sums (all classes, and all but the label's); the
        // teacher's at the student's arg-max.
        let (mut ssw, mut stw, mut ss_o, mut st_o) = (sum_one, sum_one, LaneSum::zero(l), LaneSum::zero(l));
        let mut et_top = zero;
        if soft {
            // Both rows' exponentials in one sweep (as `column_exps` twice, with what the
            // gradient and the parts need of them on the way: two sweeps cost 15% at 128x10).
            (ssw, stw) = (LaneSum::zero(l), LaneSum::zero(l));
            for j in 0..cols {
                let jv = classes[j];
                let (e_s, e_t) = (shifted_exp2(l, zs_t[j], ms, l.splat(k)), shifted_exp2(l, zt_t[j], mt, l.splat(k)));
                (es[j], et[j]) = (e_s, e_t);
                ssw = ssw.add(l, e_s);
                stw = stw.add(l, e_t);
                et_top = l.select_eq(jv, top, e_t, et_top);
                if want.parts {
                    ss_o = ss_o.add(l, l.select_eq(jv, y, zero, e_s));
                    st_o = st_o.add(l, l.select_eq(jv, y, zero, e_t));
                }
            }
        }
        // At 1: the student's for the cross-entropy, the teacher's for the KL at 1 (parts).
        let (mut ss1w, mut st1w) = (sum_one, sum_one);
        if same_t {
            (ss1w, st1w) = (ssw, stw);
        } else {
            if hard {
                ss1w = column_exps(l, zs_t, ms, k1, es1_own);
            }
            if want.parts {
                st1w = column_exps(l, zt_t, mt, k1, et1_own);
            }
        }
        let (es1, et1): (&[L::V], &[L::V]) = if same_t { (es, et) } else { (es1_own, et1_own) };
        let (ss, st, ss1) = (ssw.value(l), stw.value(l), ss1w.value(l));
        let ce = if hard { l.sub(l.ln(ss1), l.sub(zy, ms)) } else { zero };
        let centre = KlCentre::of_lanes(l, ms, mt, inv_t, ss, st);
        // The gradient's weights, and its value at the arg-max: the soft part from `st - ss`
        // where the teacher's term there is 1 too, the hard part from `ss1 - 1` at the label.
        let (ks, kt, k1v) = (l.div(l.splat(kk * a * t), ss), l.div(l.splat(-kk * a * t), st), l.div(l.splat(kk * (1.0 - a)), ss1));
        let ky = l.splat(kk * (1.0 - a));
        let mut at_top = zero;
        if want.grad {
            if soft {
                let apart = l.div(stw.minus(l, ssw), l.mul(ss, st));
                let near = l.sub(l.div(one, ss), l.div(et_top, st));
                at_top = l.mul(l.splat(kk * a * t), l.select_eq(et_top, one, apart, near));
            }
            if hard {
                let others = l.div(ss1w.value_less_one(l), ss1);
                let hard_part = l.select_eq(top, y, l.sub(zero, others), l.div(one, ss1));
                at_top = l.mul_add(l.splat(kk * (1.0 - a)), hard_part, at_top);
            }
        }
        let mut terms = zero;
        for j in 0..cols {
            let jv = classes[j];
            let (es_j, et_j) = (es[j], et[j]);
            if soft {
                terms = l.add(terms, centre.term(l, zs_t[j], zt_t[j], es_j, et_j));
            }
            if want.grad {
                let g = l.mul_add(ks, es_j, l.mul_add(kt, et_j, l.mul(k1v, es1[j])));
                let g = l.sub(g, l.select_eq(jv, y, ky, zero));
                g_t[j] = l.select_eq(jv, top, at_top, g);
            }
        }
        let kl = l.max(zero, l.div(terms, st));
        let row_loss = l.mul_add(l.splat(a * t * t), kl, l.mul(l.splat(1.0 - a), ce));
        l.store(&mut lanes, row_loss);
        loss[first..first + count].copy_from_slice(&lanes[..count]);
        if let Some(g) = grad.as_deref_mut() {
            l.transpose_out(l.floats(g_t), cols, count, &mut g[first * cols..]);
        }
        let Some(p) = parts.as_deref_mut() else { continue };
        // The parts: the KL at 1, the agreement, and NCKD (the KL over all but the label) in the
        // lanes; TCKD from each row's sums, as the row kernel computes it.
        let logits = (&*zs_t, &*zt_t);
        let kl1 = if same_t {
            kl
        } else {
            let st1 = st1w.value(l);
            lanes_kl(l, KlCentre::of_lanes(l, ms, mt, 1.0, ss1, st1), st1, logits, (es1, et1), |_, term| term)
        };
        let (sso, sto) = (ss_o.value(l), st_o.value(l));
        let centre_o = KlCentre::of_lanes(l, ms, mt, inv_t, sso, sto);
        let nckd = lanes_kl(l, centre_o, sto, logits, (es, et), |j, term| l.select_eq(classes[j], y, zero, term));
        let agree = l.select_eq(top, top_t, one, zero);
        // TCKD, the binary KL of (label, the rest); rows whose others underflow (their sums
        // under TINY_OTHERS) are recomputed below in f64.
        let (lpy, lqy) = (l.sub(l.mul(l.sub(zty, mt), l.splat(inv_t)), l.ln(st)), l.sub(l.mul(l.sub(zy, ms), l.splat(inv_t)), l.ln(ss)));
        let (lpo, lqo) = (l.ln(l.div(sto, st)), l.ln(l.div(sso, ss)));
        let tckd = l.max(zero, l.add(weigh(l, lpy, lqy), weigh(l, lpo, lqo)));
        // Stored in a loop, not through `array::map`: its body is compiled without the path's
        // features, so each store there was a call.
        let mut stored = [[0.0f32; 16]; 8];
        for (out, v) in stored.iter_mut().zip([kl, ce, kl1, tckd, nckd, agree, sso, sto]) {
            l.store(out, v);
        }
        let [kl, ce, kl1, tckd, nckd, agree, sso, sto] = stored;
        for i in 0..count {
            let row = first + i;
            let p = &mut p[row * PARTS..(row + 1) * PARTS];
            (p[KL], p[CE], p[KL_T1], p[AGREE], p[TCKD], p[NCKD]) = (kl[i], ce[i], kl1[i], agree[i], tckd[i], nckd[i]);
            if (sso[i] as f64) < TINY_OTHERS || (sto[i] as f64) < TINY_OTHERS {
                let (r, y) = (row * cols..(row + 1) * cols, labels[row] as usize);
                let d = dkd_parts(&zs[r.clone()], &zt[r], y, t);
                (p[TCKD], p[NCKD]) = (d.tckd as f32, d.nckd as f32);
            }
        }
    }
}

/// Each lane's KL over its row's classes from their logits and exponentials, `centre` made with
/// the sums of the classes kept and `st` the teacher's among them: `keep(j, term)` is class
/// `j`'s term where it counts, 0 in the lanes that leave it out (NCKD's label).
#[inline(always)]
fn lanes_kl<L: Lanes>(
    l: L, centre: KlCentre<L>, st: L::V, (zs, zt): (&[L::V], &[L::V]), (es, et): (&[L::V], &[L::V]), keep: impl Fn(usize, L::V) -> L::V,
) -> L::V {
    let mut terms = l.splat(0.0);
    for j in 0..zs.len() {
        terms = l.add(terms, keep(j, centre.term(l, zs[j], zt[j], es[j], et[j])));
    }
    l.max(l.splat(0.0), l.div(terms, st))
}

/// `p (log p - log q)` with `p = e^log_p`, lane by lane (`log_p <= 0`).
#[inline(always)]
fn weigh<L: Lanes>(l: L, log_p: L::V, log_q: L::V) -> L::V {
    l.mul(l.exp2_nonpositive(l.mul(log_p, l.splat(std::f32::consts::LOG2_E))), l.sub(log_p, log_q))
}
