//! The KD pass of [`crate::kd_loss`] for rows narrower than a few vectors (MNIST's 10 classes):
//! a block of `N` rows is transposed so each lane holds one row and each vector one class. A row
//! kernel there would spend its time on a vector and a masked tail per sweep, and on the row's
//! scalar logs; here every instruction works on `N` rows, the logs included.
//!
//! Same loss and gradient as the row kernel, the same care: sums in f64 lanes, the KL in its
//! centred form ([`KlCentre`]), and at the row's arg-max, where the probability is `1 / S`,
//! `1 - p` from the f64 sums (`S - 1`, the others' sum, since the max's own term is exactly 1).

use crate::kd_loss::KlCentre;
use crate::lanes::Lanes;
use crate::softmax::exp2_factor;

/// Rows at most this wide go through [`kd_rows_as_lanes`].
pub(crate) const MAX_COLS: usize = 16;

/// The per-call settings of the pass (as the row kernel's).
#[derive(Clone, Copy)]
pub(crate) struct Settings {
    pub cols: usize,
    pub t: f32,
    pub alpha: f32,
    /// The gradient's factor.
    pub scale: f32,
}

/// Loss (and gradient) of the rows of `zs`, `zt` (`loss.len()` rows of `cols`), `N` rows at a
/// time. Loss and gradient only: the study's parts take the row kernel.
#[inline(always)]
pub(crate) fn kd_rows_as_lanes<L: Lanes>(
    l: L, s: Settings, zs: &[f32], zt: &[f32], labels: &[u32], loss: &mut [f32], mut grad: Option<&mut [f32]>,
) {
    let (cols, n) = (s.cols, L::N);
    let (soft, hard) = (s.alpha > 0.0, s.alpha < 1.0);
    // Transposed blocks, `cols` vectors of `n` lanes each: the logits, their exponentials at t
    // and at 1, and the gradient.
    let mut scratch = vec![0.0f32; 6 * cols * n];
    let (zs_t, rest) = scratch.split_at_mut(cols * n);
    let (zt_t, rest) = rest.split_at_mut(cols * n);
    let (es, rest) = rest.split_at_mut(cols * n);
    let (et, rest) = rest.split_at_mut(cols * n);
    let (es1_own, g_t) = rest.split_at_mut(cols * n);
    let (k, k1, inv_t) = (exp2_factor(s.t), exp2_factor(1.0), 1.0 / s.t);
    let (a, t, kk) = (s.alpha, s.t, s.scale);
    let one = l.wide_add(l.wide_zero(), l.splat(1.0));
    let mut lanes = [0.0f32; 16];
    for first in (0..loss.len()).step_by(n) {
        let count = n.min(loss.len() - first);
        // Lanes past the last row hold zero logits and label 0: finite, and never stored.
        l.transpose_in(&zs[first * cols..], cols, count, zs_t);
        l.transpose_in(&zt[first * cols..], cols, count, zt_t);
        lanes.fill(0.0);
        for i in 0..count {
            lanes[i] = labels[first + i] as f32;
        }
        let y = l.load(&lanes);
        let (mut ms, mut mt) = (l.splat(f32::NEG_INFINITY), l.splat(f32::NEG_INFINITY));
        for j in 0..cols {
            ms = l.max(ms, l.load(&zs_t[j * n..]));
            mt = l.max(mt, l.load(&zt_t[j * n..]));
        }
        // Each row's first arg-max, and its label's logit.
        let (mut top, mut zy) = (l.splat(0.0), l.splat(0.0));
        for j in (0..cols).rev() {
            let (jv, v) = (l.splat(j as f32), l.load(&zs_t[j * n..]));
            top = l.select_eq(v, ms, jv, top);
            zy = l.select_eq(jv, y, v, zy);
        }
        // The exponentials and their sums; the teacher's at the student's arg-max.
        let (mut ssw, mut stw, mut ss1w) = (one, one, one);
        let mut et_top = l.splat(0.0);
        if soft {
            (ssw, stw) = (l.wide_zero(), l.wide_zero());
            for j in 0..cols {
                let e = l.exp2_nonpositive(l.mul(l.sub(l.load(&zs_t[j * n..]), ms), l.splat(k)));
                l.store(&mut es[j * n..], e);
                ssw = l.wide_add(ssw, e);
                let e = l.exp2_nonpositive(l.mul(l.sub(l.load(&zt_t[j * n..]), mt), l.splat(k)));
                l.store(&mut et[j * n..], e);
                stw = l.wide_add(stw, e);
                et_top = l.select_eq(l.splat(j as f32), top, e, et_top);
            }
        }
        let same_t = soft && s.t == 1.0;
        if hard && !same_t {
            ss1w = l.wide_zero();
            for j in 0..cols {
                let e = l.exp2_nonpositive(l.mul(l.sub(l.load(&zs_t[j * n..]), ms), l.splat(k1)));
                l.store(&mut es1_own[j * n..], e);
                ss1w = l.wide_add(ss1w, e);
            }
        }
        if hard && same_t {
            ss1w = ssw;
        }
        let es1: &[f32] = if same_t { es } else { es1_own };
        let (ss, st, ss1) = (l.narrow(ssw), l.narrow(stw), l.narrow(ss1w));
        let ce = if hard { l.sub(l.ln(ss1), l.sub(zy, ms)) } else { l.splat(0.0) };
        let centre = KlCentre::of_lanes(l, ms, mt, inv_t, ss, st);
        // The gradient's weights, and its value at the arg-max: the soft part from `st - ss`
        // where the teacher's term there is 1 too, the hard part from `ss1 - 1` at the label.
        let (ks, kt, k1v) = (l.div(l.splat(kk * a * t), ss), l.div(l.splat(-kk * a * t), st), l.div(l.splat(kk * (1.0 - a)), ss1));
        let ky = l.splat(kk * (1.0 - a));
        let mut at_top = l.splat(0.0);
        if grad.is_some() {
            if soft {
                let apart = l.div(l.narrow_diff(stw, ssw), l.mul(ss, st));
                let near = l.sub(l.div(l.splat(1.0), ss), l.div(et_top, st));
                at_top = l.mul(l.splat(kk * a * t), l.select_eq(et_top, l.splat(1.0), apart, near));
            }
            if hard {
                let others = l.div(l.narrow_diff(ss1w, one), ss1);
                let hard_part = l.select_eq(top, y, l.sub(l.splat(0.0), others), l.div(l.splat(1.0), ss1));
                at_top = l.mul_add(l.splat(kk * (1.0 - a)), hard_part, at_top);
            }
        }
        let mut terms = l.splat(0.0);
        for j in 0..cols {
            let jv = l.splat(j as f32);
            let (zs_j, zt_j) = (l.load(&zs_t[j * n..]), l.load(&zt_t[j * n..]));
            let (es_j, et_j) = (l.load(&es[j * n..]), l.load(&et[j * n..]));
            if soft {
                terms = l.add(terms, centre.term(l, zs_j, zt_j, es_j, et_j));
            }
            if grad.is_some() {
                let g = l.mul_add(ks, es_j, l.mul_add(kt, et_j, l.mul(k1v, l.load(&es1[j * n..]))));
                let g = l.sub(g, l.select_eq(jv, y, ky, l.splat(0.0)));
                l.store(&mut g_t[j * n..], l.select_eq(jv, top, at_top, g));
            }
        }
        let kl = l.max(l.splat(0.0), l.div(terms, st));
        let row_loss = l.mul_add(l.splat(a * t * t), kl, l.mul(l.splat(1.0 - a), ce));
        l.store(&mut lanes, row_loss);
        loss[first..first + count].copy_from_slice(&lanes[..count]);
        if let Some(g) = grad.as_deref_mut() {
            l.transpose_out(g_t, cols, count, &mut g[first * cols..]);
        }
    }
}
