//! The backend boundary: device buffers and dimensions in, device buffers out.
//!
//! [`Backend`] lists every op a device must run; the compiler checks each backend implements
//! all of them. Above this line, [`Storage`] and [`Device`] are enums over the backends, so the
//! tensor and the tape never name a backend type: each dispatching method below is one `match`.

pub mod cpu;
pub mod gpu;

use crate::error::Result;
pub use retort_kernels::window::Conv2dGeometry;
use std::fmt;

/// Every op a device runs, on its own buffers. Shapes are row-major `rows x cols`; buffers are
/// exactly as long as their shapes say (callers check). `beta = 1` accumulates into the output.
#[allow(clippy::too_many_arguments)]
pub trait Backend {
    /// An f32 buffer on the device.
    type Buf;
    /// A u32 buffer of class labels on the device.
    type Labels;

    fn zeros(&self, len: usize) -> Self::Buf;
    /// A buffer whose contents are unspecified (finite or not): for outputs an op overwrites whole.
    fn empty(&self, len: usize) -> Self::Buf;
    fn upload(&self, data: &[f32]) -> Self::Buf;
    fn download(&self, buf: &Self::Buf) -> Vec<f32>;
    fn upload_labels(&self, labels: &[u32]) -> Self::Labels;

    /// `c = op(a) op(b) + beta c` with `op(a)` `m x k`, `op(b)` `k x n`.
    fn matmul(
        &self, m: usize, k: usize, n: usize, a: &Self::Buf, trans_a: bool, b: &Self::Buf, trans_b: bool, c: &mut Self::Buf, beta: f32,
    );
    /// A linear layer, `out = relu?(x w + bias)`: `x` `m x k`, `w` `k x n`, `bias` `n`.
    #[allow(clippy::too_many_arguments)]
    fn linear(&self, m: usize, k: usize, n: usize, x: &Self::Buf, w: &Self::Buf, bias: &Self::Buf, relu: bool, out: &mut Self::Buf);
    /// `out = x + bias` over rows, then ReLU if `relu`.
    fn add_bias(&self, rows: usize, cols: usize, x: &Self::Buf, bias: &Self::Buf, relu: bool, out: &mut Self::Buf);
    fn relu(&self, x: &Self::Buf, out: &mut Self::Buf);
    fn relu_backward(&self, y: &Self::Buf, dy: &Self::Buf, dx: &mut Self::Buf);
    /// Inverted dropout with the counter-based mask `seed`; the backward pass is the same call on `dy`.
    fn dropout(&self, x: &Self::Buf, p: f32, seed: u64, out: &mut Self::Buf);
    /// `out = beta out + column sums of x`.
    fn col_sums(&self, rows: usize, cols: usize, x: &Self::Buf, beta: f32, out: &mut Self::Buf);
    /// Row-wise softmax (or log-softmax) of `x / t`.
    fn softmax(&self, rows: usize, cols: usize, x: &Self::Buf, t: f32, log: bool, out: &mut Self::Buf);
    fn softmax_backward(&self, rows: usize, cols: usize, y: &Self::Buf, dy: &Self::Buf, t: f32, log: bool, dx: &mut Self::Buf);
    /// The KD loss in one pass over each row: its batch mean into the one-element `out`; with
    /// `grad`, the gradient of that mean on `zs`; with `parts_sum`, adds to its
    /// `retort_kernels::kd_parts::PARTS` values the sums over the rows of each part of the loss
    /// and of the student's fidelity at temperature `t`.
    #[allow(clippy::too_many_arguments)]
    fn kd_loss(
        &self, rows: usize, cols: usize, zs: &Self::Buf, zt: &Self::Buf, labels: &Self::Labels, t: f32, alpha: f32, out: &mut Self::Buf,
        grad: Option<&mut Self::Buf>, parts_sum: Option<&mut Self::Buf>,
    );
    /// Decoupled KD, `t^2 (alpha TCKD + beta NCKD)`, batch mean, into the one-element `out`.
    fn dkd_loss(
        &self, rows: usize, cols: usize, zs: &Self::Buf, zt: &Self::Buf, labels: &Self::Labels, t: f32, alpha: f32, beta: f32,
        out: &mut Self::Buf,
    );
    /// Its gradient, times the one-element upstream gradient `dloss`, over `rows`.
    fn dkd_loss_backward(
        &self, rows: usize, cols: usize, zs: &Self::Buf, zt: &Self::Buf, labels: &Self::Labels, t: f32, alpha: f32, beta: f32,
        dloss: &Self::Buf, dzs: &mut Self::Buf,
    );
    fn add(&self, a: &Self::Buf, b: &Self::Buf, out: &mut Self::Buf);
    fn mul(&self, a: &Self::Buf, b: &Self::Buf, out: &mut Self::Buf);
    /// `out = s x`, or `out = s * scalar[0] * x` with `scalar` a one-element buffer.
    fn scale(&self, x: &Self::Buf, s: f32, scalar: Option<&Self::Buf>, out: &mut Self::Buf);
    /// `y += s x`.
    fn axpy(&self, s: f32, x: &Self::Buf, y: &mut Self::Buf);
    /// The sum of `x` into the one-element `out`.
    fn sum(&self, x: &Self::Buf, out: &mut Self::Buf);
    fn sgd_momentum(&self, w: &mut Self::Buf, g: &Self::Buf, v: &mut Self::Buf, lr: f32, momentum: f32, weight_decay: f32);
    fn max_norm_columns(&self, rows: usize, cols: usize, w: &mut Self::Buf, max_norm: f32);
    fn adam(
        &self, w: &mut Self::Buf, g: &Self::Buf, m: &mut Self::Buf, v: &mut Self::Buf, lr: f32, beta1: f32, beta2: f32, eps: f32,
        step: u32, weight_decay: f32,
    );
    /// A convolution layer over NHWC images: `y = conv(x, w) + bias`, then ReLU if `relu`, with
    /// `w` `[k * k * in_channels, out_channels]` (see `retort_kernels::conv2d`).
    fn conv2d(
        &self, geom: Conv2dGeometry, out_channels: usize, x: &Self::Buf, w: &Self::Buf, bias: &Self::Buf, relu: bool, y: &mut Self::Buf,
    );
    /// The layer's gradients from `dy` and its output `y`: `dx` when asked for, `dw` and
    /// `dbias`, each overwritten.
    fn conv2d_backward(
        &self, geom: Conv2dGeometry, out_channels: usize, x: &Self::Buf, w: &Self::Buf, y: &Self::Buf, dy: &Self::Buf, relu: bool,
        dx: Option<&mut Self::Buf>, dw: &mut Self::Buf, dbias: &mut Self::Buf,
    );
    fn max_pool2d(&self, geom: Conv2dGeometry, x: &Self::Buf, y: &mut Self::Buf);
    /// Each window's gradient to its first maximum.
    fn max_pool2d_backward(&self, geom: Conv2dGeometry, x: &Self::Buf, y: &Self::Buf, dy: &Self::Buf, dx: &mut Self::Buf);
}

