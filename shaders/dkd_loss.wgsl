// Decoupled KD, t^2 (alpha TCKD + beta NCKD) per row, and its gradient; one workgroup per row,
// reductions in workgroup memory. Twins of kernels/src/dkd_loss.rs, which holds the maths; the
// CPU kernel works in f64, this one in f32 (WGSL has no portable f64).

// Mirrored by DkdLossParams in src/backend/gpu/params.rs.
struct Params {
    rows: u32,
    cols: u32,
    t: f32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// zs, zt, labels, dloss, dst and the row helpers: from loss.wgsl.

// dst[row] = the row's loss; the batch mean is a `sum` with scale 1 / rows after it.
@compute @workgroup_size(WG)
fn dkd_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    if p.cols < 2u {
        // One class: both distributions are [1], every part is 0.
        if lid == 0u { dst[row] = 0.0; }
        return;
    }
    let base = row * p.cols;
    let inv_t = 1.0 / p.t;
    let y = labels[row];
    let parts = decoupled(base, y, inv_t, lid);
    if lid == 0u {
        dst[row] = p.t * p.t * (p.alpha * parts.x + p.beta * parts.y);
    }
}

// dzs = dloss t / rows [alpha (ps_y - pt_y)(onehot - ps^) + beta (ps^ - pt^)].
@compute @workgroup_size(WG)
fn dkd_loss_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    let base = row * p.cols;
    if p.cols < 2u {
        if lid == 0u { dst[base] = 0.0; }
        return;
    }
    let inv_t = 1.0 / p.t;
    let y = labels[row];
    let s = split(0u, base, y, inv_t, lid);
    let te = split(1u, base, y, inv_t, lid);
    let k = dloss[0] * p.t / f32(p.rows);
    let gap = p.alpha * (exp(s.log_target) - exp(te.log_target));
    for (var j = lid; j < p.cols; j += WG) {
        if j == y {
            dst[base + j] = k * gap;
        } else {
            let ps_hat = exp(log_other(s, zs[base + j], inv_t));
            let pt_hat = exp(log_other(te, zt[base + j], inv_t));
            dst[base + j] = k * (p.beta * (ps_hat - pt_hat) - gap * ps_hat);
        }
    }
}
