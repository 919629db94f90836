//! The GPU backend: every op is one or two dispatches of a hand-written WGSL kernel from
//! `shaders/`, recorded into the pending command encoder of the [`Context`].

mod context;
mod params;
pub mod shaders;

pub use context::{AdapterSummary, GpuBuf};

use super::{Backend, Conv2dGeometry};
use crate::error::Result;
use context::Context;
use params::{
    DkdLossParams, DropoutParams, ElementwiseParams, KdLossParams, MatmulParams, OptimParams, Params, ReduceParams, SoftmaxParams,
    WindowParams,
};
use shaders::{Kernel, Shader};
use std::sync::Arc;

/// Invocations per workgroup of the one-thread-per-element kernels (`ELEMENTWISE_WG` in shaders/common.wgsl).
const ELEMENTWISE_WG: usize = 256;

const MATMUL: Kernel = Kernel { shader: Shader::Matmul, entry: "matmul", overrides: &["TRANS_A", "TRANS_B"] };
const MATMUL_LARGE: Kernel = Kernel { shader: Shader::Matmul, entry: "matmul_large", overrides: &["TRANS_A", "TRANS_B"] };

/// 128 x 128 blocks of c from which `matmul_large` pays: enough to give every multiprocessor of a
/// large GPU (132 on an H100) two. Below, the 64 x 64 kernel keeps more of them busy.
const LARGE_MATMUL_MIN_BLOCKS: usize = 264;
const ADD_BIAS: Kernel = Kernel::new(Shader::Elementwise, "add_bias");
const RELU: Kernel = Kernel::new(Shader::Elementwise, "relu");
const RELU_BACKWARD: Kernel = Kernel::new(Shader::Elementwise, "relu_backward");
const ADD: Kernel = Kernel::new(Shader::Elementwise, "add");
const MUL: Kernel = Kernel::new(Shader::Elementwise, "mul");
const SCALE: Kernel = Kernel::new(Shader::Elementwise, "scale");
const SCALE_BY: Kernel = Kernel::new(Shader::Elementwise, "scale_by");
const AXPY: Kernel = Kernel::new(Shader::Elementwise, "axpy");
const DROPOUT: Kernel = Kernel::new(Shader::Dropout, "dropout");
const SUM: Kernel = Kernel::new(Shader::Reduce, "sum");
const COL_SUMS: Kernel = Kernel::new(Shader::Reduce, "col_sums");
const SOFTMAX: Kernel = Kernel::new(Shader::Softmax, "softmax");
const SOFTMAX_BACKWARD: Kernel = Kernel::new(Shader::Softmax, "softmax_backward");
const KD_LOSS: Kernel = Kernel::new(Shader::KdLoss, "kd_loss");
const DKD_LOSS: Kernel = Kernel::new(Shader::DkdLoss, "dkd_loss");
const DKD_LOSS_BACKWARD: Kernel = Kernel::new(Shader::DkdLoss, "dkd_loss_backward");
const SGD_MOMENTUM: Kernel = Kernel::new(Shader::Optim, "sgd_momentum");
const ADAM: Kernel = Kernel::new(Shader::Optim, "adam");
const MAX_NORM_COLUMNS: Kernel = Kernel::new(Shader::Optim, "max_norm_columns");
const IM2COL: Kernel = Kernel::new(Shader::Im2col, "im2col");
const COL2IM: Kernel = Kernel::new(Shader::Im2col, "col2im");
const MAX_POOL2D: Kernel = Kernel::new(Shader::Pool, "max_pool2d");
const MAX_POOL2D_BACKWARD: Kernel = Kernel::new(Shader::Pool, "max_pool2d_backward");

/// Runs ops as WGSL compute shaders on one wgpu device. Cloning shares the device.
#[derive(Clone)]
pub struct GpuBackend {
    ctx: Arc<Context>,
    /// Blocks from which GEMM takes the 128 x 128 kernel (lowered in tests to cover it).
    large_matmul_min_blocks: usize,
}

fn u(v: usize) -> u32 {
    u32::try_from(v).expect("GPU: a dimension beyond u32")
}

impl GpuBackend {
    /// Opens the first adapter wgpu ranks; an error that says how to get one when there is none.
    pub fn open() -> Result<Self> {
        Ok(GpuBackend { ctx: Arc::new(Context::open()?), large_matmul_min_blocks: LARGE_MATMUL_MIN_BLOCKS })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.ctx.adapter
    }

