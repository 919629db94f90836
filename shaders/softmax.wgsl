// Softmax and log-softmax with a temperature, forward and backward: one workgroup per row,
// reductions in workgroup memory. Twins of kernels/src/softmax.rs.

// Mirrored by SoftmaxParams in src/backend/gpu/params.rs.
struct Params {
    rows: u32,
    cols: u32,
    inv_t: f32,
    log: u32,   // 1: log-softmax
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;    // forward: logits; backward: y
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WG)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    let base = row * p.cols;
    var m = -3.4028235e38;
    for (var j = lid; j < p.cols; j += WG) {
        m = max(m, x[base + j]);
    }
    m = workgroup_max(m, lid);
    var s = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        s += exp((x[base + j] - m) * p.inv_t);
    }
    // s >= 1: the maximum contributes exp(0).
    s = workgroup_sum(s, lid);
    let log_s = log(s);
    let inv_s = 1.0 / s;
    for (var j = lid; j < p.cols; j += WG) {
        let shifted = (x[base + j] - m) * p.inv_t;
        dst[base + j] = select(exp(shifted) * inv_s, shifted - log_s, p.log != 0u);
    }
}

// softmax: dx = y (dy - sum(y dy)) / t; log-softmax: dx = (dy - exp(y) sum(dy)) / t.
@compute @workgroup_size(WG)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    let base = row * p.cols;
    let log_softmax = p.log != 0u;
    var acc = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        acc += select(x[base + j] * dy[base + j], dy[base + j], log_softmax);
    }
    let total = workgroup_sum(acc, lid);
    for (var j = lid; j < p.cols; j += WG) {
        let y = x[base + j];
        let g = dy[base + j];
        dst[base + j] = select(y * (g - total), g - exp(y) * total, log_softmax) * p.inv_t;
    }
}
