// im2col / col2im and 2-D max-pooling on NHWC images: twins of kernels/src/conv.rs. One
// invocation per output value; the backward kernels gather (each input position sums what it
// fed) instead of scattering, so they need no atomics.

struct Params {
    total: u32,      // values written by this dispatch
    batch: u32,
    height: u32,
    width: u32,
    channels: u32,
    kernel: u32,
    stride: u32,
    padding: u32,
    out_height: u32,
    out_width: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;    // im2col, pooling: the image; col2im: the columns
@group(0) @binding(2) var<storage, read> y: array<f32>;    // pooling backward: the forward output
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

fn image_index(n: u32, iy: u32, ix: u32, ch: u32) -> u32 {
    return ((n * p.height + iy) * p.width + ix) * p.channels + ch;
}

const NONE: u32 = 0xffffffffu;

// The output row (or column) whose window puts offset `k` on input row (or column) `i`, that
// is `o stride + k - padding = i` with `o < out_size`; NONE if there is none. The backward
// kernels gather through it.
fn window_output(i: u32, k: u32, out_size: u32) -> u32 {
    let s = i32(i + p.padding) - i32(k);
    if s < 0 || u32(s) % p.stride != 0u || u32(s) / p.stride >= out_size {
        return NONE;
    }
    return u32(s) / p.stride;
}

// (n, y, x, channel) of the flat index `e` into an NHWC batch of height x width images.
fn unflatten(e: u32, height: u32, width: u32) -> vec4<u32> {
    return vec4<u32>(e / (p.channels * width * height), (e / (p.channels * width)) % height, (e / p.channels) % width, e % p.channels);
}

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
    let e = element(wid, nwg, lid);
    if e >= p.total { return; }
    let at = unflatten(e, p.height, p.width);
    let n = at.x;
    let iy = at.y;
    let ix = at.z;
    let ch = at.w;
    let col_width = p.kernel * p.kernel * p.channels;
    var acc = 0.0;
    for (var ky = 0u; ky < p.kernel; ky++) {
        let oy = window_output(iy, ky, p.out_height);
        if oy == NONE { continue; }
        for (var kx = 0u; kx < p.kernel; kx++) {
            let ox = window_output(ix, kx, p.out_width);
            if ox == NONE { continue; }
            let row = (n * p.out_height + oy) * p.out_width + ox;
            acc += x[row * col_width + (ky * p.kernel + kx) * p.channels + ch];
        }
    }
    dst[e] = acc;
}

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
            best = max(best, x[window_index(n, oy, ox, ky, kx, ch)]);
        }
    }
    dst[e] = best;
}

// dx at an input position: the gradient of each window whose first maximum sits there.
@compute @workgroup_size(ELEMENTWISE_WG)
fn max_pool2d_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let e = element(wid, nwg, lid);
    if e >= p.total { return; }
    let at = unflatten(e, p.height, p.width);
    let n = at.x;
    let iy = at.y;
    let ix = at.z;
    let ch = at.w;
    var acc = 0.0;
    // Pools have no padding (the host checks), so window_output is the pool's too.
    for (var ky = 0u; ky < p.kernel; ky++) {
        let oy = window_output(iy, ky, p.out_height);
        if oy == NONE { continue; }
        for (var kx = 0u; kx < p.kernel; kx++) {
            let ox = window_output(ix, kx, p.out_width);
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
    dst[e] = acc;
}
