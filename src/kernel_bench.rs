//! `retort bench kernels`: each kernel alone on one device, with its median time and its
//! GFLOP/s (matmul) or GB/s (the memory-bound rest), on the MLP's shapes and on large squares.

use crate::backend::{Device, Storage};
use crate::error::Result;
use retort_kernels::rng::Rng;
use std::time::Instant;

/// One kernel's timing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KernelTiming {
    pub kernel: String,
    pub shape: String,
    pub median_us: f64,
    /// Arithmetic rate, for compute-bound kernels.
    pub gflops: Option<f64>,
    /// Bytes the kernel must move over its time, for memory-bound ones.
    pub gbps: Option<f64>,
}

/// A run of `bench kernels`: the device, how it was timed, and each kernel's timing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct KernelBenchRecord {
    pub device: String,
    pub device_name: String,
    pub timer: String,
    pub kernels: Vec<KernelTiming>,
}

/// The kernels `bench kernels` times, with square matmuls up to `max_dim` (1024 and 4096 by default).
pub fn bench_kernels(device: &Device, max_dim: usize, seconds_each: f64) -> Result<Vec<KernelTiming>> {
    let mut rng = Rng::new(11);
    let mut out = Vec::new();
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
        let a = device.upload(&rng.vec(m * k, -1.0, 1.0));
        let b = device.upload(&rng.vec(k * n, -1.0, 1.0));
        let mut c = device.zeros(m * n);
        let secs = median_seconds(device, seconds_each, || device.matmul(m, k, n, &a, ta, &b, tb, &mut c, 0.0));
        out.push(KernelTiming {
            kernel: format!("matmul{}{}", if ta { " A^T" } else { "" }, if tb { " B^T" } else { "" }),
            shape: format!("{m}x{k}x{n}, {what}"),
            median_us: secs * 1e6,
            gflops: Some(2.0 * (m * k * n) as f64 / secs / 1e9),
            gbps: None,
        });
    }
    for (rows, cols) in [(128usize, 10usize), (4096, 1000)] {
        let n = rows * cols;
        let zs = device.upload(&rng.vec(n, -5.0, 5.0));
        let zt = device.upload(&rng.vec(n, -5.0, 5.0));
        let labels_host = rng.labels(rows, cols);
        let labels = device.upload_labels(&labels_host);
        let (t, alpha) = (20.0f32, 0.9f32);
        let shape = format!("{rows}x{cols}, T = {t}");
        let bytes_rw = |tensors: usize| (tensors * n * 4) as f64;
        let mut y = device.zeros(n);
        let secs = median_seconds(device, seconds_each, || device.softmax(rows, cols, &zs, t, false, &mut y));
        out.push(memory_bound("softmax", &shape, secs, bytes_rw(2)));

        let dloss = device.upload(&[1.0]);
        let mut dzs = device.zeros(n);
        let secs =
            median_seconds(device, seconds_each, || device.kd_loss_backward(rows, cols, &zs, &zt, &labels, t, alpha, &dloss, &mut dzs));
        out.push(memory_bound("kd_loss_backward (fused)", &shape, secs, bytes_rw(3)));

        // The same gradient from primitives, as a framework without the fused kernel computes it.
        let mut onehot = vec![0.0f32; n];
        labels_host.iter().enumerate().for_each(|(i, &y)| onehot[i * cols + y as usize] = 1.0);
        let onehot = device.upload(&onehot);
        let (mut ps, mut pt, mut p1) = (device.zeros(n), device.zeros(n), device.zeros(n));
        let (k_soft, k_hard) = (alpha * t / rows as f32, (1.0 - alpha) / rows as f32);
        let secs = median_seconds(device, seconds_each, || {
            unfused_kd_backward(device, rows, cols, [&zs, &zt, &onehot], t, [k_soft, k_hard], [&mut ps, &mut pt, &mut p1], &mut dzs)
        });
        out.push(memory_bound("kd_loss_backward (unfused: 3 softmax, scale, 3 axpy)", &shape, secs, bytes_rw(3)));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn unfused_kd_backward(
    device: &Device, rows: usize, cols: usize, [zs, zt, onehot]: [&Storage; 3], t: f32, [k_soft, k_hard]: [f32; 2],
    [ps, pt, p1]: [&mut Storage; 3], dzs: &mut Storage,
) {
    device.softmax(rows, cols, zs, t, false, ps);
    device.softmax(rows, cols, zt, t, false, pt);
    device.softmax(rows, cols, zs, 1.0, false, p1);
    device.scale(ps, k_soft, None, dzs);
    device.axpy(-k_soft, pt, dzs);
    device.axpy(k_hard, p1, dzs);
    device.axpy(-k_hard, onehot, dzs);
}

fn memory_bound(kernel: &str, shape: &str, secs: f64, bytes: f64) -> KernelTiming {
    KernelTiming { kernel: kernel.into(), shape: shape.into(), median_us: secs * 1e6, gflops: None, gbps: Some(bytes / secs / 1e9) }
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