/// Where tensors live and ops run.
#[derive(Clone)]
pub enum Device {
    Cpu(cpu::CpuBackend),
    Gpu(gpu::GpuBackend),
}

/// A device buffer of f32.
#[derive(Clone)]
pub enum Storage {
    Cpu(cpu::CpuBuf),
    Gpu(gpu::GpuBuf),
}

/// A device buffer of class labels.
#[derive(Clone)]
pub enum LabelStorage {
    Cpu(Vec<u32>),
    Gpu(gpu::GpuBuf),
}

/// Which device the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    Gpu,
    Auto,
}

impl std::str::FromStr for DeviceChoice {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            "auto" => Ok(DeviceChoice::Auto),
            _ => Err(crate::Error::setting("device", s, "expected cpu, gpu or auto")),
        }
    }
}

impl Device {
    /// The CPU device: kernels from `retort-kernels` on rayon's threads.
    pub fn cpu() -> Self {
        Device::Cpu(cpu::CpuBackend)
    }

    /// Opens the device the user chose. `auto` takes a hardware GPU when there is one, else
    /// falls back to the CPU and says why in the note.
    pub fn open(choice: DeviceChoice) -> Result<(Self, Option<String>)> {
        match choice {
            DeviceChoice::Cpu => Ok((Device::cpu(), None)),
            DeviceChoice::Gpu => Ok((Device::Gpu(gpu::GpuBackend::open()?), None)),
            DeviceChoice::Auto => match gpu::GpuBackend::open() {
                Ok(be) if !be.is_software() => Ok((Device::Gpu(be), None)),
                Ok(be) => Ok((
                    Device::cpu(),
                    Some(format!(
                        "the only GPU adapter, {}, is a software rasterizer: running on the CPU (--device gpu uses it anyway)",
                        be.adapter().name
                    )),
                )),
                Err(e) => Ok((Device::cpu(), Some(format!("{e}: running on the CPU")))),
            },
        }
    }