    /// Whether the adapter is a software rasterizer running on the CPU.
    pub fn is_software(&self) -> bool {
        self.ctx.is_software()
    }

    /// The longest tensor a kernel can bind on this adapter.
    pub fn max_elems(&self) -> usize {
        self.ctx.max_elems()
    }

    /// This backend with GEMM choosing its 128 x 128 kernel from `blocks` output blocks up.
    #[cfg(test)]
    pub(crate) fn with_large_matmul_from(&self, blocks: usize) -> Self {
        GpuBackend { ctx: self.ctx.clone(), large_matmul_min_blocks: blocks }
    }

    /// Submits what is recorded without waiting: the end of a training step.
    pub fn flush(&self) {
        self.ctx.flush();
    }

    /// Waits until the device has run everything recorded.
    pub fn sync(&self) {
        self.ctx.sync();
    }

    /// Device seconds of the work `f` records (timestamp queries where the adapter has them).
    pub fn time(&self, f: impl FnOnce()) -> f64 {
        self.ctx.time(f)
    }

    /// How [`GpuBackend::time`] measures: `timestamp` or `sync`.
    pub fn timer(&self) -> &'static str {
        if self.ctx.adapter.timestamps { "timestamp" } else { "sync" }
    }

    /// The geometry's parameters for `shaders/window.wgsl`, `total` the values written.
    fn window_params(total: usize, g: &Conv2dGeometry) -> WindowParams {
        assert!(g.is_valid(), "window: invalid geometry {g:?}");
        WindowParams {
            total: u(total),
            batch: u(g.batch),
            height: u(g.height),
            width: u(g.width),
            channels: u(g.channels),
            kernel: u(g.kernel),
            stride: u(g.stride),
            padding: u(g.padding),
            out_height: u(g.out_height()),
            out_width: u(g.out_width()),
        }
    }

    /// The column matrix of a convolution over NHWC images (see `retort_kernels::conv`).
    pub(crate) fn im2col(&self, geom: Conv2dGeometry, x: &GpuBuf, cols: &mut GpuBuf) {
        assert!(x.len() == geom.input_len() && cols.len() == geom.col_rows() * geom.col_width(), "im2col: {geom:?}: lengths");
        self.elementwise(IM2COL, cols.len(), &Self::window_params(cols.len(), &geom), &[(1, x.raw()), (4, cols.raw())]);
    }
    /// The adjoint of `im2col`: column gradients summed back into an image gradient.
    pub(crate) fn col2im(&self, geom: Conv2dGeometry, cols: &GpuBuf, dx: &mut GpuBuf) {
        assert!(dx.len() == geom.input_len() && cols.len() == geom.col_rows() * geom.col_width(), "col2im: {geom:?}: lengths");
        self.elementwise(COL2IM, dx.len(), &Self::window_params(dx.len(), &geom), &[(1, cols.raw()), (4, dx.raw())]);
    }
    /// A loss kernel's per-row values from `[zs, zt, labels]`, then their mean into `out`.
    fn mean_row_loss<P: Params>(&self, kernel: Kernel, params: &P, rows: usize, [zs, zt, labels]: [&GpuBuf; 3], out: &mut GpuBuf) {
        let row_loss = GpuBuf::new(&self.ctx, rows);
        let buffers = [(1, zs.raw()), (2, zt.raw()), (3, labels.raw()), (5, row_loss.raw())];
        self.ctx.dispatch(kernel, 0, params, &buffers, self.ctx.grid(rows));
        let mean = ReduceParams { n: u(rows), scale: 1.0 / rows as f32, ..Default::default() };
        self.ctx.dispatch(SUM, 0, &mean, &[(1, row_loss.raw()), (3, out.raw())], [1, 1, 1]);
    }

    /// A loss kernel's gradient from `[zs, zt, labels, dloss]` into `dzs`, a workgroup per row.
    fn loss_backward<P: Params>(&self, kernel: Kernel, params: &P, rows: usize, [zs, zt, labels, dloss]: [&GpuBuf; 4], dzs: &mut GpuBuf) {
        let buffers = [(1, zs.raw()), (2, zt.raw()), (3, labels.raw()), (4, dloss.raw()), (5, dzs.raw())];
        self.ctx.dispatch(kernel, 0, params, &buffers, self.ctx.grid(rows));
    }

    /// The parameters of a kernel that reads only its length.
    fn length(n: usize) -> ElementwiseParams {
        ElementwiseParams { n: u(n), ..Default::default() }
    }
    fn elementwise<P: Params>(&self, kernel: Kernel, n: usize, params: &P, buffers: &[(u32, &wgpu::Buffer)]) {
        self.ctx.dispatch(kernel, 0, params, buffers, self.ctx.grid(n.div_ceil(ELEMENTWISE_WG)));
    }
}

