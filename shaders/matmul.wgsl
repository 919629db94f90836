// c = op(a) op(b) + beta c, with op(a) m x k and op(b) k x n, all row-major; the WGSL twin of
// kernels/src/matmul.rs. The transposes the backward pass needs are pipeline constants, so each
// variant compiles to straight loads.
//
// Tiling: a workgroup of 16 x 16 invocations owns a 64 x 64 block of c and walks k in steps of
// 16, staging a 64 x 16 tile of op(a) and a 16 x 64 tile of op(b) in workgroup memory. Each
// invocation keeps a 4 x 4 block of c in registers (four vec4 accumulators), at rows ty + 16 r
// and columns tx + 16 c, so that neighbouring invocations touch neighbouring columns (coalesced
// stores, conflict-free workgroup reads). Edges load zeros, so any m, k, n work.

// Mirrored by MatmulParams in src/backend/gpu/params.rs.
struct Params {
    m: u32,
    k: u32,
    n: u32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// a is stored k x m (op(a) = a^T); b is stored n x k (op(b) = b^T).
override TRANS_A: bool = false;
override TRANS_B: bool = false;

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>;   // [TK][TM]
var<workgroup> tile_b: array<f32, 1024>;   // [TK][TN]

fn load_a(i: u32, kk: u32) -> f32 {
    if i >= p.m || kk >= p.k {
        return 0.0;
    }
    if TRANS_A {
        return a[kk * p.m + i];
    }
    return a[i * p.k + kk];
}

fn load_b(kk: u32, j: u32) -> f32 {
    if kk >= p.k || j >= p.n {
        return 0.0;
    }
    if TRANS_B {
        return b[j * p.k + kk];
    }
    return b[kk * p.n + j];
}

fn store(i: u32, j: u32, v: f32) {
    if i < p.m && j < p.n {
        let idx = i * p.n + j;
        if p.beta == 0.0 {
            // Never read c: a recycled buffer may hold NaN, and 0 * NaN is NaN.
            c[idx] = v;
        } else {
            c[idx] = v + p.beta * c[idx];
        }
    }
}

// Four values of row i, at columns j, j + stride, j + 2 stride, j + 3 stride.
fn store4(i: u32, j: u32, stride: u32, v: vec4<f32>) {
    store(i, j, v.x);
    store(i, j + stride, v.y);
    store(i, j + 2u * stride, v.z);
    store(i, j + 3u * stride, v.w);
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * TM;
    let col0 = wid.x * TN;
    let tx = lid3.x;
    let ty = lid3.y;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        // 1024 values of each tile, four per invocation; consecutive invocations read
        // consecutive addresses of whichever layout the operand has.
        for (var q = 0u; q < 4u; q++) {
            let e = lid + q * 256u;
            var i = e / TK;
            var ka = e % TK;
            if TRANS_A {
                i = e % TM;
                ka = e / TM;
            }
            tile_a[ka * TM + i] = load_a(row0 + i, k0 + ka);
            var j = e % TN;
            var kb = e / TN;
            if TRANS_B {
                j = e / TK;
                kb = e % TK;
            }
            tile_b[kb * TN + j] = load_b(k0 + kb, col0 + j);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let oa = kk * TM + ty;
            let ob = kk * TN + tx;
            let av = vec4<f32>(tile_a[oa], tile_a[oa + 16u], tile_a[oa + 32u], tile_a[oa + 48u]);
            let bv = vec4<f32>(tile_b[ob], tile_b[ob + 16u], tile_b[ob + 32u], tile_b[ob + 48u]);
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }
        workgroupBarrier();
    }
    let j = col0 + tx;
    store4(row0 + ty, j, 16u, acc0);
    store4(row0 + ty + 16u, j, 16u, acc1);
    store4(row0 + ty + 32u, j, 16u, acc2);
    store4(row0 + ty + 48u, j, 16u, acc3);
}

// The same product for large matrices: 128 x 128 blocks of c, k in steps of 8, and an 8 x 8
// block of c per invocation (rows 8 ty.., columns 8 tx..), so each pair of workgroup-memory
// reads feeds 64 FMAs instead of 16. Chosen by the host when there are enough blocks to fill
// the device.

const LM: u32 = 128u;
const LN: u32 = 128u;
const LK: u32 = 8u;

var<workgroup> large_a: array<f32, 1024>;   // [LK][LM]
var<workgroup> large_b: array<f32, 1024>;   // [LK][LN]

@compute @workgroup_size(16, 16)
fn matmul_large(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row0 = wid.y * LM;
    let col0 = wid.x * LN;
    let r0 = lid3.y * 8u;
    let c0 = lid3.x * 8u;
    var acc: array<vec4<f32>, 16>;   // row r: acc[2 r] (columns 0..4), acc[2 r + 1] (4..8)
    for (var k0 = 0u; k0 < p.k; k0 += LK) {
        // Four values of each tile per invocation, consecutive in whichever layout the operand has.
        for (var q = 0u; q < 4u; q++) {
            var i = lid / 2u;
            var ka = (lid % 2u) * 4u + q;
            if TRANS_A {
                i = (lid % 32u) * 4u + q;
                ka = lid / 32u;
            }
            large_a[ka * LM + i] = load_a(row0 + i, k0 + ka);
            var j = (lid % 32u) * 4u + q;
            var kb = lid / 32u;
            if TRANS_B {
                j = lid / 2u;
                kb = (lid % 2u) * 4u + q;
            }
            large_b[kb * LN + j] = load_b(k0 + kb, col0 + j);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < LK; kk++) {
            let oa = kk * LM + r0;
            let ob = kk * LN + c0;
            let b_lo = vec4<f32>(large_b[ob], large_b[ob + 1u], large_b[ob + 2u], large_b[ob + 3u]);
            let b_hi = vec4<f32>(large_b[ob + 4u], large_b[ob + 5u], large_b[ob + 6u], large_b[ob + 7u]);
            for (var r = 0u; r < 8u; r++) {
                let a = vec4<f32>(large_a[oa + r]);
                acc[2u * r] = fma(a, b_lo, acc[2u * r]);
                acc[2u * r + 1u] = fma(a, b_hi, acc[2u * r + 1u]);
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 8u; r++) {
        store4(row0 + r0 + r, col0 + c0, 1u, acc[2u * r]);
        store4(row0 + r0 + r, col0 + c0 + 4u, 1u, acc[2u * r + 1u]);
    }
}
