//! The knowledge-distillation loss, its gradient and its parts, in one pass over each row:
//!
//! `L = 1/B sum_rows [ alpha * t^2 * KL(softmax(zt/t) || softmax(zs/t)) + (1 - alpha) * CE(zs, y) ]`
//!
//! and `dL/dzs = [alpha * t * (softmax(zs/t) - softmax(zt/t)) + (1 - alpha) * (softmax(zs) - onehot(y))] / B`.
//! The `t^2` keeps the soft term's gradient at the hard term's scale as `t` grows (Hinton et al.
//! 2015). Cross-entropy alone is this loss with `alpha = 0`.
//!
//! Each row of logits is read from memory once: a sweep for the maxima, one writing the
//! exponentials (at `t` and at 1) to a scratch row that stays in L1, and the sweeps over that
//! scratch that give the loss, the gradient and the parts. All in f32 through [`crate::lanes`]:
//! the KL at high `t`, where `t^2` magnifies rounding, is taken in a centred form whose terms
//! are all non-negative (see [`kl_over`]), not as a difference of log-sum-exps.

use crate::dkd_loss::dkd_parts;
use crate::kd_parts::{AGREE, CE, KL, KL_T1, NCKD, PARTS, TCKD};
use crate::kd_rows_as_lanes as narrow;
use crate::lanes::{Lanes, with_lanes};
use crate::softmax::{exp_shifted, exp2_factor, row_max};
use crate::{PAR_MIN_ELEMS, simd};

/// Where one [`kd_loss`] pass writes, besides the per-row loss.
pub struct KdOutputs<'a> {
    /// `rows` losses, not yet divided by the batch size.
    pub row_loss: &'a mut [f32],
    /// `rows x cols`: the gradient of `scale * sum(row_loss)` (`scale = 1 / B` for the mean).
    pub grad: Option<(&'a mut [f32], f32)>,
    /// `rows x PARTS`: [`crate::kd_parts`]'s figures of each row.
    pub parts: Option<&'a mut [f32]>,
}

/// The KD loss of student logits `zs` against teacher logits `zt` (`rows x cols`) and `labels`
/// (`rows`, each `< cols`), with the gradient and the parts when asked for.
#[allow(clippy::too_many_arguments)]
pub fn kd_loss(rows: usize, cols: usize, zs: &[f32], zt: &[f32], labels: &[u32], t: f32, alpha: f32, out: KdOutputs) {
    check(rows, cols, zs, zt, labels, t, alpha, "kd_loss");
    let KdOutputs { row_loss, grad, parts } = out;
    assert_eq!(row_loss.len(), rows, "kd_loss: row_loss has {} values for {rows} rows", row_loss.len());
    let (grad, scale) = match grad {
        Some((g, scale)) => (Some(g), scale),
        None => (None, 0.0),
    };
    if let Some(g) = &grad {
        assert_eq!(g.len(), rows * cols, "kd_loss: the gradient has {} values for {rows}x{cols}", g.len());
    }
    if let Some(p) = &parts {
        assert_eq!(p.len(), rows * PARTS, "kd_loss: parts has {} values for {rows} rows", p.len());
    }
    let isa = simd::isa();
    let pass = KdPass { cols, t, alpha, scale };
    let block = |first: usize, loss: &mut [f32], grad: Option<&mut [f32]>, parts: Option<&mut [f32]>| {
        let r = first * cols..(first + loss.len()) * cols;
        let rows = Rows { zs: &zs[r.clone()], zt: &zt[r], labels: &labels[first..first + loss.len()] };
        with_lanes!(isa, l => pass.block(l, rows, loss, grad, parts))
    };
    if rows * cols < PAR_MIN_ELEMS {
        return block(0, row_loss, grad, parts);
    }
    // Blocks of whole rows, a few per thread, each with its slices of the three outputs.
    use rayon::prelude::*;
    let block_rows = rows.div_ceil(4 * rayon::current_num_threads().max(1)).max((PAR_MIN_ELEMS / 4).div_ceil(cols));
    let mut grads: Vec<Option<&mut [f32]>> = match grad {
        Some(g) => g.chunks_mut(block_rows * cols).map(Some).collect(),
        None => (0..rows.div_ceil(block_rows)).map(|_| None).collect(),
    };
    let mut partss: Vec<Option<&mut [f32]>> = match parts {
        Some(p) => p.chunks_mut(block_rows * PARTS).map(Some).collect(),
        None => (0..rows.div_ceil(block_rows)).map(|_| None).collect(),
    };
    row_loss
        .par_chunks_mut(block_rows)
        .zip(grads.par_iter_mut())
        .zip(partss.par_iter_mut())
        .enumerate()
        .for_each(|(b, ((loss, grad), parts))| block(b * block_rows, loss, grad.take(), parts.take()));
}

