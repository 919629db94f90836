// Prepended to kd_loss.wgsl and dkd_loss.wgsl (after common.wgsl): the buffers these modules
// bind, one workgroup per row, and the row statistics they share (each module's Params has
// `cols`). Each row's loss goes to dst; dkd_loss_backward writes the gradient on the student's
// logits, scaled by dloss[0] over the rows (kd_loss writes its own in the same pass).

@group(0) @binding(1) var<storage, read> zs: array<f32>;      // student logits, rows x cols
@group(0) @binding(2) var<storage, read> zt: array<f32>;      // teacher logits, rows x cols
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read> dloss: array<f32>;   // backward: the upstream gradient
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;

fn logit(which: u32, i: u32) -> f32 {
    return select(zs[i], zt[i], which == 1u);
}

// Max and log-sum-exp at temperature t of one row of the student's (which = 0) or the
// teacher's (1) logits, leaving out column `skip` (p.cols leaves out none).
struct Lse {
    peak: f32,
    lse: f32,
}

fn row_lse(which: u32, base: u32, skip: u32, inv_t: f32, lid: u32) -> Lse {
    var m = -3.4028235e38;
    for (var j = lid; j < p.cols; j += WG) {
        if j != skip { m = max(m, logit(which, base + j)); }
    }
    m = workgroup_max(m, lid);
    var s = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        if j != skip { s += exp((logit(which, base + j) - m) * inv_t); }
    }
    return Lse(m, log(workgroup_sum(s, lid)));
}

// The row's log-probabilities at t: of the true class, and of all the others together.
struct Split {
    all: Lse,
    others: Lse,
    log_target: f32,
    log_rest: f32,
}

fn split(which: u32, base: u32, y: u32, inv_t: f32, lid: u32) -> Split {
    let all = row_lse(which, base, p.cols, inv_t, lid);
    let others = row_lse(which, base, y, inv_t, lid);
    let log_target = (logit(which, base + y) - all.peak) * inv_t - all.lse;
    let log_rest = (others.peak - all.peak) * inv_t + others.lse - all.lse;
    return Split(all, others, log_target, log_rest);
}

// log p^_j of a non-target class j.
fn log_other(s: Split, z: f32, inv_t: f32) -> f32 {
    return (z - s.others.peak) * inv_t - s.others.lse;
}

// p log(p / q) from log p and log q, 0 where p is 0.
fn kl_term(log_p: f32, log_q: f32) -> f32 {
    let pr = exp(log_p);
    return select(pr * (log_p - log_q), 0.0, pr == 0.0);
}

// TCKD and NCKD of the row (kernels/src/dkd_loss.rs): the binary target-versus-rest KL and the KL
// of the other classes' renormalised distributions, from both rows' splits at 1 / inv_t.
fn decoupled(base: u32, y: u32, inv_t: f32, lid: u32) -> vec2<f32> {
    let s = split(0u, base, y, inv_t, lid);
    let te = split(1u, base, y, inv_t, lid);
    var acc = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        if j != y { acc += kl_term(log_other(te, zt[base + j], inv_t), log_other(s, zs[base + j], inv_t)); }
    }
    let nckd = max(workgroup_sum(acc, lid), 0.0);
    let tckd = max(kl_term(te.log_target, s.log_target) + kl_term(te.log_rest, s.log_rest), 0.0);
    return vec2<f32>(tckd, nckd);
}
