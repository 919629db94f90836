// The parts of the KD loss and the student's fidelity, per row: twins of kernels/src/kd_parts.rs,
// in f32. dst[row * 6 + k] for k = KL at t, CE at 1, TCKD, NCKD, agreement, KL at 1.

// Mirrored by KdPartsParams in src/backend/gpu/params.rs.
struct Params {
    rows: u32,
    cols: u32,
    t: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// zs, zt, labels, dst and the row helpers: from loss.wgsl.

const PARTS: u32 = 6u;

// KL(softmax(zt / t) || softmax(zs / t)) of the row, from both rows' log-sum-exps at t.
fn row_kl(base: u32, s: Lse, te: Lse, inv_t: f32, lid: u32) -> f32 {
    var acc = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        let lt = (zt[base + j] - te.peak) * inv_t - te.lse;
        let ls = (zs[base + j] - s.peak) * inv_t - s.lse;
        acc += kl_term(lt, ls);
    }
    return max(workgroup_sum(acc, lid), 0.0);
}

// The first column holding the row's maximum `peak`.
fn first_at(which: u32, base: u32, peak: f32, lid: u32) -> u32 {
    var first = -f32(p.cols);
    for (var j = lid; j < p.cols; j += WG) {
        if logit(which, base + j) == peak { first = max(first, -f32(j)); }
    }
    return u32(-workgroup_max(first, lid));
}

@compute @workgroup_size(WG)
fn kd_parts(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    let base = row * p.cols;
    let inv_t = 1.0 / p.t;
    let y = labels[row];
    let s = split(0u, base, y, inv_t, lid);
    let te = split(1u, base, y, inv_t, lid);
    let kl = row_kl(base, s.all, te.all, inv_t, lid);
    var acc = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        if j != y { acc += kl_term(log_other(te, zt[base + j], inv_t), log_other(s, zs[base + j], inv_t)); }
    }
    let nckd = max(workgroup_sum(acc, lid), 0.0);
    var tckd = 0.0;
    if p.cols > 1u {
        tckd = max(kl_term(te.log_target, s.log_target) + kl_term(te.log_rest, s.log_rest), 0.0);
    }
    let s1 = row_lse(0u, base, p.cols, 1.0, lid);
    let t1 = row_lse(1u, base, p.cols, 1.0, lid);
    let kl1 = row_kl(base, s1, t1, 1.0, lid);
    let agree = first_at(0u, base, s1.peak, lid) == first_at(1u, base, t1.peak, lid);
    if lid == 0u {
        let o = row * PARTS;
        dst[o] = kl;
        dst[o + 1u] = s1.lse - (zs[base + y] - s1.peak);
        dst[o + 2u] = tckd;
        dst[o + 3u] = select(nckd, 0.0, p.cols < 2u);
        dst[o + 4u] = select(0.0, 1.0, agree);
        dst[o + 5u] = kl1;
    }
}