/// Whether rows of `cols` classes go a row per lane (softmax's and this pass's narrow-row
/// kernels) rather than a row at a time.
pub fn rows_as_lanes(cols: usize) -> bool {
    cols <= narrow::MAX_COLS
}

/// The per-call settings of a [`kd_loss`] pass.
#[derive(Clone, Copy)]
pub(crate) struct KdPass {
    pub cols: usize,
    pub t: f32,
    pub alpha: f32,
    /// The gradient's factor (0 when no gradient is asked for).
    pub scale: f32,
}

/// A block's inputs: whole rows of both logit matrices and their labels.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub zs: &'a [f32],
    pub zt: &'a [f32],
    pub labels: &'a [u32],
}

/// One row's logits with their maxima and exponentials at one temperature:
/// `es_j = exp((zs_j - ms) / t)`, `et_j = exp((zt_j - mt) / t)`.
#[derive(Clone, Copy)]
struct Exps<'a> {
    zs: &'a [f32],
    zt: &'a [f32],
    es: &'a [f32],
    et: &'a [f32],
}

impl<'a> Exps<'a> {
    fn range(self, r: std::ops::Range<usize>) -> Self {
        Exps { zs: &self.zs[r.clone()], zt: &self.zt[r.clone()], es: &self.es[r.clone()], et: &self.et[r] }
    }
}