impl Backend for GpuBackend {
    type Buf = GpuBuf;
    type Labels = GpuBuf;

    fn zeros(&self, len: usize) -> GpuBuf {
        let buf = GpuBuf::new(&self.ctx, len);
        self.ctx.clear(buf.raw());
        buf
    }
    fn empty(&self, len: usize) -> GpuBuf {
        GpuBuf::new(&self.ctx, len)
    }
    fn upload(&self, data: &[f32]) -> GpuBuf {
        let buf = GpuBuf::new(&self.ctx, data.len());
        self.ctx.write(buf.raw(), bytemuck::cast_slice(data));
        buf
    }
    fn download(&self, buf: &GpuBuf) -> Vec<f32> {
        bytemuck::pod_collect_to_vec(&self.ctx.read(buf.raw(), buf.len() as u64 * 4))
    }
    fn upload_labels(&self, labels: &[u32]) -> GpuBuf {
        let buf = GpuBuf::new(&self.ctx, labels.len());
        self.ctx.write(buf.raw(), bytemuck::cast_slice(labels));
        buf
    }

    fn matmul(&self, m: usize, k: usize, n: usize, a: &GpuBuf, trans_a: bool, b: &GpuBuf, trans_b: bool, c: &mut GpuBuf, beta: f32) {
        assert!(
            a.len() == m * k && b.len() == k * n && c.len() == m * n,
            "matmul: {m}x{k}x{n} with a {}, b {}, c {}",
            a.len(),
            b.len(),
            c.len()
        );
        if k == 0 {
            // No products: c = beta c.
            if beta == 0.0 {
                self.ctx.clear(c.raw());
            } else {
                let tmp = c.clone();
                self.scale(&tmp, beta, None, c);
            }
            return;
        }
        let variant = trans_a as u32 | (trans_b as u32) << 1;
        let large = m.div_ceil(128) * n.div_ceil(128) >= self.large_matmul_min_blocks;
        let (kernel, tile) = if large { (MATMUL_LARGE, 128) } else { (MATMUL, 64) };
        let groups = [u(n.div_ceil(tile)), u(m.div_ceil(tile)), 1];
        self.ctx.dispatch(
            kernel,
            variant,
            &MatmulParams { m: u(m), k: u(k), n: u(n), beta },
            &[(1, a.raw()), (2, b.raw()), (3, c.raw())],
            groups,
        );
    }
    fn linear(&self, m: usize, k: usize, n: usize, x: &GpuBuf, w: &GpuBuf, bias: &GpuBuf, relu: bool, out: &mut GpuBuf) {
        let mut z = self.empty(m * n);
        self.matmul(m, k, n, x, false, w, false, &mut z, 0.0);
        self.add_bias(m, n, &z, bias, relu, out);
    }
    fn add_bias(&self, rows: usize, cols: usize, x: &GpuBuf, bias: &GpuBuf, relu: bool, out: &mut GpuBuf) {
        assert!(
            x.len() == rows * cols && out.len() == x.len() && bias.len() == cols,
            "add_bias: {rows}x{cols} with x {}, bias {}, out {}",
            x.len(),
            bias.len(),
            out.len()
        );
        self.elementwise(
            ADD_BIAS,
            x.len(),
            &ElementwiseParams { n: u(x.len()), cols: u(cols.max(1)), relu: relu as u32, ..Default::default() },
            &[(1, x.raw()), (2, bias.raw()), (3, out.raw())],
        );
    }
    fn relu(&self, x: &GpuBuf, out: &mut GpuBuf) {
        assert_eq!(x.len(), out.len(), "relu: lengths");
        self.elementwise(RELU, x.len(), &Self::length(x.len()), &[(1, x.raw()), (3, out.raw())]);
    }
    fn relu_backward(&self, y: &GpuBuf, dy: &GpuBuf, dx: &mut GpuBuf) {
        assert!(y.len() == dy.len() && y.len() == dx.len(), "relu_backward: lengths");
        self.elementwise(RELU_BACKWARD, y.len(), &Self::length(y.len()), &[(1, y.raw()), (2, dy.raw()), (3, dx.raw())]);
    }
    fn dropout(&self, x: &GpuBuf, p: f32, seed: u64, out: &mut GpuBuf) {
        assert_eq!(x.len(), out.len(), "dropout: lengths");
        assert!((0.0..1.0).contains(&p), "dropout: p = {p} is outside [0, 1)");
        let scale = 1.0 / (1.0 - p);
        self.elementwise(
            DROPOUT,
            x.len(),
            &DropoutParams { n: u(x.len()), p, scale, seed_lo: seed as u32, seed_hi: (seed >> 32) as u32 },
            &[(1, x.raw()), (2, out.raw())],
        );
    }
    fn col_sums(&self, rows: usize, cols: usize, x: &GpuBuf, beta: f32, out: &mut GpuBuf) {
        assert!(x.len() == rows * cols && out.len() == cols, "col_sums: {rows}x{cols} with x {}, out {}", x.len(), out.len());
        self.elementwise(
            COL_SUMS,
            cols,
            &ReduceParams { rows: u(rows), cols: u(cols), beta, ..Default::default() },
            &[(1, x.raw()), (3, out.raw())],
        );
    }
    fn softmax(&self, rows: usize, cols: usize, x: &GpuBuf, t: f32, log: bool, out: &mut GpuBuf) {
        assert!(x.len() == rows * cols && out.len() == x.len(), "softmax: {rows}x{cols} with x {}, out {}", x.len(), out.len());
        self.ctx.dispatch(
            SOFTMAX,
            0,
            &SoftmaxParams { rows: u(rows), cols: u(cols), inv_t: 1.0 / t, log: log as u32 },
            &[(1, x.raw()), (3, out.raw())],
            self.ctx.grid(rows),
        );
    }
    fn softmax_backward(&self, rows: usize, cols: usize, y: &GpuBuf, dy: &GpuBuf, t: f32, log: bool, dx: &mut GpuBuf) {
        assert!(y.len() == rows * cols && dy.len() == y.len() && dx.len() == y.len(), "softmax_backward: {rows}x{cols}: lengths");
        self.ctx.dispatch(
            SOFTMAX_BACKWARD,
            0,
            &SoftmaxParams { rows: u(rows), cols: u(cols), inv_t: 1.0 / t, log: log as u32 },
            &[(1, y.raw()), (2, dy.raw()), (3, dx.raw())],
            self.ctx.grid(rows),
        );
    }
    fn kd_loss(
        &self, rows: usize, cols: usize, zs: &GpuBuf, zt: &GpuBuf, labels: &GpuBuf, t: f32, alpha: f32, out: &mut GpuBuf,
        grad: Option<&mut GpuBuf>, parts_sum: Option<&mut GpuBuf>,
    ) {
        use retort_kernels::kd_parts::PARTS;
        assert!(zs.len() == rows * cols && zt.len() == zs.len() && labels.len() == rows && rows > 0, "kd_loss: {rows}x{cols}: lengths");
        assert!(grad.as_ref().is_none_or(|g| g.len() == zs.len()), "kd_loss: {rows}x{cols}: gradient length");
        assert!(parts_sum.as_ref().is_none_or(|s| s.len() == PARTS), "kd_loss: parts length");
        // Outputs not asked for are bound to a one-value buffer the kernel never writes.
        let unused = GpuBuf::new(&self.ctx, 1);
        let row_loss = GpuBuf::new(&self.ctx, rows);
        let per_row_parts = parts_sum.as_ref().map(|_| GpuBuf::new(&self.ctx, rows * PARTS));
        let outputs = grad.is_some() as u32 | (parts_sum.is_some() as u32) << 1;
        let params = KdLossParams { rows: u(rows), cols: u(cols), t, alpha, scale: 1.0 / rows as f32, outputs };
        let buffers = [
            (1, zs.raw()),
            (2, zt.raw()),
            (3, labels.raw()),
            (5, row_loss.raw()),
            (6, grad.as_ref().map_or(unused.raw(), |g| g.raw())),
            (7, per_row_parts.as_ref().map_or(unused.raw(), |p| p.raw())),
        ];
        self.ctx.dispatch(KD_LOSS, 0, &params, &buffers, self.ctx.grid(rows));
        let mean = ReduceParams { n: u(rows), scale: 1.0 / rows as f32, ..Default::default() };
        self.ctx.dispatch(SUM, 0, &mean, &[(1, row_loss.raw()), (3, out.raw())], [1, 1, 1]);
        if let (Some(sums), Some(per_row)) = (parts_sum, per_row_parts) {
            self.col_sums(rows, PARTS, &per_row, 1.0, sums);
        }
    }
    fn dkd_loss(
        &self, rows: usize, cols: usize, zs: &GpuBuf, zt: &GpuBuf, labels: &GpuBuf, t: f32, alpha: f32, beta: f32, out: &mut GpuBuf,
    ) {
        assert!(zs.len() == rows * cols && zt.len() == zs.len() && labels.len() == rows && rows > 0, "dkd_loss: {rows}x{cols}: lengths");
        self.mean_row_loss(DKD_LOSS, &DkdLossParams { rows: u(rows), cols: u(cols), t, alpha, beta }, rows, [zs, zt, labels], out);
    }
    fn dkd_loss_backward(
        &self, rows: usize, cols: usize, zs: &GpuBuf, zt: &GpuBuf, labels: &GpuBuf, t: f32, alpha: f32, beta: f32, dloss: &GpuBuf,
        dzs: &mut GpuBuf,
    ) {
        assert!(
            zs.len() == rows * cols && zt.len() == zs.len() && dzs.len() == zs.len() && labels.len() == rows,
            "dkd_loss_backward: {rows}x{cols}: lengths"
        );
        self.loss_backward(
            DKD_LOSS_BACKWARD,
            &DkdLossParams { rows: u(rows), cols: u(cols), t, alpha, beta },
            rows,
            [zs, zt, labels, dloss],
            dzs,
        );
    }
    fn add(&self, a: &GpuBuf, b: &GpuBuf, out: &mut GpuBuf) {
        assert!(a.len() == b.len() && a.len() == out.len(), "add: lengths");
        self.elementwise(ADD, a.len(), &Self::length(a.len()), &[(1, a.raw()), (2, b.raw()), (3, out.raw())]);
    }
    fn mul(&self, a: &GpuBuf, b: &GpuBuf, out: &mut GpuBuf) {
        assert!(a.len() == b.len() && a.len() == out.len(), "mul: lengths");
        self.elementwise(MUL, a.len(), &Self::length(a.len()), &[(1, a.raw()), (2, b.raw()), (3, out.raw())]);
    }
    fn scale(&self, x: &GpuBuf, s: f32, scalar: Option<&GpuBuf>, out: &mut GpuBuf) {
        assert_eq!(x.len(), out.len(), "scale: lengths");
        let params = ElementwiseParams { n: u(x.len()), scale: s, ..Default::default() };
        match scalar {
            Some(k) => self.elementwise(SCALE_BY, x.len(), &params, &[(1, x.raw()), (2, k.raw()), (3, out.raw())]),
            None => self.elementwise(SCALE, x.len(), &params, &[(1, x.raw()), (3, out.raw())]),
        }
    }
    fn axpy(&self, s: f32, x: &GpuBuf, y: &mut GpuBuf) {
        assert_eq!(x.len(), y.len(), "axpy: lengths");
        self.elementwise(
            AXPY,
            x.len(),
            &ElementwiseParams { n: u(x.len()), scale: s, ..Default::default() },
            &[(1, x.raw()), (3, y.raw())],
        );
    }
    fn sum(&self, x: &GpuBuf, out: &mut GpuBuf) {
        self.ctx.dispatch(
            SUM,
            0,
            &ReduceParams { n: u(x.len()), scale: 1.0, ..Default::default() },
            &[(1, x.raw()), (3, out.raw())],
            [1, 1, 1],
        );
    }
    fn sgd_momentum(&self, w: &mut GpuBuf, g: &GpuBuf, v: &mut GpuBuf, lr: f32, momentum: f32, weight_decay: f32) {
        assert!(w.len() == g.len() && w.len() == v.len(), "sgd_momentum: lengths");
        self.elementwise(
            SGD_MOMENTUM,
            w.len(),
            &OptimParams { n: u(w.len()), lr, momentum, weight_decay, ..Default::default() },
            &[(1, w.raw()), (2, g.raw()), (3, v.raw())],
        );
    }
    fn max_norm_columns(&self, rows: usize, cols: usize, w: &mut GpuBuf, max_norm: f32) {
        assert_eq!(w.len(), rows * cols, "max_norm_columns: lengths");
        self.elementwise(
            MAX_NORM_COLUMNS,
            cols,
            &OptimParams { rows: u(rows), cols: u(cols), max_norm, ..Default::default() },
            &[(1, w.raw())],
        );
    }
    fn adam(
        &self, w: &mut GpuBuf, g: &GpuBuf, m: &mut GpuBuf, v: &mut GpuBuf, lr: f32, beta1: f32, beta2: f32, eps: f32, step: u32,
        weight_decay: f32,
    ) {
        assert!(w.len() == g.len() && w.len() == m.len() && w.len() == v.len(), "adam: lengths");
        assert!(step >= 1, "adam: step counts from 1");
        // The bias corrections as the CPU kernel computes them, so both devices round alike.
        let c1 = 1.0 - beta1.powi(step as i32);
        let c2 = 1.0 - beta2.powi(step as i32);
        let params = OptimParams { n: u(w.len()), lr, weight_decay, beta1, beta2, eps, c1, c2, ..Default::default() };
        self.elementwise(ADAM, w.len(), &params, &[(1, w.raw()), (2, g.raw()), (3, m.raw()), (4, v.raw())]);
    }
    fn conv2d(&self, geom: Conv2dGeometry, out_channels: usize, x: &GpuBuf, w: &GpuBuf, bias: &GpuBuf, relu: bool, y: &mut GpuBuf) {
        let (rows, width) = (geom.col_rows(), geom.col_width());
        assert!(
            w.len() == width * out_channels && bias.len() == out_channels && y.len() == rows * out_channels,
            "conv2d: {geom:?} to {out_channels} channels: lengths"
        );
        // The whole batch's column matrix: GPU memory is wide, and one GEMM keeps the SMs busy.
        let mut cols = self.empty(rows * width);
        self.im2col(geom, x, &mut cols);
        let mut z = self.empty(rows * out_channels);
        self.matmul(rows, width, out_channels, &cols, false, w, false, &mut z, 0.0);
        self.add_bias(rows, out_channels, &z, bias, relu, y);
    }
    fn conv2d_backward(
        &self, geom: Conv2dGeometry, out_channels: usize, x: &GpuBuf, w: &GpuBuf, y: &GpuBuf, dy: &GpuBuf, relu: bool,
        dx: Option<&mut GpuBuf>, dw: &mut GpuBuf, dbias: &mut GpuBuf,
    ) {
        let (rows, width) = (geom.col_rows(), geom.col_width());
        assert!(
            y.len() == rows * out_channels && dy.len() == y.len() && dw.len() == width * out_channels && dbias.len() == out_channels,
            "conv2d_backward: {geom:?} to {out_channels} channels: lengths"
        );
        let masked = relu.then(|| {
            let mut dz = self.empty(dy.len());
            self.relu_backward(y, dy, &mut dz);
            dz
        });
        let dz = masked.as_ref().unwrap_or(dy);
        self.col_sums(rows, out_channels, dz, 0.0, dbias);
        // The column matrix again, rather than kept from the forward pass.
        let mut cols = self.empty(rows * width);
        self.im2col(geom, x, &mut cols);
        self.matmul(width, rows, out_channels, &cols, true, dz, false, dw, 0.0);
        if let Some(dx) = dx {
            self.matmul(rows, out_channels, width, dz, false, w, true, &mut cols, 0.0);
            self.col2im(geom, &cols, dx);
        }
    }
    fn max_pool2d(&self, geom: Conv2dGeometry, x: &GpuBuf, y: &mut GpuBuf) {
        assert!(
            x.len() == geom.input_len() && y.len() == geom.col_rows() * geom.channels && geom.padding == 0,
            "max_pool2d: {geom:?}: lengths"
        );
        self.elementwise(MAX_POOL2D, y.len(), &Self::window_params(y.len(), &geom), &[(1, x.raw()), (4, y.raw())]);
    }
    fn max_pool2d_backward(&self, geom: Conv2dGeometry, x: &GpuBuf, y: &GpuBuf, dy: &GpuBuf, dx: &mut GpuBuf) {
        assert!(
            x.len() == dx.len() && x.len() == geom.input_len() && y.len() == dy.len() && y.len() == geom.col_rows() * geom.channels,
            "max_pool2d_backward: {geom:?}: lengths"
        );
        self.elementwise(
            MAX_POOL2D_BACKWARD,
            dx.len(),
            &Self::window_params(dx.len(), &geom),
            &[(1, x.raw()), (2, y.raw()), (3, dy.raw()), (4, dx.raw())],
        );
    }
}

#[cfg(test)]
mod tests;
