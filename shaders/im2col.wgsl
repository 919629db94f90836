// im2col and its adjoint col2im on NHWC images: twins of kernels/src/im2col.rs. The geometry
// and helpers come from window.wgsl.

// cols[(n, oy, ox), (ky, kx, c)] = x[n, oy s + ky - pad, ox s + kx - pad, c], zero outside.
@compute @workgroup_size(ELEMENTWISE_WG)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let e = element(wid, nwg, lid);
    if e >= p.total { return; }
    let col_width = p.kernel * p.kernel * p.channels;
    let row = e / col_width;
    let col = e % col_width;
    let ch = col % p.channels;
    let kx = (col / p.channels) % p.kernel;
    let ky = col / (p.channels * p.kernel);
    let ox = row % p.out_width;
    let oy = (row / p.out_width) % p.out_height;
    let n = row / (p.out_width * p.out_height);
    let iy = i32(oy * p.stride + ky) - i32(p.padding);
    let ix = i32(ox * p.stride + kx) - i32(p.padding);
    var v = 0.0;
    if iy >= 0 && ix >= 0 && iy < i32(p.height) && ix < i32(p.width) {
        v = x[image_index(n, u32(iy), u32(ix), ch)];
    }
    dst[e] = v;
}

// dx[n, iy, ix, c] = the sum of the column entries read from (iy, ix, c).
@compute @workgroup_size(ELEMENTWISE_WG)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let at = input_position(wid, nwg, lid);
    if at.x == NONE { return; }
    let col_width = p.kernel * p.kernel * p.channels;
    var acc = 0.0;
    for (var ky = 0u; ky < p.kernel; ky++) {
        let oy = window_output(at.y, ky, p.out_height);
        if oy == NONE { continue; }
        for (var kx = 0u; kx < p.kernel; kx++) {
            let ox = window_output(at.z, kx, p.out_width);
            if ox != NONE {
                let row = (at.x * p.out_height + oy) * p.out_width + ox;
                acc += x[row * col_width + (ky * p.kernel + kx) * p.channels + at.w];
            }
        }
    }
    dst[image_index(at.x, at.y, at.z, at.w)] = acc;
}
