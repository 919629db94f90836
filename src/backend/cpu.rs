//! The CPU backend: buffers are pooled `Vec`s, every op is a call into `retort-kernels`.

use super::{Backend, Conv2dGeometry};
use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Bytes of freed buffers the pool keeps for reuse, at most.
const POOL_BYTES: usize = 1 << 30;

/// Freed buffers by length. A training step allocates the same shapes every time: taking one
/// back costs neither an allocation nor the memset that `vec![0.0; n]` does.
static POOL: Mutex<(usize, Option<FreeLists>)> = Mutex::new((0, None));

/// Freed buffers by their length.
type FreeLists = HashMap<usize, Vec<Vec<f32>>>;

/// A host buffer that returns to the pool when dropped.
#[derive(Debug, Default)]
pub struct CpuBuf(Vec<f32>);

impl CpuBuf {
    /// A buffer of `len` values from the pool: its contents are whatever it held before.
    fn recycled(len: usize) -> Self {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let (bytes, by_len) = &mut *pool;
        match by_len.get_or_insert_default().get_mut(&len).and_then(Vec::pop) {
            Some(mut v) => {
                *bytes -= len * 4;
                if cfg!(test) {
                    v.fill(f32::NAN);
                }
                CpuBuf(v)
            }
            // The library's own tests hand out NaN, so an op that reads an output it was meant
            // to overwrite fails its gradient check.
            None => CpuBuf(vec![if cfg!(test) { f32::NAN } else { 0.0 }; len]),
        }
    }
}

impl Drop for CpuBuf {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.is_empty() {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let (bytes, by_len) = &mut *pool;
        if *bytes + v.len() * 4 <= POOL_BYTES {
            *bytes += v.len() * 4;
            by_len.get_or_insert_default().entry(v.len()).or_default().push(v);
        }
    }
}

impl Clone for CpuBuf {
    fn clone(&self) -> Self {
        let mut out = CpuBuf::recycled(self.len());
        out.copy_from_slice(self);
        out
    }
}

impl Deref for CpuBuf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl DerefMut for CpuBuf {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}
use retort_kernels::kd_loss::KdOutputs;
use retort_kernels::{conv2d, dkd_loss, dropout, elementwise, kd_loss, kd_parts, matmul, optim, pool, reduce, softmax};

