//! `retort bench kernels`: each kernel alone on one device, against the machine's own limits
//! measured in the same run: the fused multiply-add peak of each vector width (matmul) and the
//! time the device takes to move the same bytes (softmax and the KD loss).

use crate::autograd::Graph;
use crate::backend::Device;
use crate::error::Result;
use crate::ops::kd_loss::one_hot;
use crate::profile::GemmShape;
use crate::tensor::{Labels, Tensor};
use retort_kernels::matmul::MatmulKernel;
use retort_kernels::rng::Rng;
use retort_kernels::simd;
use std::time::Instant;

/// One kernel's timing and where it stands against its roofline.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KernelTiming {
    pub kernel: String,
    pub shape: String,
    pub median_us: f64,
    /// Arithmetic rate, for compute-bound kernels.
    pub gflops: Option<f64>,
    /// Bytes the kernel must move over its time, for memory-bound ones.
    pub gbps: Option<f64>,
    /// The bytes it must move at least: its operands read and its result written once each
    /// (absent from older records).
    #[serde(default)]
    pub bytes: Option<f64>,
    /// The kernel's floor on this machine: the time to move its bytes (measured in this run) or
    /// to do its flops at the widest FMA peak. None where the device has no such measure.
    pub roofline_us: Option<f64>,
    /// `100 * roofline_us / median_us`.
    pub percent_of_roofline: Option<f64>,
    /// The code path it ran: the vector width on the CPU, `wgsl` on a GPU.
    pub path: String,
}

/// The FMA peak of one vector width.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FmaPeak {
    pub path: String,
    pub gflops: f64,
}

/// A run of `bench kernels`: the device, how it was timed, its measured limits and each
/// kernel's timing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KernelBenchRecord {
    pub device: String,
    pub device_name: String,
    pub timer: String,
    /// The FMA peak of each vector width the CPU has (empty on a GPU).
    pub fma_peaks: Vec<FmaPeak>,
    pub kernels: Vec<KernelTiming>,
}

/// Times the kernels on `device`, square matmuls up to `max_dim` (1024 and 4096 by default),
/// about `seconds_each` per kernel, with the machine's limits measured first.
pub fn bench_kernels(device: &Device, max_dim: usize, seconds_each: f64) -> Result<KernelBenchRecord> {
    let fma_peaks: Vec<FmaPeak> = match device {
        Device::Cpu(_) => simd::available()
            .into_iter()
            .filter(|&isa| isa != simd::Isa::Scalar)
            .map(|isa| FmaPeak { path: isa.name().into(), gflops: retort_kernels::peak::fma_peak_gflops(isa, seconds_each.min(1.0)) })
            .collect(),
        Device::Gpu(_) => Vec::new(),
    };
    let peak = fma_peaks.iter().map(|p| p.gflops).fold(None, |m: Option<f64>, g| Some(m.map_or(g, |m| m.max(g))));
    let (cpu_path, matmul_path) = match device {
        Device::Cpu(_) => {
            let matmul = match MatmulKernel::current() {
                MatmulKernel::Packed => simd::isa().name(),
                MatmulKernel::MatrixMultiply => "matrixmultiply",
            };
            (simd::isa().name(), matmul)
        }
        Device::Gpu(_) => ("wgsl", "wgsl"),
    };
    let mut rng = Rng::new(11);
    let mut kernels = Vec::new();
    let mut matmuls = vec![
        (128, 784, 1200, false, false, "x W (teacher layer 1)"),
        (128, 1200, 1200, false, false, "x W (teacher layer 2)"),
        (128, 1200, 10, false, false, "x W (teacher logits)"),
        (784, 128, 1200, true, false, "x^T dy (a weight gradient)"),
        (128, 1200, 784, false, true, "dy W^T (an input gradient)"),
    ];
    for d in [1024, 4096] {
        if d <= max_dim {
            matmuls.push((d, d, d, false, false, "square"));
        }
    }
    for (m, k, n, ta, tb, what) in matmuls {
        device.check_len(&format!("matmul {m}x{k}x{n}"), m * k.max(n))?;
        let shape = GemmShape { m, k, n, trans_a: ta, trans_b: tb };
        let (secs, flops) = (gemm_alone(device, &mut rng, shape, seconds_each), shape.flops());
        let roofline = peak.map(|p| flops / (p * 1e9));
        kernels.push(KernelTiming {
            kernel: format!("{MATMUL}{}{}", if ta { " A^T" } else { "" }, if tb { " B^T" } else { "" }),
            shape: format!("{m}x{k}x{n}, {what}"),
            median_us: secs * 1e6,
            gflops: Some(flops / secs / 1e9),
            gbps: None,
            bytes: Some((4 * (m * k + k * n + m * n)) as f64),
            roofline_us: roofline.map(|r| r * 1e6),
            percent_of_roofline: roofline.map(|r| 100.0 * r / secs),
            path: matmul_path.into(),
        });
    }
    for (rows, cols) in [(128usize, 10usize), (4096, 1000)] {
        kernels.extend(bench_losses(device, &mut rng, rows, cols, seconds_each, cpu_path));
    }
    Ok(KernelBenchRecord { device: device.kind().into(), device_name: device.describe(), timer: device.timer().into(), fma_peaks, kernels })
}

