// Elementwise kernels, one invocation per element: the WGSL twins of kernels/src/elementwise.rs.

// Mirrored by ElementwiseParams in src/backend/gpu/params.rs.
struct Params {
    n: u32,     // elements
    cols: u32,  // row length, for the bias
    scale: f32, // scale, scale_by, axpy: the factor
    relu: u32,  // add_bias: apply ReLU after the bias
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// dst = x + bias (y, one value per column), then ReLU if p.relu.
@compute @workgroup_size(ELEMENTWISE_WG)
fn add_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    let v = x[i] + y[i % p.cols];
    // NaN stays NaN (as on the CPU): a diverged layer must reach the loss.
    dst[i] = select(v, select(v, 0.0, v < 0.0), p.relu != 0u);
}

@compute @workgroup_size(ELEMENTWISE_WG)
fn relu(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] = select(x[i], 0.0, x[i] < 0.0);
}

// dx = dy where the forward output y (here `x`) is positive, else 0.
@compute @workgroup_size(ELEMENTWISE_WG)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] = select(0.0, y[i], x[i] > 0.0);
}

@compute @workgroup_size(ELEMENTWISE_WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] = x[i] + y[i];
}

@compute @workgroup_size(ELEMENTWISE_WG)
fn mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] = x[i] * y[i];
}

// dst = s x.
@compute @workgroup_size(ELEMENTWISE_WG)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] = p.scale * x[i];
}

// dst = s y[0] x: a scale by a one-element device buffer, read without a round trip to the host.
@compute @workgroup_size(ELEMENTWISE_WG)
fn scale_by(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] = (p.scale * y[0]) * x[i];
}

// dst += s x.
@compute @workgroup_size(ELEMENTWISE_WG)
fn axpy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] += p.scale * x[i];
}