impl KdPass {
    #[inline(always)]
    fn block<L: Lanes>(self, l: L, rows: Rows, loss: &mut [f32], mut grad: Option<&mut [f32]>, mut parts: Option<&mut [f32]>) {
        let cols = self.cols;
        if rows_as_lanes(cols) {
            return narrow::kd_rows_as_lanes(l.narrow(), self, rows, loss, grad, parts);
        }
        let soft = self.alpha > 0.0 || parts.is_some();
        let hard = self.alpha < 1.0 || parts.is_some();
        // Scratch rows for the exponentials, once per block: es, et at t; es, et at 1.
        let mut scratch = vec![0.0f32; 4 * cols];
        let (es, rest) = scratch.split_at_mut(cols);
        let (et, rest) = rest.split_at_mut(cols);
        let (es1, et1) = rest.split_at_mut(cols);
        let inv_t = 1.0 / self.t;
        let (k, k1) = (exp2_factor(self.t), exp2_factor(1.0));
        let same_t = self.t == 1.0;
        for (i, row_loss) in loss.iter_mut().enumerate() {
            let (zs, zt, y) = (&rows.zs[i * cols..(i + 1) * cols], &rows.zt[i * cols..(i + 1) * cols], rows.labels[i] as usize);
            // Two rows ahead into L2: the wide pass from memory was 25% slower than from L3,
            // and this took back a third of that on Zen 4 (softmax, with a quarter of the work
            // per byte, ran slower with it and has none).
            if (i + 3) * cols <= rows.zs.len() {
                simd::prefetch(&rows.zs[(i + 2) * cols..(i + 3) * cols]);
                simd::prefetch(&rows.zt[(i + 2) * cols..(i + 3) * cols]);
            }
            let (ms, mt) = (row_max(l, zs), row_max(l, zt));
            let (mut ss, mut st) = (1.0f32, 1.0f32);
            if soft {
                ss = exp_shifted(l, zs, ms, k, es);
                st = exp_shifted(l, zt, mt, k, et);
            }
            let (es1, ss1): (&[f32], f32) = match (hard, soft && same_t) {
                (false, _) => (es1, 1.0),
                (true, true) => (es, ss),
                (true, false) => {
                    let s = exp_shifted(l, zs, ms, k1, es1);
                    (es1, s)
                }
            };
            // Cross-entropy on the label at 1: log-sum-exp minus the label's shifted logit.
            let ce = if hard { ss1.ln() as f64 - (zs[y] - ms) as f64 } else { 0.0 };
            // Each row's arg-max, for the agreement and the gradient's fix below: once each.
            let top_s = (parts.is_some() || grad.is_some()).then(|| first_index_of(l, zs, ms));
            let top_t = (parts.is_some() || (grad.is_some() && soft && self.alpha > 0.0)).then(|| first_index_of(l, zt, mt));
            let row = Exps { zs, zt, es, et };
            let centre = soft.then(|| KlCentre::new(l, ms, mt, inv_t, ss as f64, st as f64));
            // The KL comes from the gradient's sweep where there is one, else from its own.
            let mut kl = 0.0f64;
            if let Some(g) = grad.as_deref_mut() {
                let g = &mut g[i * cols..(i + 1) * cols];
                let (a, k) = (self.alpha, self.scale);
                let (k_s, k_t, k_1) = (k * a * self.t / ss, -k * a * self.t / st, k * (1.0 - a) / ss1);
                match centre {
                    Some(centre) => kl = kl_and_gradient(l, row, es1, centre, st as f64, [k_s, k_t, k_1], g),
                    None => scale_into(l, es1, k_1, g),
                }
                g[y] -= k * (1.0 - a);
                // Where a probability is near 1, its difference from another near 1 (or from the
                // one-hot) would lose its digits: at the row's max it is 1 / S, so 1 - p comes
                // from the sum of the others, taken without it.
                let top = top_s.expect("found when a gradient is asked for");
                let soft_top = soft && a > 0.0 && top_t == Some(top);
                if soft_top || (a < 1.0 && top == y) {
                    let (ss, st, ss1) = (ss as f64, st as f64, ss1 as f64);
                    let soft_part = match soft_top {
                        true => (sum_without(l, et, top) - sum_without(l, es, top)) / (ss * st),
                        false if soft && a > 0.0 => es[top] as f64 / ss - et[top] as f64 / st,
                        false => 0.0,
                    };
                    let hard_part = match top == y {
                        true => -sum_without(l, es1, top) / ss1,
                        false => es1[top] as f64 / ss1,
                    };
                    let (a, k) = (a as f64, k as f64);
                    g[top] = (k * (a * self.t as f64 * soft_part + (1.0 - a) * hard_part)) as f32;
                }
            } else if let Some(centre) = centre {
                kl = kl_over(l, &[row], centre, st as f64);
            }
            let t = self.t as f64;
            *row_loss = (self.alpha as f64 * t * t * kl + (1.0 - self.alpha as f64) * ce) as f32;
            if let Some(p) = parts.as_deref_mut() {
                let p = &mut p[i * PARTS..(i + 1) * PARTS];
                let (et1, st1): (&[f32], f32) = if same_t {
                    (et, st)
                } else {
                    let s = exp_shifted(l, zt, mt, k1, et1);
                    (et1, s)
                };
                p[KL] = kl as f32;
                p[CE] = ce as f32;
                let kl_1 = || {
                    let centre = KlCentre::new(l, ms, mt, 1.0, ss1 as f64, st1 as f64);
                    kl_over(l, &[Exps { zs, zt, es: es1, et: et1 }], centre, st1 as f64)
                };
                p[KL_T1] = if same_t { kl } else { kl_1() } as f32;
                p[AGREE] = (top_s == top_t) as u32 as f32;
                let (tckd, nckd) = decoupled(l, row, y, ms, mt, inv_t, ss, st);
                (p[TCKD], p[NCKD]) = (tckd as f32, nckd as f32);
            }
        }
    }
}

/// `g = k es1`: the gradient of the hard term alone.
#[inline(always)]
fn scale_into<L: Lanes>(l: L, es1: &[f32], k: f32, g: &mut [f32]) {
    let kv = l.splat(k);
    for j in (0..g.len()).step_by(L::N) {
        l.store_at(g, j, l.mul(kv, l.load_at(es1, j, 0.0)));
    }
}