/// The median time of one GEMM of `shape` alone, on random operands, for about `seconds`.
pub fn gemm_alone(device: &Device, rng: &mut Rng, shape: GemmShape, seconds: f64) -> f64 {
    let GemmShape { m, k, n, trans_a, trans_b } = shape;
    let a = device.upload(&rng.vec(m * k, -1.0, 1.0));
    let b = device.upload(&rng.vec(k * n, -1.0, 1.0));
    let mut c = device.zeros(m * n);
    median_seconds(device, seconds, || device.matmul(m, k, n, &a, trans_a, &b, trans_b, &mut c, 0.0))
}

/// The names of the kernels that other code picks out of a run: the device's own limits, timed
/// beside softmax and the KD pass, and the kernels PyTorch's figures are matched to.
pub const COPY: &str = "copy (the roofline of softmax)";
pub const ADD: &str = "add (the roofline of the KD pass)";
pub const SOFTMAX: &str = "softmax";
pub const KD_FUSED: &str = "kd_loss fused: loss and gradient";
/// A matmul without transposes (one with them is named `matmul A^T`, `matmul B^T`...).
pub const MATMUL: &str = "matmul";

/// Room to write twice the last-level cache's bytes into, so that what was cached before is not:
/// made once (its pages faulted in once) for all the GEMMs a profile times cold.
pub struct CacheFlush(Vec<u8>);

impl CacheFlush {
    pub fn new() -> Self {
        CacheFlush(vec![0u8; 2 * last_level_cache_bytes()])
    }

    /// Writes all of it from rayon's threads, `fill` in every byte.
    fn flush(&mut self, fill: u8) {
        use rayon::prelude::*;
        self.0.par_chunks_mut(1 << 16).for_each(|chunk| chunk.fill(fill));
    }
}

impl Default for CacheFlush {
    fn default() -> Self {
        Self::new()
    }
}

