// 2-D max-pooling on NHWC images and its gradient: twins of kernels/src/pool.rs. The geometry
// and helpers come from window.wgsl.

// The flat index of window offset (ky, kx) of pooling output (n, oy, ox), channel ch.
fn window_index(n: u32, oy: u32, ox: u32, ky: u32, kx: u32, ch: u32) -> u32 {
    return image_index(n, oy * p.stride + ky, ox * p.stride + kx, ch);
}

@compute @workgroup_size(ELEMENTWISE_WG)
fn max_pool2d(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let e = element(wid, nwg, lid);
    if e >= p.total { return; }
    let at = unflatten(e, p.out_height, p.out_width);
    let n = at.x;
    let oy = at.y;
    let ox = at.z;
    let ch = at.w;
    var best = x[window_index(n, oy, ox, 0u, 0u, ch)];
    for (var ky = 0u; ky < p.kernel; ky++) {
        for (var kx = 0u; kx < p.kernel; kx++) {
            let v = x[window_index(n, oy, ox, ky, kx, ch)];
            best = select(best, v, v > best || v != v);
        }
    }
    dst[e] = best;
}

// dx at an input position: the gradient of each window whose first maximum sits there.
@compute @workgroup_size(ELEMENTWISE_WG)
fn max_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let at = input_position(wid, nwg, lid);
    if at.x == NONE { return; }
    let n = at.x;
    let ch = at.w;
    var acc = 0.0;
    // Pools have no padding (the host checks), so window_output is the pool's too.
    for (var ky = 0u; ky < p.kernel; ky++) {
        let oy = window_output(at.y, ky, p.out_height);
        for (var kx = 0u; kx < p.kernel && oy != NONE; kx++) {
            let ox = window_output(at.z, kx, p.out_width);
            if ox == NONE { continue; }
            let o = ((n * p.out_height + oy) * p.out_width + ox) * p.channels + ch;
            // The window's first position (row-major) holding its maximum.
            var first = NONE;
            for (var wy = 0u; wy < p.kernel; wy++) {
                for (var wx = 0u; wx < p.kernel; wx++) {
                    if first == NONE && x[window_index(n, oy, ox, wy, wx, ch)] == y[o] {
                        first = wy * p.kernel + wx;
                    }
                }
            }
            if first == ky * p.kernel + kx {
                acc += dy[o];
            }
        }
    }
    dst[image_index(n, at.y, at.z, ch)] = acc;
}