/// One sweep over a row: `g = k_s es + k_t et + k_1 es1` (`k_1` is 0 where `es1` was not
/// computed), and the KL of [`kl_over`] from the same loads.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn kl_and_gradient<L: Lanes>(l: L, row: Exps, es1: &[f32], centre: KlCentre<L>, st: f64, k: [f32; 3], g: &mut [f32]) -> f64 {
    let k = k.map(|k| l.splat(k));
    let (cols, n) = (g.len(), L::N);
    let body = cols / n * n;
    let mut terms = l.splat(0.0);
    for j in (0..body).step_by(n) {
        terms = kl_and_gradient_step(l, &row, es1, &centre, k, g, j, true, terms);
    }
    if body < cols {
        terms = kl_and_gradient_step(l, &row, es1, &centre, k, g, body, false, terms);
    }
    KlCentre::finish(l, terms, st)
}

/// The vector at `j` of [`kl_and_gradient`]: whole, or the row's tail.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn kl_and_gradient_step<L: Lanes>(
    l: L, row: &Exps, es1: &[f32], centre: &KlCentre<L>, [ks, kt, k1]: [L::V; 3], g: &mut [f32], j: usize, whole: bool, terms: L::V,
) -> L::V {
    let (es, et) = (l.load_known(row.es, j, whole, 0.0), l.load_known(row.et, j, whole, 0.0));
    let (zs, zt) = (l.load_known(row.zs, j, whole, 0.0), l.load_known(row.zt, j, whole, 0.0));
    l.store_known(g, j, whole, l.mul_add(ks, es, l.mul_add(kt, et, l.mul(k1, l.load_known(es1, j, whole, 0.0)))));
    l.add(terms, centre.term(l, zs, zt, es, et))
}

/// `KL(softmax(zt / t) || softmax(zs / t))` over the union of `segments` (a row, or a row with a
/// class left out, whose sums `centre` was made with; `st` the teacher's), from their
/// exponentials.
#[inline(always)]
fn kl_over<L: Lanes>(l: L, segments: &[Exps], centre: KlCentre<L>, st: f64) -> f64 {
    let mut terms = l.splat(0.0);
    for seg in segments {
        let (cols, n) = (seg.zs.len(), L::N);
        let body = cols / n * n;
        for j in (0..body).step_by(n) {
            terms = kl_step(l, seg, &centre, j, true, terms);
        }
        if body < cols {
            terms = kl_step(l, seg, &centre, body, false, terms);
        }
    }
    KlCentre::finish(l, terms, st)
}

/// The vector at `j` of [`kl_over`]: whole, or the segment's tail.
#[inline(always)]
fn kl_step<L: Lanes>(l: L, seg: &Exps, centre: &KlCentre<L>, j: usize, whole: bool, terms: L::V) -> L::V {
    let (zs, zt) = (l.load_known(seg.zs, j, whole, 0.0), l.load_known(seg.zt, j, whole, 0.0));
    let (es, et) = (l.load_known(seg.es, j, whole, 0.0), l.load_known(seg.et, j, whole, 0.0));
    l.add(terms, centre.term(l, zs, zt, es, et))
}

/// The KL in a form whose terms are all non-negative, so nothing cancels however small it is
/// (at t = 100 the KL of two close rows is 1e-9, and t^2 = 1e4 magnifies any rounding).
///
/// With `p = et / st`, `q = es / ss` and `v_j = log(q_j / p_j) = log(st / ss) - a_j`,
/// `a_j = ((zt_j - mt) - (zs_j - ms)) / t`: since `sum q = sum p = 1`,
/// `KL(p || q) = sum_j p_j (e^v_j - 1 - v_j)`. Each term is `e^v - 1 - v` by its series where
/// `|v| < 1/2`, else `et_j e^v_j = es_j st / ss` directly. An error `d` in `log(st / ss)` (from
/// the f32 sums) moves the KL by `d (sum q - 1) + O(d^2)`: by nothing to first order.
/// Its lanes may hold one row's figures (the row kernels) or one row each (rows as lanes).
#[derive(Clone, Copy)]
pub(crate) struct KlCentre<L: Lanes> {
    ms: L::V,
    mt: L::V,
    inv_t: L::V,
    /// `log(st / ss)`.
    log_ratio: L::V,
    /// `st / ss`.
    ratio: L::V,
}

