// Reductions: the sum of a buffer and column sums (the bias gradient). Twins of `sum` and
// `col_sums` in kernels/src/reduce.rs; predicted classes (`argmax_rows`) are taken on the host
// from the logits evaluation reads back anyway.

// Mirrored by ReduceParams in src/backend/gpu/params.rs; each kernel reads only its own fields.
struct Params {
    n: u32,      // sum: elements
    rows: u32,   // col_sums
    cols: u32,   // col_sums
    scale: f32,  // sum: the factor on the result
    beta: f32,   // col_sums: the factor on what dst held
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// dst[0] = s * sum(x), by one workgroup: used on losses and small buffers, not on weights.
@compute @workgroup_size(WG)
fn sum(@builtin(local_invocation_index) lid: u32) {
    var acc = 0.0;
    for (var i = lid; i < p.n; i += WG) {
        acc += x[i];
    }
    let total = workgroup_sum(acc, lid);
    if lid == 0u {
        dst[0] = p.scale * total;
    }
}

// dst[j] = beta dst[j] + sum_i x[i, j], one invocation per column; beta = 0 never reads dst,
// which may hold anything (a recycled buffer).
@compute @workgroup_size(ELEMENTWISE_WG)
fn col_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = element(wid, nwg, lid);
    if j >= p.cols { return; }
    var acc = 0.0;
    for (var i = 0u; i < p.rows; i++) {
        acc += x[i * p.cols + j];
    }
    if p.beta == 0.0 {
        dst[j] = acc;
    } else {
        dst[j] = p.beta * dst[j] + acc;
    }
}
