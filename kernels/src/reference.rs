//! Naive f64 references: the spec of every kernel. Plain loops, never optimised.
//!
//! Fast kernels (SIMD, rayon, WGSL) are tested against these; finite-difference gradient checks
//! differentiate them in f64. Shapes follow the fast kernels: row-major `rows x cols`.

use crate::dropout::keep_mask;
use crate::window::Conv2dGeometry;

/// `op(A) (m x k) * op(B) (k x n)`. With `trans_a`, `a` holds `k x m`; with `trans_b`, `b` holds `n x k`.
pub fn matmul(m: usize, k: usize, n: usize, a: &[f64], trans_a: bool, b: &[f64], trans_b: bool) -> Vec<f64> {
    let at = |i: usize, p: usize| if trans_a { a[p * m + i] } else { a[i * k + p] };
    let bt = |p: usize, j: usize| if trans_b { b[j * k + p] } else { b[p * n + j] };
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| at(i, p) * bt(p, j)).sum();
        }
    }
    c
}

/// `x (rows x cols) + bias (cols)`, broadcast over rows, then ReLU if `relu`.
pub fn add_bias(rows: usize, cols: usize, x: &[f64], bias: &[f64], relu: bool) -> Vec<f64> {
    let mut y = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            let v = x[i * cols + j] + bias[j];
            y[i * cols + j] = if relu { v.max(0.0) } else { v };
        }
    }
    y
}

/// `max(x, 0)`.
pub fn relu(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.max(0.0)).collect()
}

/// Sums over rows: `out[j] = sum_i x[i, j]` (the bias gradient).
pub fn col_sums(rows: usize, cols: usize, x: &[f64]) -> Vec<f64> {
    (0..cols).map(|j| (0..rows).map(|i| x[i * cols + j]).sum()).collect()
}

/// Inverted dropout with the counter-based mask of [`crate::dropout`].
pub fn dropout(x: &[f64], p: f32, seed: u64) -> Vec<f64> {
    let scale = 1.0 / (1.0 - p as f64);
    x.iter().enumerate().map(|(i, &v)| if keep_mask(seed, i as u32, p) { v * scale } else { 0.0 }).collect()
}

/// Row-wise `softmax(x / t)`.
pub fn softmax(rows: usize, cols: usize, x: &[f64], t: f64) -> Vec<f64> {
    log_softmax(rows, cols, x, t).into_iter().map(f64::exp).collect()
}

/// Row-wise `log_softmax(x / t)`, through the max-shifted log-sum-exp.
pub fn log_softmax(rows: usize, cols: usize, x: &[f64], t: f64) -> Vec<f64> {
    let mut y = vec![0.0; rows * cols];
    for i in 0..rows {
        let row = &x[i * cols..(i + 1) * cols];
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = row.iter().map(|v| ((v - max) / t).exp()).sum::<f64>().ln();
        for j in 0..cols {
            y[i * cols + j] = (row[j] - max) / t - lse;
        }
    }
    y
}

/// The distillation loss, batch mean:
/// `alpha * t^2 * KL(softmax(zt/t) || softmax(zs/t)) + (1 - alpha) * CE(zs, y)`.
pub fn kd_loss(rows: usize, cols: usize, zs: &[f64], zt: &[f64], labels: &[u32], t: f64, alpha: f64) -> f64 {
    let ls_t = log_softmax(rows, cols, zs, t);
    let lt_t = log_softmax(rows, cols, zt, t);
    let ls_1 = log_softmax(rows, cols, zs, 1.0);
    let mut total = 0.0;
    for i in 0..rows {
        let mut kl = 0.0;
        for j in 0..cols {
            let pt = lt_t[i * cols + j].exp();
            if pt > 0.0 {
                kl += pt * (lt_t[i * cols + j] - ls_t[i * cols + j]);
            }
        }
        let ce = -ls_1[i * cols + labels[i] as usize];
        total += alpha * t * t * kl + (1.0 - alpha) * ce;
    }
    total / rows as f64
}

/// `KL(softmax(p / t) || softmax(q / t))` of one row of logits.
pub fn kl_t(p: &[f64], q: &[f64], t: f64) -> f64 {
    let (lp, lq) = (log_softmax(1, p.len(), p, t), log_softmax(1, q.len(), q, t));
    lp.iter().zip(&lq).filter(|(a, _)| a.exp() > 0.0).map(|(a, b)| a.exp() * (a - b)).sum()
}

