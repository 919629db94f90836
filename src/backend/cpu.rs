//! The CPU backend: buffers are `Vec`s, every op is a call into `retort-kernels`.

use super::{Backend, Conv2dGeometry};
use retort_kernels::{conv, dropout, elementwise, gemm, kd_loss, optim, softmax};

/// Runs ops with `retort-kernels` on rayon's thread pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    type Buf = Vec<f32>;
    type Labels = Vec<u32>;

    fn zeros(&self, len: usize) -> Vec<f32> {
        vec![0.0; len]
    }
    fn upload(&self, data: &[f32]) -> Vec<f32> {
        data.to_vec()
    }
    fn download(&self, buf: &Vec<f32>) -> Vec<f32> {
        buf.clone()
    }
    fn upload_labels(&self, labels: &[u32]) -> Vec<u32> {
        labels.to_vec()
    }
    fn gemm(&self, m: usize, k: usize, n: usize, a: &Vec<f32>, trans_a: bool, b: &Vec<f32>, trans_b: bool, c: &mut Vec<f32>, beta: f32) {
        gemm::gemm(m, k, n, a, trans_a, b, trans_b, c, beta);
    }
    fn add_bias(&self, rows: usize, cols: usize, x: &Vec<f32>, bias: &Vec<f32>, relu: bool, out: &mut Vec<f32>) {
        elementwise::add_bias(rows, cols, x, bias, relu, out);
    }
    fn relu(&self, x: &Vec<f32>, out: &mut Vec<f32>) {
        elementwise::relu_forward(x, out);
    }
    fn relu_backward(&self, y: &Vec<f32>, dy: &Vec<f32>, dx: &mut Vec<f32>) {
        elementwise::relu_backward(y, dy, dx);
    }
    fn dropout(&self, x: &Vec<f32>, p: f32, seed: u64, out: &mut Vec<f32>) {
        dropout::dropout_forward(x, p, seed, out);
    }
    fn col_sums(&self, rows: usize, cols: usize, x: &Vec<f32>, beta: f32, out: &mut Vec<f32>) {
        elementwise::col_sums(rows, cols, x, beta, out);
    }
    fn softmax(&self, rows: usize, cols: usize, x: &Vec<f32>, t: f32, log: bool, out: &mut Vec<f32>) {
        if log {
            softmax::log_softmax_with_temperature(rows, cols, x, t, out)
        } else {
            softmax::softmax_with_temperature(rows, cols, x, t, out)
        }
    }
    fn softmax_backward(&self, rows: usize, cols: usize, y: &Vec<f32>, dy: &Vec<f32>, t: f32, log: bool, dx: &mut Vec<f32>) {
        if log {
            softmax::log_softmax_backward(rows, cols, y, dy, t, dx)
        } else {
            softmax::softmax_backward(rows, cols, y, dy, t, dx)
        }
    }
    fn kd_loss(&self, rows: usize, cols: usize, zs: &Vec<f32>, zt: &Vec<f32>, labels: &Vec<u32>, t: f32, alpha: f32, out: &mut Vec<f32>) {
        let mut per_row = vec![0.0; rows];
        kd_loss::kd_loss_forward(rows, cols, zs, zt, labels, t, alpha, &mut per_row);
        out[0] = per_row.iter().map(|&v| v as f64).sum::<f64>() as f32 / rows as f32;
    }
    fn kd_ce_backward(&self, rows: usize, cols: usize, zs: &Vec<f32>, zt: &Vec<f32>, labels: &Vec<u32>, t: f32, alpha: f32, dloss: &Vec<f32>, dzs: &mut Vec<f32>) {
        kd_loss::kd_ce_backward(rows, cols, zs, zt, labels, t, alpha, dloss[0] / rows as f32, dzs);
    }
    fn add(&self, a: &Vec<f32>, b: &Vec<f32>, out: &mut Vec<f32>) {
        elementwise::add(a, b, out);
    }
    fn mul(&self, a: &Vec<f32>, b: &Vec<f32>, out: &mut Vec<f32>) {
        elementwise::mul(a, b, out);
    }
    fn scale(&self, x: &Vec<f32>, s: f32, scalar: Option<&Vec<f32>>, out: &mut Vec<f32>) {
        elementwise::scale(x, s * scalar.map_or(1.0, |v| v[0]), out);
    }
    fn axpy(&self, s: f32, x: &Vec<f32>, y: &mut Vec<f32>) {
        elementwise::axpy(s, x, y);
    }
    fn sum(&self, x: &Vec<f32>, out: &mut Vec<f32>) {
        out[0] = elementwise::sum(x);
    }
    fn sgd_momentum(&self, w: &mut Vec<f32>, g: &Vec<f32>, v: &mut Vec<f32>, lr: f32, momentum: f32, weight_decay: f32) {
        optim::sgd_momentum_update(w, g, v, lr, momentum, weight_decay);
    }
    fn max_norm_columns(&self, rows: usize, cols: usize, w: &mut Vec<f32>, max_norm: f32) {
        optim::max_norm_columns(rows, cols, w, max_norm);
    }
    fn adam(&self, w: &mut Vec<f32>, g: &Vec<f32>, m: &mut Vec<f32>, v: &mut Vec<f32>, lr: f32, beta1: f32, beta2: f32, eps: f32, step: u32, weight_decay: f32) {
        optim::adam_update(w, g, m, v, lr, beta1, beta2, eps, step, weight_decay);
    }
    fn count_correct(&self, rows: usize, cols: usize, logits: &Vec<f32>, labels: &Vec<u32>, count: &mut Vec<f32>) {
        let mut pred = vec![0u32; rows];
        elementwise::argmax_rows(rows, cols, logits, &mut pred);
        count[0] += pred.iter().zip(labels).filter(|(p, y)| p == y).count() as f32;
    }
    fn im2col(&self, geom: Conv2dGeometry, x: &Vec<f32>, cols: &mut Vec<f32>) {
        conv::im2col(&geom, x, cols);
    }
    fn col2im(&self, geom: Conv2dGeometry, cols: &Vec<f32>, dx: &mut Vec<f32>) {
        conv::col2im(&geom, cols, dx);
    }
    fn max_pool2d(&self, geom: Conv2dGeometry, x: &Vec<f32>, y: &mut Vec<f32>) {
        conv::max_pool2d_forward(&geom, x, y);
    }
    fn max_pool2d_backward(&self, geom: Conv2dGeometry, x: &Vec<f32>, y: &Vec<f32>, dy: &Vec<f32>, dx: &mut Vec<f32>) {
        conv::max_pool2d_backward(&geom, x, y, dy, dx);
    }
}