/// The median time of one GEMM of `shape` on operands and output that no cache holds: `flush`
/// runs before each of `calls`. A step's GEMM meets its operands somewhere between this and
/// [`gemm_alone`]'s warm caches.
pub fn gemm_cold(device: &Device, rng: &mut Rng, shape: GemmShape, calls: usize, flush: &mut CacheFlush) -> f64 {
    let GemmShape { m, k, n, trans_a, trans_b } = shape;
    let a = device.upload(&rng.vec(m * k, -1.0, 1.0));
    let b = device.upload(&rng.vec(k * n, -1.0, 1.0));
    let mut c = device.zeros(m * n);
    let mut times: Vec<f64> = (0..calls.max(1))
        .map(|i| {
            flush.flush(i as u8);
            device.time(|| device.matmul(m, k, n, &a, trans_a, &b, trans_b, &mut c, 0.0))
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The largest CPU cache's size, from Linux's sysfs; 64 MiB where it is not to be read.
fn last_level_cache_bytes() -> usize {
    let size = |dir: std::fs::DirEntry| {
        let text = std::fs::read_to_string(dir.path().join("size")).ok()?;
        let text = text.trim();
        let (digits, shift) = match text.strip_suffix('K') {
            Some(kib) => (kib, 10),
            None => (text.strip_suffix('M')?, 20),
        };
        Some(digits.parse::<usize>().ok()? << shift)
    };
    std::fs::read_dir("/sys/devices/system/cpu/cpu0/cache")
        .ok()
        .and_then(|dirs| dirs.filter_map(|d| d.ok().and_then(size)).max())
        .unwrap_or(64 << 20)
}

/// Softmax and the KD loss on `rows x cols` logits, each beside the time the device takes to
/// move the same bytes: a copy (softmax: one matrix in, one out) or an add (the KD pass: two in,
/// the gradient out). The KD loss also through its composed twin, forward and backward.
fn bench_losses(device: &Device, rng: &mut Rng, rows: usize, cols: usize, seconds: f64, path: &str) -> Vec<KernelTiming> {
    let n = rows * cols;
    let (zs_host, zt_host) = (rng.vec(n, -5.0, 5.0), rng.vec(n, -5.0, 5.0));
    let (zs, zt) = (device.upload(&zs_host), device.upload(&zt_host));
    let labels_host = rng.labels(rows, cols);
    let labels = Labels::from_slice(device, &labels_host);
    let (t, alpha) = (20.0f32, 0.9f32);
    let shape = format!("{rows}x{cols}, T = {t}");
    let (mut out, mut grad, mut loss) = (device.zeros(n), device.zeros(n), device.zeros(1));
    let copy = median_seconds(device, seconds, || device.scale(&zs, 1.0, None, &mut out));
    let add = median_seconds(device, seconds, || device.add(&zs, &zt, &mut out));
    // The CPU's narrow rows go a row per lane, a layout worth naming beside the vector width.
    let row_path = match device {
        Device::Cpu(_) if retort_kernels::kd_loss::rows_as_lanes(cols) => format!("{path}, row per lane"),
        _ => path.to_string(),
    };
    let timing = |kernel: &str, secs: f64, (floor, bytes): (f64, usize), path: &str| KernelTiming {
        kernel: kernel.into(),
        shape: shape.clone(),
        median_us: secs * 1e6,
        gflops: None,
        gbps: Some((bytes * n * 4) as f64 / secs / 1e9),
        bytes: Some((bytes * n * 4) as f64),
        roofline_us: Some(floor * 1e6),
        percent_of_roofline: Some(100.0 * floor / secs),
        path: path.into(),
    };
    let mut out_timings = vec![timing(COPY, copy, (copy, 2), path), timing(ADD, add, (add, 3), path)];
    let secs = median_seconds(device, seconds, || device.softmax(rows, cols, &zs, t, false, &mut out));
    out_timings.push(timing(SOFTMAX, secs, (copy, 2), &row_path));
    let ls = labels.storage();
    let secs = median_seconds(device, seconds, || device.kd_loss(rows, cols, &zs, &zt, ls, t, alpha, &mut loss, Some(&mut grad), None));
    out_timings.push(timing(KD_FUSED, secs, (add, 3), &row_path));
    let mut parts = device.zeros(retort_kernels::kd_parts::PARTS);
    let secs = median_seconds(device, seconds, || {
        device.kd_loss(rows, cols, &zs, &zt, ls, t, alpha, &mut loss, Some(&mut grad), Some(&mut parts))
    });
    out_timings.push(timing("kd_loss fused: loss, gradient and parts", secs, (add, 3), &row_path));
    // The composed twin, as a framework without the fused kernel runs it: its primitives on the
    // tape, forward and backward.
    let (zs_t, zt_t) = (Tensor::from_slice(device, &[rows, cols], &zs_host), Tensor::from_slice(device, &[rows, cols], &zt_host));
    let onehot = Tensor::from_slice(device, &[rows, cols], &one_hot(&labels_host, cols));
    let secs = median_seconds(device, seconds, || {
        let mut g = Graph::new(device, true, 0);
        let (s, tv, oh) = (g.param(&zs_t), g.constant(zt_t.clone()), g.constant(onehot.clone()));
        let l = g.kd_loss_composed(s, tv, oh, t, alpha);
        std::hint::black_box(g.backward(l));
    });
    out_timings.push(timing("kd_loss composed: forward and backward", secs, (add, 3), path));
    out_timings
}

/// The median device time of one run of `f`: samples of enough back-to-back runs to last about
/// 20 ms each (so launch and timer overheads wash out), for about `seconds` in all.
fn median_seconds(device: &Device, seconds: f64, mut f: impl FnMut()) -> f64 {
    let once = device.time(&mut f);
    let reps = ((0.02 / once.max(1e-7)).ceil() as usize).clamp(1, 1000);
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < 3 || (start.elapsed().as_secs_f64() < seconds && samples.len() < 50) {
        samples.push(device.time(|| (0..reps).for_each(|_| f())) / reps as f64);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}