/// Decoupled KD, batch mean: `t^2 (alpha TCKD + beta NCKD)`, from the definitions: TCKD the KL
/// of the binary `[p_y, 1 - p_y]` distributions, NCKD the KL of the distributions renormalised
/// over the classes other than `y`.
#[allow(clippy::too_many_arguments)]
pub fn dkd_loss(rows: usize, cols: usize, zs: &[f64], zt: &[f64], labels: &[u32], t: f64, alpha: f64, beta: f64) -> f64 {
    let (ps, pt) = (softmax(rows, cols, zs, t), softmax(rows, cols, zt, t));
    let kl = |p: &[f64], q: &[f64]| -> f64 { p.iter().zip(q).filter(|(a, _)| **a > 0.0).map(|(a, b)| a * (a / b).ln()).sum() };
    let mut total = 0.0;
    for i in 0..rows {
        let (ps, pt, y) = (&ps[i * cols..(i + 1) * cols], &pt[i * cols..(i + 1) * cols], labels[i] as usize);
        let rest = |p: &[f64]| p.iter().enumerate().filter(|&(j, _)| j != y).map(|(_, v)| *v).sum::<f64>();
        let tckd = kl(&[pt[y], rest(pt)], &[ps[y], rest(ps)]);
        let others = |p: &[f64]| -> Vec<f64> { p.iter().enumerate().filter(|&(j, _)| j != y).map(|(_, v)| v / rest(p)).collect() };
        let nckd = if cols > 1 { kl(&others(pt), &others(ps)) } else { 0.0 };
        total += t * t * (alpha * tckd + beta * nckd);
    }
    total / rows as f64
}

/// Mean cross-entropy of `z` against `labels`: [`kd_loss`] with `alpha = 0`.
pub fn cross_entropy(rows: usize, cols: usize, z: &[f64], labels: &[u32]) -> f64 {
    kd_loss(rows, cols, z, z, labels, 1.0, 0.0)
}

/// One SGD step with momentum, PyTorch's convention: `v = mu v + g + wd w; w -= lr v`.
pub fn sgd_momentum(w: &mut [f64], g: &[f64], v: &mut [f64], lr: f64, momentum: f64, weight_decay: f64) {
    for i in 0..w.len() {
        v[i] = momentum * v[i] + g[i] + weight_decay * w[i];
        w[i] -= lr * v[i];
    }
}

/// Rescales each column of `w (rows x cols)` whose L2 norm exceeds `max_norm` down to it.
pub fn max_norm_columns(rows: usize, cols: usize, w: &mut [f64], max_norm: f64) {
    for j in 0..cols {
        let norm = (0..rows).map(|i| w[i * cols + j].powi(2)).sum::<f64>().sqrt();
        if norm > max_norm {
            for i in 0..rows {
                w[i * cols + j] *= max_norm / norm;
            }
        }
    }
}

/// One AdamW step (decoupled weight decay), bias-corrected, `step` counted from 1.
#[allow(clippy::too_many_arguments)]
pub fn adam(
    w: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], lr: f64, beta1: f64, beta2: f64, eps: f64, step: u32, weight_decay: f64,
) {
    let c1 = 1.0 - beta1.powi(step as i32);
    let c2 = 1.0 - beta2.powi(step as i32);
    for i in 0..w.len() {
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
        w[i] -= lr * (m[i] / c1 / ((v[i] / c2).sqrt() + eps) + weight_decay * w[i]);
    }
}

/// Index of the largest value of each row; the first one on ties.
pub fn argmax_rows(rows: usize, cols: usize, x: &[f64]) -> Vec<u32> {
    (0..rows)
        .map(|i| {
            let row = &x[i * cols..(i + 1) * cols];
            (0..cols).fold(0, |best, j| if row[j] > row[best] { j } else { best }) as u32
        })
        .collect()
}

/// Direct 2-D convolution of NHWC `x` with `w` (`[(ky, kx, c), out_channels]`), zero padding:
/// `y[n, oy, ox, o] = sum x[n, oy s + ky - p, ox s + kx - p, c] w[(ky, kx, c), o]`.
pub fn conv2d(g: &Conv2dGeometry, x: &[f64], w: &[f64], out_channels: usize) -> Vec<f64> {
    let (oh, ow, c, k) = (g.out_height(), g.out_width(), g.channels, g.kernel);
    let mut y = vec![0.0; g.batch * oh * ow * out_channels];
    for n in 0..g.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..out_channels {
                    let mut acc = 0.0;
                    for ky in 0..k {
                        for kx in 0..k {
                            let (iy, ix) =
                                ((oy * g.stride + ky) as isize - g.padding as isize, (ox * g.stride + kx) as isize - g.padding as isize);
                            if iy < 0 || ix < 0 || iy >= g.height as isize || ix >= g.width as isize {
                                continue;
                            }
                            for ci in 0..c {
                                acc += x[((n * g.height + iy as usize) * g.width + ix as usize) * c + ci]
                                    * w[((ky * k + kx) * c + ci) * out_channels + o];
                            }
                        }
                    }
                    y[((n * oh + oy) * ow + ox) * out_channels + o] = acc;
                }
            }
        }
    }
    y
}

/// Max over each `kernel x kernel` window at `stride`, NHWC, no padding.
pub fn max_pool2d(g: &Conv2dGeometry, x: &[f64]) -> Vec<f64> {
    let (oh, ow, c) = (g.out_height(), g.out_width(), g.channels);
    let mut y = vec![f64::NEG_INFINITY; g.batch * oh * ow * c];
    for n in 0..g.batch {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let out = &mut y[((n * oh + oy) * ow + ox) * c + ch];
                    for ky in 0..g.kernel {
                        for kx in 0..g.kernel {
                            *out = out.max(x[((n * g.height + oy * g.stride + ky) * g.width + ox * g.stride + kx) * c + ch]);
                        }
                    }
                }
            }
        }
    }
    y
}