/// Runs ops with `retort-kernels` on rayon's thread pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    type Buf = CpuBuf;
    type Labels = Vec<u32>;

    fn zeros(&self, len: usize) -> CpuBuf {
        let mut buf = CpuBuf::recycled(len);
        buf.fill(0.0);
        buf
    }
    fn empty(&self, len: usize) -> CpuBuf {
        CpuBuf::recycled(len)
    }
    fn upload(&self, data: &[f32]) -> CpuBuf {
        let mut buf = CpuBuf::recycled(data.len());
        buf.copy_from_slice(data);
        buf
    }
    fn download(&self, buf: &CpuBuf) -> Vec<f32> {
        buf.to_vec()
    }
    fn upload_labels(&self, labels: &[u32]) -> Vec<u32> {
        labels.to_vec()
    }
    fn matmul(&self, m: usize, k: usize, n: usize, a: &CpuBuf, trans_a: bool, b: &CpuBuf, trans_b: bool, c: &mut CpuBuf, beta: f32) {
        gemm_stored(m, k, n, a, trans_a, b, trans_b, c, matmul::Epilogue::beta(beta));
    }
    fn linear(&self, m: usize, k: usize, n: usize, x: &CpuBuf, w: &CpuBuf, bias: &CpuBuf, relu: bool, out: &mut CpuBuf) {
        // The bias and ReLU in the GEMM's register tile: no pass over the output after it.
        gemm_stored(m, k, n, x, false, w, false, out, matmul::Epilogue { beta: 0.0, bias: Some(bias), relu });
    }
    fn add_bias(&self, rows: usize, cols: usize, x: &CpuBuf, bias: &CpuBuf, relu: bool, out: &mut CpuBuf) {
        elementwise::add_bias(rows, cols, x, bias, relu, out);
    }
    fn relu(&self, x: &CpuBuf, out: &mut CpuBuf) {
        elementwise::relu(x, out);
    }
    fn relu_backward(&self, y: &CpuBuf, dy: &CpuBuf, dx: &mut CpuBuf) {
        elementwise::relu_backward(y, dy, dx);
    }
    fn dropout(&self, x: &CpuBuf, p: f32, seed: u64, out: &mut CpuBuf) {
        dropout::dropout(x, p, seed, out);
    }
    fn col_sums(&self, rows: usize, cols: usize, x: &CpuBuf, beta: f32, out: &mut CpuBuf) {
        reduce::col_sums(rows, cols, x, beta, out);
    }
    fn softmax(&self, rows: usize, cols: usize, x: &CpuBuf, t: f32, log: bool, out: &mut CpuBuf) {
        if log { softmax::log_softmax(rows, cols, x, t, out) } else { softmax::softmax(rows, cols, x, t, out) }
    }
    fn softmax_backward(&self, rows: usize, cols: usize, y: &CpuBuf, dy: &CpuBuf, t: f32, log: bool, dx: &mut CpuBuf) {
        if log { softmax::log_softmax_backward(rows, cols, y, dy, t, dx) } else { softmax::softmax_backward(rows, cols, y, dy, t, dx) }
    }
    fn kd_loss(
        &self, rows: usize, cols: usize, zs: &CpuBuf, zt: &CpuBuf, labels: &Vec<u32>, t: f32, alpha: f32, out: &mut CpuBuf,
        grad: Option<&mut CpuBuf>, parts_sum: Option<&mut CpuBuf>,
    ) {
        let mut per_row = vec![0.0; rows];
        let mut parts = parts_sum.as_ref().map(|_| vec![0.0; rows * kd_parts::PARTS]);
        let grad = grad.map(|g| (&mut g[..], 1.0 / rows as f32));
        kd_loss::kd_loss(rows, cols, zs, zt, labels, t, alpha, KdOutputs { row_loss: &mut per_row, grad, parts: parts.as_deref_mut() });
        out[0] = reduce::sum(&per_row) / rows as f32;
        if let (Some(sums), Some(parts)) = (parts_sum, parts) {
            reduce::col_sums(rows, kd_parts::PARTS, &parts, 1.0, sums);
        }
    }
    fn dkd_loss(
        &self, rows: usize, cols: usize, zs: &CpuBuf, zt: &CpuBuf, labels: &Vec<u32>, t: f32, alpha: f32, beta: f32, out: &mut CpuBuf,
    ) {
        let mut per_row = vec![0.0; rows];
        dkd_loss::dkd_loss(rows, cols, zs, zt, labels, t, alpha, beta, &mut per_row);
        out[0] = reduce::sum(&per_row) / rows as f32;
    }
    fn dkd_loss_backward(
        &self, rows: usize, cols: usize, zs: &CpuBuf, zt: &CpuBuf, labels: &Vec<u32>, t: f32, alpha: f32, beta: f32, dloss: &CpuBuf,
        dzs: &mut CpuBuf,
    ) {
        dkd_loss::dkd_loss_backward(rows, cols, zs, zt, labels, t, alpha, beta, dloss[0] / rows as f32, dzs);
    }
    fn add(&self, a: &CpuBuf, b: &CpuBuf, out: &mut CpuBuf) {
        elementwise::add(a, b, out);
    }
    fn mul(&self, a: &CpuBuf, b: &CpuBuf, out: &mut CpuBuf) {
        elementwise::mul(a, b, out);
    }
    fn scale(&self, x: &CpuBuf, s: f32, scalar: Option<&CpuBuf>, out: &mut CpuBuf) {
        elementwise::scale(x, s * scalar.map_or(1.0, |v| v[0]), out);
    }
    fn axpy(&self, s: f32, x: &CpuBuf, y: &mut CpuBuf) {
        elementwise::axpy(s, x, y);
    }
    fn sum(&self, x: &CpuBuf, out: &mut CpuBuf) {
        out[0] = reduce::sum(x);
    }
    fn sgd_momentum(&self, w: &mut CpuBuf, g: &CpuBuf, v: &mut CpuBuf, lr: f32, momentum: f32, weight_decay: f32) {
        optim::sgd_momentum(w, g, v, lr, momentum, weight_decay);
    }
    fn max_norm_columns(&self, rows: usize, cols: usize, w: &mut CpuBuf, max_norm: f32) {
        optim::max_norm_columns(rows, cols, w, max_norm);
    }
    fn adam(
        &self, w: &mut CpuBuf, g: &CpuBuf, m: &mut CpuBuf, v: &mut CpuBuf, lr: f32, beta1: f32, beta2: f32, eps: f32, step: u32,
        weight_decay: f32,
    ) {
        optim::adam(w, g, m, v, lr, beta1, beta2, eps, step, weight_decay);
    }
    fn conv2d(&self, geom: Conv2dGeometry, out_channels: usize, x: &CpuBuf, w: &CpuBuf, bias: &CpuBuf, relu: bool, y: &mut CpuBuf) {
        let mut scratch = CpuBuf::recycled(conv2d::conv2d_scratch_len(&geom, out_channels));
        conv2d::conv2d(&geom, out_channels, x, w, bias, relu, y, &mut scratch);
    }
    fn conv2d_backward(
        &self, geom: Conv2dGeometry, out_channels: usize, x: &CpuBuf, w: &CpuBuf, y: &CpuBuf, dy: &CpuBuf, relu: bool,
        dx: Option<&mut CpuBuf>, dw: &mut CpuBuf, dbias: &mut CpuBuf,
    ) {
        let mut scratch = CpuBuf::recycled(conv2d::conv2d_scratch_len(&geom, out_channels));
        conv2d::conv2d_backward(&geom, out_channels, x, w, y, dy, relu, dx.map(|d| &mut d[..]), dw, dbias, &mut scratch);
    }
    fn max_pool2d(&self, geom: Conv2dGeometry, x: &CpuBuf, y: &mut CpuBuf) {
        pool::max_pool2d(&geom, x, y);
    }
    fn max_pool2d_backward(&self, geom: Conv2dGeometry, x: &CpuBuf, y: &CpuBuf, dy: &CpuBuf, dx: &mut CpuBuf) {
        pool::max_pool2d_backward(&geom, x, y, dy, dx);
    }
}

/// A GEMM stored through `out`, timed by its shape when profiling (the step's GEMMs beside the
/// same shapes alone).
#[allow(clippy::too_many_arguments)]
fn gemm_stored(m: usize, k: usize, n: usize, a: &[f32], trans_a: bool, b: &[f32], trans_b: bool, c: &mut [f32], out: matmul::Epilogue) {
    if !crate::profile::enabled() {
        return matmul::matmul_stored(m, k, n, a, trans_a, b, trans_b, c, out);
    }
    let start = std::time::Instant::now();
    matmul::matmul_stored(m, k, n, a, trans_a, b, trans_b, c, out);
    crate::profile::record_gemm(crate::profile::GemmShape { m, k, n, trans_a, trans_b }, start.elapsed().as_secs_f64());
}