impl<L: Lanes> KlCentre<L> {
    #[inline(always)]
    fn new(l: L, ms: f32, mt: f32, inv_t: f32, ss: f64, st: f64) -> Self {
        let (ms, mt, inv_t) = (l.splat(ms), l.splat(mt), l.splat(inv_t));
        KlCentre { ms, mt, inv_t, log_ratio: l.splat((st / ss).ln() as f32), ratio: l.splat((st / ss) as f32) }
    }

    /// One row per lane: `ss` and `st` are the lanes' sums.
    #[inline(always)]
    pub(crate) fn of_lanes(l: L, ms: L::V, mt: L::V, inv_t: f32, ss: L::V, st: L::V) -> Self {
        let ratio = l.div(st, ss);
        KlCentre { ms, mt, inv_t: l.splat(inv_t), log_ratio: l.ln(ratio), ratio }
    }

    /// `et_j (e^v_j - 1 - v_j)` of a vector (0 where `es = et = 0`, as in a tail's spare lanes).
    #[inline(always)]
    pub(crate) fn term(self, l: L, zs: L::V, zt: L::V, es: L::V, et: L::V) -> L::V {
        let v = l.sub(self.log_ratio, l.mul(l.sub(l.sub(zt, self.mt), l.sub(zs, self.ms)), self.inv_t));
        // e^v - 1 - v = v^2 (1/2 + v/6 + ... + v^6/40320) where |v| < 1/2.
        let mut series = l.splat(1.0 / 40320.0);
        for c in [1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5] {
            series = l.mul_add(series, v, l.splat(c));
        }
        let small = l.mul(et, l.mul(l.mul(v, v), series));
        let large = l.sub(l.mul(es, self.ratio), l.mul_add(et, v, et));
        l.select_abs_below(v, 0.5, small, large)
    }

    /// The KL of a row from its summed terms and the teacher's sum `st`.
    #[inline(always)]
    fn finish(l: L, terms: L::V, st: f64) -> f64 {
        (l.sum(terms) as f64 / st).max(0.0)
    }
}

/// The sum of `x` without `x[k]`.
#[inline(always)]
fn sum_without<L: Lanes>(l: L, x: &[f32], k: usize) -> f64 {
    row_sum(l, &x[..k]) + row_sum(l, &x[k + 1..])
}

/// The sum of `x`, a vector at a time into four running sums: one would wait on each add's
/// latency, and a row whose top class is the label and the teacher's takes three such sums.
#[inline(always)]
fn row_sum<L: Lanes>(l: L, x: &[f32]) -> f64 {
    let mut acc = [l.splat(0.0); 4];
    let mut quads = x.chunks_exact(4 * L::N);
    for q in &mut quads {
        for (i, a) in acc.iter_mut().enumerate() {
            *a = l.add(*a, l.load(&q[i * L::N..]));
        }
    }
    let rest = quads.remainder();
    for (i, j) in (0..rest.len()).step_by(L::N).enumerate() {
        acc[i] = l.add(acc[i], l.load_at(rest, j, 0.0));
    }
    l.sum(l.add(l.add(acc[0], acc[1]), l.add(acc[2], acc[3]))) as f64
}

