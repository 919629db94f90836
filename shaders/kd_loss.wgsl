// The KD loss, alpha t^2 KL(softmax(zt / t) || softmax(zs / t)) + (1 - alpha) CE(zs, y), per row,
// and its fused gradient in one pass per row. One workgroup per row, reductions in workgroup
// memory. Twins of kernels/src/kd_loss.rs; the CPU forward sums the KL in f64, this one in f32
// (WGSL has no portable f64): at t = 100 the value (not the gradient) carries f32 rounding times t^2.

// Mirrored by KdLossParams in src/backend/gpu/params.rs.
struct Params {
    rows: u32,
    cols: u32,
    t: f32,
    alpha: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// zs, zt, labels, dloss and dst: from loss.wgsl.

// The row's maximum of the student's (which = 0) or the teacher's (1) logits.
fn row_max(which: u32, base: u32, lid: u32) -> f32 {
    var m = -3.4028235e38;
    for (var j = lid; j < p.cols; j += WG) {
        m = max(m, select(zs[base + j], zt[base + j], which == 1u));
    }
    return workgroup_max(m, lid);
}

// sum_j exp((z_j - m) * inv_t) over the row: >= 1, since the maximum contributes exp(0).
fn row_exp_sum(which: u32, base: u32, m: f32, inv_t: f32, lid: u32) -> f32 {
    var s = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        s += exp((select(zs[base + j], zt[base + j], which == 1u) - m) * inv_t);
    }
    return workgroup_sum(s, lid);
}

// dst[row] = the row's loss; the batch mean is a `sum` with scale 1 / rows after it.
@compute @workgroup_size(WG)
fn kd_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    let base = row * p.cols;
    let inv_t = 1.0 / p.t;
    let ms = row_max(0u, base, lid);
    var soft = 0.0;
    if p.alpha > 0.0 {
        let mt = row_max(1u, base, lid);
        let lse_s = log(row_exp_sum(0u, base, ms, inv_t, lid));
        let lse_t = log(row_exp_sum(1u, base, mt, inv_t, lid));
        var acc = 0.0;
        for (var j = lid; j < p.cols; j += WG) {
            let lt = (zt[base + j] - mt) * inv_t - lse_t;
            let ls = (zs[base + j] - ms) * inv_t - lse_s;
            acc += exp(lt) * (lt - ls);
        }
        soft = max(workgroup_sum(acc, lid), 0.0);
    }
    let lse = log(row_exp_sum(0u, base, ms, 1.0, lid));
    let hard = lse - (zs[base + labels[row]] - ms);
    if lid == 0u {
        dst[row] = p.alpha * p.t * p.t * soft + (1.0 - p.alpha) * hard;
    }
}

// dzs = dloss / rows * [alpha t (softmax(zs / t) - softmax(zt / t)) + (1 - alpha)(softmax(zs) - onehot)].
@compute @workgroup_size(WG)
fn kd_loss_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    let base = row * p.cols;
    let inv_t = 1.0 / p.t;
    let scale = dloss[0] / f32(p.rows);
    let k_soft = scale * p.alpha * p.t;
    let k_hard = scale * (1.0 - p.alpha);
    let ms = row_max(0u, base, lid);
    var inv_ss = 0.0;
    var mt = 0.0;
    var inv_st = 0.0;
    if p.alpha > 0.0 {
        mt = row_max(1u, base, lid);
        inv_ss = 1.0 / row_exp_sum(0u, base, ms, inv_t, lid);
        inv_st = 1.0 / row_exp_sum(1u, base, mt, inv_t, lid);
    }
    let inv_s1 = 1.0 / row_exp_sum(0u, base, ms, 1.0, lid);
    let label = labels[row];
    for (var j = lid; j < p.cols; j += WG) {
        var d = 0.0;
        if p.alpha > 0.0 {
            let ps = exp((zs[base + j] - ms) * inv_t) * inv_ss;
            let pt = exp((zt[base + j] - mt) * inv_t) * inv_st;
            d = k_soft * (ps - pt);
        }
        d += k_hard * exp(zs[base + j] - ms) * inv_s1;
        if j == label {
            d -= k_hard;
        }
        dst[base + j] = d;
    }
}
