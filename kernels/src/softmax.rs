//! Softmax and log-softmax with temperature, row-wise, and their backward passes.
//!
//! Every row is shifted by its maximum before `exp`, so logits of +-1e4 at `t = 0.5` give
//! exact zeros and ones, never NaN or Inf.

use crate::for_each_row;

/// `out[i, j] = exp(x[i, j] / t) / sum_k exp(x[i, k] / t)`; `x`, `out`: `rows x cols`; `t > 0`.
pub fn softmax(rows: usize, cols: usize, x: &[f32], t: f32, out: &mut [f32]) {
    check(rows, cols, x, out, t, "softmax");
    for_each_row(out, cols, |i, o| softmax_row(&x[i * cols..(i + 1) * cols], t, o));
}

/// `out[i, j] = x[i, j] / t - log sum_k exp(x[i, k] / t)`; shapes as [`softmax`].
pub fn log_softmax(rows: usize, cols: usize, x: &[f32], t: f32, out: &mut [f32]) {
    check(rows, cols, x, out, t, "log_softmax");
    for_each_row(out, cols, |i, o| log_softmax_row(&x[i * cols..(i + 1) * cols], t, o));
}

/// Gradient of softmax: `dx = y * (dy - sum_j dy_j y_j) / t`, with `y` the forward output.
pub fn softmax_backward(rows: usize, cols: usize, y: &[f32], dy: &[f32], t: f32, dx: &mut [f32]) {
    check(rows, cols, y, dx, t, "softmax_backward");
    for_each_row(dx, cols, |i, d| {
        let (y, dy) = (&y[i * cols..(i + 1) * cols], &dy[i * cols..(i + 1) * cols]);
        let dot: f32 = y.iter().zip(dy).map(|(a, b)| a * b).sum();
        for j in 0..cols {
            d[j] = y[j] * (dy[j] - dot) / t;
        }
    });
}

/// Gradient of log-softmax: `dx = (dy - exp(y) * sum_j dy_j) / t`, with `y` the forward output.
pub fn log_softmax_backward(rows: usize, cols: usize, y: &[f32], dy: &[f32], t: f32, dx: &mut [f32]) {
    check(rows, cols, y, dx, t, "log_softmax_backward");
    for_each_row(dx, cols, |i, d| {
        let (y, dy) = (&y[i * cols..(i + 1) * cols], &dy[i * cols..(i + 1) * cols]);
        let total: f32 = dy.iter().sum();
        for j in 0..cols {
            d[j] = (dy[j] - y[j].exp() * total) / t;
        }
    });
}

/// One row of softmax(x / t) into `out`; shared with the KD loss kernels.
#[inline]
pub(crate) fn softmax_row(x: &[f32], t: f32, out: &mut [f32]) {
    let max = row_max(x);
    let inv_t = 1.0 / t;
    let mut sum = 0.0f32;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = ((v - max) * inv_t).exp();
        sum += *o;
    }
    // sum >= 1: the max element contributes exp(0).
    let inv = 1.0 / sum;
    out.iter_mut().for_each(|o| *o *= inv);
}

/// One row of log_softmax(x / t) into `out`.
#[inline]
pub(crate) fn log_softmax_row(x: &[f32], t: f32, out: &mut [f32]) {
    let max = row_max(x);
    let inv_t = 1.0 / t;
    let lse = x.iter().map(|&v| ((v - max) * inv_t).exp()).sum::<f32>().ln();
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - max) * inv_t - lse;
    }
}

#[inline]
pub(crate) fn row_max(x: &[f32]) -> f32 {
    x.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
}