/// TCKD and NCKD of one row (see [`crate::dkd_loss`]) from its exponentials at `t`: the sums
/// without the label's class are taken without it, never as a difference. Where the student
/// leaves no representable mass outside the label, the f64 path of [`dkd_parts`] takes over.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn decoupled<L: Lanes>(l: L, row: Exps, y: usize, ms: f32, mt: f32, inv_t: f32, ss: f32, st: f32) -> (f64, f64) {
    let cols = row.zs.len();
    let segments = [row.range(0..y), row.range(y + 1..cols)];
    let (ss_other, st_other) = (sum_without(l, row.es, y), sum_without(l, row.et, y));
    if st_other < TINY_OTHERS || ss_other < TINY_OTHERS {
        let p = dkd_parts(row.zs, row.zt, y, 1.0 / inv_t);
        return (p.tckd, p.nckd);
    }
    let (ss, st, inv_t64) = (ss as f64, st as f64, inv_t as f64);
    let log_pt_y = (row.zt[y] - mt) as f64 * inv_t64 - st.ln();
    let log_ps_y = (row.zs[y] - ms) as f64 * inv_t64 - ss.ln();
    let (log_pt_o, log_ps_o) = ((st_other / st).ln(), (ss_other / ss).ln());
    let weigh = |log_p: f64, log_q: f64| if log_p == f64::NEG_INFINITY { 0.0 } else { log_p.exp() * (log_p - log_q) };
    let tckd = (weigh(log_pt_y, log_ps_y) + weigh(log_pt_o, log_ps_o)).max(0.0);
    let nckd = kl_over(l, &segments, KlCentre::new(l, ms, mt, inv_t, ss_other, st_other), st_other);
    (tckd, nckd)
}

/// Below this the other classes' exponentials (at the row's scale, where its max is 1) are too
/// few bits, or none, for the shape of their distribution, which f64 still resolves: TCKD and
/// NCKD then come from [`dkd_parts`].
pub(crate) const TINY_OTHERS: f64 = 1e-30;

