// Prepended to every module of the registry (src/backend/gpu/shaders.rs): the grid layout and
// the workgroup reductions the row kernels share. WGSL has no includes.

// Workgroups are laid out on a 2-D grid (x up to the adapter's per-dimension limit) so that
// more than 65,535 of them can run: this is the flat index of one.
fn flat_workgroup(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

// Invocations per workgroup of the one-per-element kernels (ELEMENTWISE_WG in gpu/mod.rs).
const ELEMENTWISE_WG: u32 = 256u;

// The element of invocation `lid` of a one-per-element kernel.
fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return flat_workgroup(wid, nwg) * ELEMENTWISE_WG + lid;
}

// Invocations per workgroup of the row kernels (softmax, KD loss, reductions).
const WG: u32 = 64u;
var<workgroup> partial: array<f32, WG>;

// The sum of `v` over the workgroup, returned to every invocation. Call from uniform control flow.
fn workgroup_sum(v: f32, lid: u32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

// The maximum of `v` over the workgroup, returned to every invocation.
fn workgroup_max(v: f32, lid: u32) -> f32 {
    partial[lid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if lid < stride {
            partial[lid] = max(partial[lid], partial[lid + stride]);
        }
        workgroupBarrier();
    }
    let best = partial[0];
    workgroupBarrier();
    return best;
}
