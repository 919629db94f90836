// Inverted dropout from a counter-based hash: the WGSL twin of kernels/src/dropout.rs, drawing
// the same mask bit for bit (u32 arithmetic wraps in both). The backward pass is the same kernel
// on the upstream gradient with the same seed.

// Mirrored by DropoutParams in src/backend/gpu/params.rs.
struct Params {
    n: u32,
    p: f32,       // drop probability, in [0, 1)
    scale: f32,   // 1 / (1 - p), computed on the host as the CPU kernel does
    seed_lo: u32,
    seed_hi: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

// Wellons' "lowbias32".
fn hash_u32(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    h ^= h >> 16u;
    return h;
}

// A uniform draw in [0, 1) with 24 bits, for element `index` of the stream (seed_hi, seed_lo).
fn uniform01(index: u32) -> f32 {
    let key = hash_u32(p.seed_lo ^ hash_u32(p.seed_hi ^ 0x9e3779b9u));
    let bits = hash_u32(key + hash_u32(index));
    return f32(bits >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(ELEMENTWISE_WG)
fn dropout(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = element(wid, nwg, lid);
    if i >= p.n { return; }
    dst[i] = select(0.0, x[i] * p.scale, uniform01(i) >= p.p);
}
