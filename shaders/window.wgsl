// Prepended to im2col.wgsl and pool.wgsl (after common.wgsl): the window geometry their
// kernels share, twin of kernels/src/window.rs, and the index helpers. One invocation per output
// value; the backward kernels gather (each input position sums what it fed) instead of
// scattering, so they need no atomics.

// Mirrored by WindowParams in src/backend/gpu/params.rs.
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

// The input position (n, y, x, channel) of invocation `lid`'s element, or NONE in .x past the end.
fn input_position(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> vec4<u32> {
    let e = element(wid, nwg, lid);
    if e >= p.total { return vec4<u32>(NONE); }
    return unflatten(e, p.height, p.width);
}
