// The KD loss, alpha t^2 KL(softmax(zt / t) || softmax(zs / t)) + (1 - alpha) CE(zs, y), its
// gradient and the study's per-row parts, in one dispatch: one workgroup per row, reductions in
// workgroup memory. The twin of kernels/src/kd_loss.rs, in f32 (WGSL has no portable f64): the
// KL is taken in the same centred form, whose terms are all non-negative, so t^2 = 1e4 does not
// magnify a cancellation.

// Mirrored by KdLossParams in src/backend/gpu/params.rs.
struct Params {
    rows: u32,
    cols: u32,
    t: f32,
    alpha: f32,
    scale: f32,     // the gradient's factor: 1 / rows for the batch mean
    outputs: u32,   // bit 0: write the gradient; bit 1: write the parts
}

@group(0) @binding(0) var<uniform> p: Params;
// zs, zt, labels, dst (the rows' losses) and the row helpers: from loss.wgsl.
@group(0) @binding(6) var<storage, read_write> grad: array<f32>;    // rows x cols
@group(0) @binding(7) var<storage, read_write> parts: array<f32>;   // rows x PARTS

const PARTS: u32 = 6u;

// The row's maximum of the student's (which = 0) or the teacher's (1) logits.
fn row_max(which: u32, base: u32, lid: u32) -> f32 {
    var m = -3.4028235e38;
    for (var j = lid; j < p.cols; j += WG) {
        m = max(m, logit(which, base + j));
    }
    return workgroup_max(m, lid);
}

// The row's sum of exp((z - m) * inv_t) for the student's (which = 0) or the teacher's (1) logits.
fn row_exp_sum(which: u32, base: u32, m: f32, inv_t: f32, lid: u32) -> f32 {
    var s = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        s += exp((logit(which, base + j) - m) * inv_t);
    }
    return workgroup_sum(s, lid);
}

// KL(softmax(zt / t) || softmax(zs / t)) of the row; ss and st the rows' sums at t. With
// p = et / st, q = es / ss and v_j = log(q_j / p_j) = log(st / ss) - a_j, a_j = log et_j - log es_j:
// since sum q = sum p = 1, KL = sum_j p_j (e^v_j - 1 - v_j), each term >= 0 (the series where
// |v| < 1/2), so nothing cancels however small the KL (t = 100 and t^2 = 1e4 would show any
// rounding). An error d in log(st / ss), from the f32 sums or the device's log, moves it by
// d (sum q - 1): nothing to first order. One sweep, as the CPU kernel's.
fn row_kl(base: u32, ms: f32, mt: f32, inv_t: f32, ss: f32, st: f32, lid: u32) -> f32 {
    let ratio = st / ss;
    let c = log(ratio);
    var terms = 0.0;
    for (var j = lid; j < p.cols; j += WG) {
        let es = exp((zs[base + j] - ms) * inv_t);
        let et = exp((zt[base + j] - mt) * inv_t);
        let v = c - ((zt[base + j] - mt) - (zs[base + j] - ms)) * inv_t;
        var series = 1.0 / 40320.0;
        series = series * v + 1.0 / 5040.0;
        series = series * v + 1.0 / 720.0;
        series = series * v + 1.0 / 120.0;
        series = series * v + 1.0 / 24.0;
        series = series * v + 1.0 / 6.0;
        series = series * v + 0.5;
        terms += select(es * ratio - et * (1.0 + v), et * v * v * series, abs(v) < 0.5);
    }
    return max(workgroup_sum(terms, lid) / st, 0.0);
}

// The first column holding the row's maximum `peak`.
fn first_at(which: u32, base: u32, peak: f32, lid: u32) -> u32 {
    var first = -f32(p.cols);
    for (var j = lid; j < p.cols; j += WG) {
        if logit(which, base + j) == peak { first = max(first, -f32(j)); }
    }
    return u32(-workgroup_max(first, lid));
}

@compute @workgroup_size(WG)
fn kd_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let row = flat_workgroup(wid, nwg);
    if row >= p.rows { return; }
    let base = row * p.cols;
    let inv_t = 1.0 / p.t;
    let y = labels[row];
    let want_parts = (p.outputs & 2u) != 0u;
    let soft = p.alpha > 0.0 || want_parts;
    let ms = row_max(0u, base, lid);
    let mt = row_max(1u, base, lid);
    var ss = 1.0;
    var st = 1.0;
    var kl = 0.0;
    if soft {
        ss = row_exp_sum(0u, base, ms, inv_t, lid);
        st = row_exp_sum(1u, base, mt, inv_t, lid);
        kl = row_kl(base, ms, mt, inv_t, ss, st, lid);
    }
    let ss1 = row_exp_sum(0u, base, ms, 1.0, lid);
    let ce = log(ss1) - (zs[base + y] - ms);
    if lid == 0u {
        dst[row] = p.alpha * p.t * p.t * kl + (1.0 - p.alpha) * ce;
    }
    if (p.outputs & 1u) != 0u {
        let k_soft = p.scale * p.alpha * p.t;
        let k_hard = p.scale * (1.0 - p.alpha);
        for (var j = lid; j < p.cols; j += WG) {
            var d = k_hard * exp(zs[base + j] - ms) / ss1;
            if soft {
                d += k_soft * (exp((zs[base + j] - ms) * inv_t) / ss - exp((zt[base + j] - mt) * inv_t) / st);
            }
            if j == y {
                d -= k_hard;
            }
            grad[base + j] = d;
        }
    }
    if want_parts {
        let parts_row = decoupled(base, y, inv_t, lid);
        // One class: nothing outside the label, both parts 0.
        let tckd = select(parts_row.x, 0.0, p.cols < 2u);
        let nckd = parts_row.y;
        let st1 = row_exp_sum(1u, base, mt, 1.0, lid);
        let kl1 = row_kl(base, ms, mt, 1.0, ss1, st1, lid);
        let agree = first_at(0u, base, ms, lid) == first_at(1u, base, mt, lid);
        if lid == 0u {
            let o = row * PARTS;
            parts[o] = kl;
            parts[o + 1u] = ce;
            parts[o + 2u] = tckd;
            parts[o + 3u] = select(nckd, 0.0, p.cols < 2u);
            parts[o + 4u] = select(0.0, 1.0, agree);
            parts[o + 5u] = kl1;
        }
    }
}
