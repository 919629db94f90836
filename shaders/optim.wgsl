// Optimizer updates, one invocation per weight: twins of kernels/src/optim.rs (PyTorch's
// conventions: momentum on the raw gradient plus decay; AdamW's decoupled decay).

// Mirrored by OptimParams in src/backend/gpu/params.rs; each kernel reads only its own fields.
struct Params {
    n: u32,             // sgd_momentum, adam: weights
    rows: u32,          // max_norm_columns
    cols: u32,          // max_norm_columns
    lr: f32,
    momentum: f32,      // sgd_momentum
    weight_decay: f32,
    beta1: f32,         // adam
    beta2: f32,         // adam
    eps: f32,           // adam
    c1: f32,            // adam: 1 - beta1^step, from the host
    c2: f32,            // adam: 1 - beta2^step
    max_norm: f32,      // max_norm_columns
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;   // sgd: the velocity
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

// v = momentum v + g + weight_decay w; w -= lr v.
@compute @workgroup_size(ELEMENTWISE_WG)
fn sgd_momentum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    let vel = p.momentum * m[i] + g[i] + p.weight_decay * w[i];
    m[i] = vel;
    w[i] -= p.lr * vel;
}

@compute @workgroup_size(ELEMENTWISE_WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    let gi = g[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * gi;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    w[i] -= p.lr * ((mi / p.c1) / (sqrt(vi / p.c2) + p.eps) + p.weight_decay * w[i]);
}

// Rescales each column of the rows x cols matrix w whose L2 norm exceeds max_norm down to it.
@compute @workgroup_size(ELEMENTWISE_WG)
fn max_norm_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let j = element(wid, nwg, lid);
    if j >= p.cols { return; }
    var norm2 = 0.0;
    for (var i = 0u; i < p.rows; i++) {
        let x = w[i * p.cols + j];
        norm2 += x * x;
    }
    let norm = sqrt(norm2);
    if norm > p.max_norm {
        let f = p.max_norm / norm;
        for (var i = 0u; i < p.rows; i++) {
            w[i * p.cols + j] *= f;
        }
    }
}