/// The index of the first value of `x` equal to `max` (its largest).
#[inline(always)]
fn first_index_of<L: Lanes>(l: L, x: &[f32], max: f32) -> usize {
    let mut chunks = x.chunks_exact(L::N);
    for (c, chunk) in (&mut chunks).enumerate() {
        let bits = l.eq_bits(l.load(chunk), max);
        if bits != 0 {
            return c * L::N + bits.trailing_zeros() as usize;
        }
    }
    let done = x.len() - chunks.remainder().len();
    done + chunks.remainder().iter().position(|&v| v == max).unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::simd::{available, with_isa};
    use crate::testing::{Rng, Tolerance, assert_close, assert_finite_rows_sum_to_zero, f64s, logits_and_labels, numeric_gradient};

    /// The batch-mean loss and its gradient from one pass.
    fn loss_and_grad(rows: usize, cols: usize, zs: &[f32], zt: &[f32], y: &[u32], t: f32, alpha: f32) -> (f32, Vec<f32>) {
        let (mut per_row, mut grad) = (vec![f32::NAN; rows], vec![f32::NAN; rows * cols]);
        kd_loss(
            rows,
            cols,
            zs,
            zt,
            y,
            t,
            alpha,
            KdOutputs { row_loss: &mut per_row, grad: Some((&mut grad, 1.0 / rows as f32)), parts: None },
        );
        (per_row.iter().sum::<f32>() / rows as f32, grad)
    }

    /// The gradient `[alpha t (ps_t - pt_t) + (1 - alpha)(ps_1 - onehot)] / B` in f64.
    fn reference_gradient(rows: usize, cols: usize, zs: &[f64], zt: &[f64], y: &[u32], t: f64, alpha: f64) -> Vec<f64> {
        let (ps, pt, p1) =
            (reference::softmax(rows, cols, zs, t), reference::softmax(rows, cols, zt, t), reference::softmax(rows, cols, zs, 1.0));
        (0..rows * cols)
            .map(|k| {
                let onehot = (y[k / cols] as usize == k % cols) as u32 as f64;
                (alpha * t * (ps[k] - pt[k]) + (1.0 - alpha) * (p1[k] - onehot)) / rows as f64
            })
            .collect()
    }

    #[test]
    fn forward_matches_reference_on_odd_shapes_and_extremes() {
        for isa in available() {
            let mut rng = Rng::new(5);
            for &(r, c) in &[(1usize, 1usize), (7, 7), (3, 33), (2, 1000), (129, 10), (40, 1000)] {
                for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
                    for &alpha in &[0.0f32, 0.5, 0.9, 1.0] {
                        for scale in [3.0f32, 1e4] {
                            let (zs, zt, y) = (rng.vec(r * c, -scale, scale), rng.vec(r * c, -scale, scale), rng.labels(r, c));
                            let (got, _) = with_isa(isa, || loss_and_grad(r, c, &zs, &zt, &y, t, alpha));
                            let want = reference::kd_loss(r, c, &f64s(&zs), &f64s(&zt), &y, t as f64, alpha as f64);
                            let op = format!("kd_loss {isa:?} {r}x{c} t={t} alpha={alpha} scale={scale}");
                            assert!(got.is_finite(), "{op}: {got}");
                            // Losses reach t^2 * 2e4 / t on extreme logits: relative tolerance.
                            assert_close(&op, &[got], &[want], Tolerance { abs: 1e-4, rel: 1e-4 });
                        }
                    }
                }
            }
        }
    }

    /// The soft term where student and teacher nearly agree, at high t: the KL is ~1e-9 and
    /// t^2 = 1e4 magnifies any cancellation. Each row's loss within 1e-4 of the f64 one.
    #[test]
    fn tiny_kl_at_high_temperature_keeps_its_digits() {
        let mut rng = Rng::new(55);
        for isa in available() {
            for &(r, c) in &[(4usize, 10usize), (3, 1000)] {
                let zs = rng.vec(r * c, -8.0, 8.0);
                for (shift, noise) in [(0.0f32, 1e-3f32), (1000.0, 1e-2), (-3.0, 0.3)] {
                    let zt: Vec<f32> = zs.iter().map(|&v| v + shift + rng.vec(1, -noise, noise)[0]).collect();
                    let y = rng.labels(r, c);
                    for t in [1.0f32, 20.0, 100.0] {
                        let mut per_row = vec![0.0; r];
                        with_isa(isa, || {
                            kd_loss(r, c, &zs, &zt, &y, t, 1.0, KdOutputs { row_loss: &mut per_row, grad: None, parts: None })
                        });
                        for i in 0..r {
                            let row = |z: &[f32]| f64s(&z[i * c..(i + 1) * c]);
                            let want = (t as f64).powi(2) * reference::kl_t(&row(&zt), &row(&zs), t as f64);
                            let err = (per_row[i] as f64 - want).abs();
                            assert!(
                                err <= 1e-4 * want + 1e-9,
                                "{isa:?} {r}x{c} shift={shift} noise={noise} t={t} row {i}: {} against {want}",
                                per_row[i]
                            );
                        }
                    }
                }
            }
        }
    }

    /// A distillation step asks for the parts with the loss and the gradient: the same loss and
    /// gradient as without them, and the same parts as asked alone, on every path and width
    /// (each narrow width and each set of outputs has its own compiled kernel).
    #[test]
    fn the_parts_change_nothing_and_match_the_parts_alone() {
        let mut rng = Rng::new(10);
        for isa in available() {
            for &(r, c) in &[(300usize, 10usize), (5, 7), (20, 16), (3, 33)] {
                for &t in &[1.0f32, 4.0, 100.0] {
                    let (zs, zt, y) = logits_and_labels(&mut rng, r, c, 6.0);
                    let case = format!("{isa:?} {r}x{c} t={t}");
                    let (mut loss, mut grad, mut parts) = (vec![0.0; r], vec![0.0; r * c], vec![0.0; r * PARTS]);
                    let outputs = KdOutputs { row_loss: &mut loss, grad: Some((&mut grad, 0.5)), parts: Some(&mut parts) };
                    with_isa(isa, || kd_loss(r, c, &zs, &zt, &y, t, 0.7, outputs));
                    let (mut loss_alone, mut grad_alone) = (vec![0.0; r], vec![0.0; r * c]);
                    let outputs = KdOutputs { row_loss: &mut loss_alone, grad: Some((&mut grad_alone, 0.5)), parts: None };
                    with_isa(isa, || kd_loss(r, c, &zs, &zt, &y, t, 0.7, outputs));
                    let mut parts_alone = vec![0.0; r * PARTS];
                    with_isa(isa, || crate::kd_parts::kd_parts(r, c, &zs, &zt, &y, t, &mut parts_alone));
                    let tight = Tolerance { abs: 1e-7, rel: 1e-6 };
                    assert_close(&format!("{case}: loss"), &loss, &f64s(&loss_alone), tight);
                    assert_close(&format!("{case}: gradient"), &grad, &f64s(&grad_alone), tight);
                    assert_close(&format!("{case}: parts"), &parts, &f64s(&parts_alone), tight);
                }
            }
        }
    }

    #[test]
    fn identical_logits_leave_only_the_hard_term() {
        let mut rng = Rng::new(6);
        let z = rng.vec(4 * 10, -2.0, 2.0);
        let y = rng.labels(4, 10);
        let (ce, _) = loss_and_grad(4, 10, &z, &z, &y, 1.0, 0.0);
        let (mixed, _) = loss_and_grad(4, 10, &z, &z, &y, 7.0, 0.9);
        assert!((mixed - 0.1 * ce).abs() < 1e-5, "KL(p||p) = 0: got {mixed}, want {}", 0.1 * ce);
    }

    #[test]
    fn gradient_matches_finite_differences_on_every_path() {
        let mut rng = Rng::new(7);
        for isa in available() {
            for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 10), (2, 33)] {
                for &t in &[0.5f32, 2.0, 20.0, 100.0] {
                    for &alpha in &[0.0f32, 0.7, 1.0] {
                        let (zs, zt, y) = (rng.vec(r * c, -3.0, 3.0), rng.vec(r * c, -3.0, 3.0), rng.labels(r, c));
                        let (_, d) = with_isa(isa, || loss_and_grad(r, c, &zs, &zt, &y, t, alpha));
                        let ztd = f64s(&zt);
                        let num = numeric_gradient(&f64s(&zs), |zs| reference::kd_loss(r, c, zs, &ztd, &y, t as f64, alpha as f64));
                        assert_close(&format!("kd_loss gradient {isa:?} {r}x{c} t={t} alpha={alpha}"), &d, &num, Tolerance::GRADIENT);
                    }
                }
            }
        }
    }

    /// Each row's gradient within 1e-5 of the f64 formula, relative to the row's largest
    /// value: t from 0.5 to 100, logits up to +-1e4, rows where one class holds everything.
    #[test]
    fn gradient_matches_f64_within_1e_5() {
        let mut rng = Rng::new(9);
        for isa in available() {
            for &(r, c) in &[(1usize, 1usize), (5, 7), (4, 33), (3, 1000), (300, 10), (40, 1000)] {
                for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
                    for &alpha in &[0.0f32, 0.5, 1.0] {
                        for scale in [3.0f32, 30.0, 1e4] {
                            let (mut zs, mut zt, y) = logits_and_labels(&mut rng, r, c, scale);
                            // Row 0: the label holds all the probability in both.
                            zs[y[0] as usize] = 2.0 * scale + 100.0 * t;
                            zt[y[0] as usize] = 2.0 * scale + 100.0 * t;
                            let (_, got) = with_isa(isa, || loss_and_grad(r, c, &zs, &zt, &y, t, alpha));
                            let want = reference_gradient(r, c, &f64s(&zs), &f64s(&zt), &y, t as f64, alpha as f64);
                            for i in 0..r {
                                let (g, w) = (&got[i * c..(i + 1) * c], &want[i * c..(i + 1) * c]);
                                let norm = w.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
                                let err = g.iter().zip(w).fold(0.0f64, |m, (&g, &w)| m.max((g as f64 - w).abs()));
                                assert!(
                                    err <= 1e-5 * norm + 1e-12,
                                    "{isa:?} {r}x{c} t={t} alpha={alpha} scale={scale} row {i}: error {err:.2e} against {norm:.2e}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn gradient_is_finite_on_extreme_logits() {
        let mut rng = Rng::new(8);
        for &t in &[0.5f32, 100.0] {
            let (zs, zt, y) = logits_and_labels(&mut rng, 5, 1000, 1e4);
            let (loss, d) = loss_and_grad(5, 1000, &zs, &zt, &y, t, 0.9);
            assert!(loss.is_finite());
            // Both softmaxes and the one-hot sum to one.
            assert_finite_rows_sum_to_zero(&format!("kd_loss gradient t={t}"), &d, 1000, 1e-3);
        }
    }
}