fn check(rows: usize, cols: usize, x: &[f32], out: &[f32], t: f32, op: &str) {
    assert!(
        x.len() == rows * cols && out.len() == rows * cols,
        "{op}: {rows}x{cols} expects {} values, got input {} and output {}",
        rows * cols,
        x.len(),
        out.len()
    );
    assert!(t > 0.0 && t.is_finite(), "{op}: temperature {t} must be positive and finite");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{Rng, Tolerance, assert_close, f64s};

    const SHAPES: &[(usize, usize)] = &[(1, 1), (3, 7), (5, 33), (2, 1000), (257, 10), (64, 1000)];
    const TEMPS: &[f32] = &[0.5, 1.0, 4.0, 20.0, 100.0];

    #[test]
    fn softmax_and_log_softmax_match_reference() {
        let mut rng = Rng::new(3);
        for &(r, c) in SHAPES {
            for &t in TEMPS {
                for scale in [1.0f32, 30.0, 1e4] {
                    let x = rng.vec(r * c, -scale, scale);
                    let (mut y, mut ly) = (vec![0.0; r * c], vec![0.0; r * c]);
                    softmax(r, c, &x, t, &mut y);
                    log_softmax(r, c, &x, t, &mut ly);
                    let op = format!("softmax {r}x{c} t={t} scale={scale}");
                    assert_close(&op, &y, &reference::softmax(r, c, &f64s(&x), t as f64), Tolerance::FORWARD);
                    // log-softmax values reach -2e4 / t: a relative tolerance there.
                    assert_close(
                        &format!("log_{op}"),
                        &ly,
                        &reference::log_softmax(r, c, &f64s(&x), t as f64),
                        Tolerance { abs: 1e-4, rel: 1e-5 },
                    );
                    for row in y.chunks(c) {
                        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{op}: row sums to {}", row.iter().sum::<f32>());
                    }
                }
            }
        }
    }

    #[test]
    fn hand_computable_power_law() {
        // softmax(log x / t) = x^(1/t) / sum x^(1/t)
        let x = [1.0f32, 2.0, 4.0, 8.0];
        let logx: Vec<f32> = x.iter().map(|v| v.ln()).collect();
        for t in [0.5f32, 1.0, 2.0] {
            let mut y = [0.0; 4];
            softmax(1, 4, &logx, t, &mut y);
            let p: Vec<f64> = x.iter().map(|&v| (v as f64).powf(1.0 / t as f64)).collect();
            let s: f64 = p.iter().sum();
            assert_close("softmax power law", &y, &p.iter().map(|v| v / s).collect::<Vec<_>>(), Tolerance::FORWARD);
        }
    }

    #[test]
    fn all_equal_rows_are_uniform() {
        let mut y = vec![0.0; 33];
        softmax(1, 33, &[1e4; 33], 0.5, &mut y);
        assert!(y.iter().all(|&v| (v - 1.0 / 33.0).abs() < 1e-6));
    }

    #[test]
    fn backward_matches_finite_differences_of_reference() {
        let mut rng = Rng::new(4);
        for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 33)] {
            for &t in &[0.5f32, 3.0, 20.0] {
                let x = rng.vec(r * c, -3.0, 3.0);
                let dy = rng.vec(r * c, -1.0, 1.0);
                for log in [false, true] {
                    let f = |x: &[f64]| -> f64 {
                        let y = if log { reference::log_softmax(r, c, x, t as f64) } else { reference::softmax(r, c, x, t as f64) };
                        y.iter().zip(&dy).map(|(y, &d)| y * d as f64).sum()
                    };
                    let mut y = vec![0.0; r * c];
                    let mut dx = vec![0.0; r * c];
                    if log {
                        log_softmax(r, c, &x, t, &mut y);
                        log_softmax_backward(r, c, &y, &dy, t, &mut dx);
                    } else {
                        softmax(r, c, &x, t, &mut y);
                        softmax_backward(r, c, &y, &dy, t, &mut dx);
                    }
                    let num = crate::testing::numeric_gradient(&f64s(&x), f);
                    assert_close(&format!("softmax backward log={log} {r}x{c} t={t}"), &dx, &num, Tolerance::GRADIENT);
                }
            }
        }
    }
}
