//! Quick GEMM throughput probe (the criterion bench is the reference figure).
use retort_kernels::gemm::{GemmKernel, gemm_with};
use std::time::Instant;
fn main() {
    for &(m, k, n, ta, tb) in &[(128usize, 784usize, 1200usize, false, false), (128, 1200, 1200, false, false), (784, 128, 1200, true, false), (128, 1200, 784, false, true), (1024, 1024, 1024, false, false)] {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; k * n];
        let mut c = vec![0.0f32; m * n];
        for kernel in [GemmKernel::Packed, GemmKernel::MatrixMultiply] {
            for _ in 0..3 { gemm_with(kernel, m, k, n, &a, ta, &b, tb, &mut c, 0.0); }
            let reps = 30;
            let t = Instant::now();
            for _ in 0..reps { gemm_with(kernel, m, k, n, &a, ta, &b, tb, &mut c, 0.0); }
            let s = t.elapsed().as_secs_f64() / reps as f64;
            println!("{m}x{k}x{n} ta={ta} tb={tb} {kernel:?}: {:.1} GFLOP/s", 2.0 * (m * k * n) as f64 / s / 1e9);
        }
    }
}