    /// A short description: the backend and, for a GPU, the adapter.
    pub fn describe(&self) -> String {
        match self {
            Device::Cpu(_) => format!("cpu ({} threads, {:?})", rayon::current_num_threads(), retort_kernels::simd::detected()),
            Device::Gpu(be) => {
                let a = be.adapter();
                format!("gpu ({}, {}, {})", a.name, a.backend, a.device_type)
            }
        }
    }

    /// Whether buffers live in host memory, so reading one back costs no device wait.
    pub fn is_cpu(&self) -> bool {
        matches!(self, Device::Cpu(_))
    }

    /// `cpu` or `gpu`, for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Device::Cpu(_) => "cpu",
            Device::Gpu(_) => "gpu",
        }
    }

    /// The longest tensor the device holds in one buffer.
    pub fn max_tensor_len(&self) -> usize {
        match self {
            Device::Cpu(_) => usize::MAX,
            Device::Gpu(be) => be.max_elems(),
        }
    }

    /// Refuses a tensor of `len` values the device cannot bind, naming what it is.
    pub fn check_len(&self, what: &str, len: usize) -> Result<()> {
        if len > self.max_tensor_len() {
            return Err(crate::Error::Device(format!(
                "{what} has {len} values; {} binds at most {} in one buffer",
                self.describe(),
                self.max_tensor_len()
            )));
        }
        Ok(())
    }

    /// Hands recorded work to the device without waiting (the end of a step); no-op on the CPU.
    pub fn flush(&self) {
        if let Device::Gpu(be) = self {
            be.flush();
        }
    }

    /// Seconds the device spends running what `f` records: GPU timestamps where the adapter
    /// has them, else the wall clock up to a device sync.
    pub fn time(&self, f: impl FnOnce()) -> f64 {
        match self {
            Device::Cpu(_) => {
                let start = std::time::Instant::now();
                f();
                start.elapsed().as_secs_f64()
            }
            Device::Gpu(be) => be.time(f),
        }
    }

    /// How [`Device::time`] measures: `wall`, `timestamp` or `sync`.
    pub fn timer(&self) -> &'static str {
        match self {
            Device::Cpu(_) => "wall",
            Device::Gpu(be) => be.timer(),
        }
    }

    /// Waits until the device has finished all recorded work; no-op on the CPU.
    pub fn sync(&self) {
        if let Device::Gpu(be) = self {
            be.sync();
        }
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Stamps out one dispatching method per backend op, arguments in the backend's order: each
/// storage argument is unwrapped to the device's variant and the backend is called. A storage
/// of another device than the one running the op is a programming error, and panics.
macro_rules! dispatch {
    ($( fn $name:ident( $($arg:ident : [$($ty:tt)*]),* ); )*) => {
        impl Device {
            $(
            #[allow(clippy::too_many_arguments)]
            pub(crate) fn $name(&self $(, $arg: $($ty)*)*) {
                match self {
                    Device::Cpu(be) => {
                        $( dispatch!(@unwrap Cpu, $name, $arg, $($ty)*); )*
                        be.$name($($arg),*)
                    }
                    Device::Gpu(be) => {
                        $( dispatch!(@unwrap Gpu, $name, $arg, $($ty)*); )*
                        be.$name($($arg),*)
                    }
                }
            }
            )*
        }
    };
    (@unwrap $v:ident, $op:ident, $a:ident, & $(mut)? Storage) => {
        let Storage::$v($a) = $a else { panic!("{}: a buffer of another device", stringify!($op)) };
    };
    (@unwrap $v:ident, $op:ident, $a:ident, & LabelStorage) => {
        let LabelStorage::$v($a) = $a else { panic!("{}: labels of another device", stringify!($op)) };
    };
    (@unwrap $v:ident, $op:ident, $a:ident, Option<& $(mut)? Storage>) => {
        let $a = $a.map(|s| match s { Storage::$v(s) => s, _ => panic!("{}: a buffer of another device", stringify!($op)) });
    };
    (@unwrap $v:ident, $op:ident, $a:ident, $($other:tt)*) => {};
}

dispatch! {
    fn matmul(m: [usize], k: [usize], n: [usize], a: [&Storage], trans_a: [bool], b: [&Storage], trans_b: [bool], c: [&mut Storage], beta: [f32]);
    fn linear(m: [usize], k: [usize], n: [usize], x: [&Storage], w: [&Storage], bias: [&Storage], relu: [bool], out: [&mut Storage]);
    fn add_bias(rows: [usize], cols: [usize], x: [&Storage], bias: [&Storage], relu: [bool], out: [&mut Storage]);
    fn relu(x: [&Storage], out: [&mut Storage]);
    fn relu_backward(y: [&Storage], dy: [&Storage], dx: [&mut Storage]);
    fn dropout(x: [&Storage], p: [f32], seed: [u64], out: [&mut Storage]);
    fn col_sums(rows: [usize], cols: [usize], x: [&Storage], beta: [f32], out: [&mut Storage]);
    fn softmax(rows: [usize], cols: [usize], x: [&Storage], t: [f32], log: [bool], out: [&mut Storage]);
    fn softmax_backward(rows: [usize], cols: [usize], y: [&Storage], dy: [&Storage], t: [f32], log: [bool], dx: [&mut Storage]);
    fn kd_loss(rows: [usize], cols: [usize], zs: [&Storage], zt: [&Storage], labels: [&LabelStorage], t: [f32], alpha: [f32], out: [&mut Storage], grad: [Option<&mut Storage>], parts_sum: [Option<&mut Storage>]);
    fn dkd_loss(rows: [usize], cols: [usize], zs: [&Storage], zt: [&Storage], labels: [&LabelStorage], t: [f32], alpha: [f32], beta: [f32], out: [&mut Storage]);
    fn dkd_loss_backward(rows: [usize], cols: [usize], zs: [&Storage], zt: [&Storage], labels: [&LabelStorage], t: [f32], alpha: [f32], beta: [f32], dloss: [&Storage], dzs: [&mut Storage]);
    fn add(a: [&Storage], b: [&Storage], out: [&mut Storage]);
    fn mul(a: [&Storage], b: [&Storage], out: [&mut Storage]);
    fn scale(x: [&Storage], s: [f32], scalar: [Option<&Storage>], out: [&mut Storage]);
    fn axpy(s: [f32], x: [&Storage], y: [&mut Storage]);
    fn sum(x: [&Storage], out: [&mut Storage]);
    fn sgd_momentum(w: [&mut Storage], g: [&Storage], v: [&mut Storage], lr: [f32], momentum: [f32], weight_decay: [f32]);
    fn max_norm_columns(rows: [usize], cols: [usize], w: [&mut Storage], max_norm: [f32]);
    fn adam(w: [&mut Storage], g: [&Storage], m: [&mut Storage], v: [&mut Storage], lr: [f32], beta1: [f32], beta2: [f32], eps: [f32], step: [u32], weight_decay: [f32]);
    fn conv2d(geom: [Conv2dGeometry], out_channels: [usize], x: [&Storage], w: [&Storage], bias: [&Storage], relu: [bool], y: [&mut Storage]);
    fn conv2d_backward(geom: [Conv2dGeometry], out_channels: [usize], x: [&Storage], w: [&Storage], y: [&Storage], dy: [&Storage], relu: [bool], dx: [Option<&mut Storage>], dw: [&mut Storage], dbias: [&mut Storage]);
    fn max_pool2d(geom: [Conv2dGeometry], x: [&Storage], y: [&mut Storage]);
    fn max_pool2d_backward(geom: [Conv2dGeometry], x: [&Storage], y: [&Storage], dy: [&Storage], dx: [&mut Storage]);
}

impl Device {
    pub(crate) fn zeros(&self, len: usize) -> Storage {
        match self {
            Device::Cpu(be) => Storage::Cpu(be.zeros(len)),
            Device::Gpu(be) => Storage::Gpu(be.zeros(len)),
        }
    }
    pub(crate) fn empty(&self, len: usize) -> Storage {
        match self {
            Device::Cpu(be) => Storage::Cpu(be.empty(len)),
            Device::Gpu(be) => Storage::Gpu(be.empty(len)),
        }
    }
    pub(crate) fn upload(&self, data: &[f32]) -> Storage {
        match self {
            Device::Cpu(be) => Storage::Cpu(be.upload(data)),
            Device::Gpu(be) => Storage::Gpu(be.upload(data)),
        }
    }
    pub(crate) fn upload_labels(&self, labels: &[u32]) -> LabelStorage {
        match self {
            Device::Cpu(be) => LabelStorage::Cpu(be.upload_labels(labels)),
            Device::Gpu(be) => LabelStorage::Gpu(be.upload_labels(labels)),
        }
    }
    pub(crate) fn download(&self, s: &Storage) -> Vec<f32> {
        match (self, s) {
            (Device::Cpu(be), Storage::Cpu(b)) => be.download(b),
            (Device::Gpu(be), Storage::Gpu(b)) => be.download(b),
            _ => panic!("download: a buffer of another device"),
        }
    }
}

#[cfg(test)]
mod tests;
