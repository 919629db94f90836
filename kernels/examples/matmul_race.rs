//! Our packed GEMM against matrixmultiply on every product the benchmarked models run at batch
//! 128, alternating the two so that this VM's drift hits both alike. Median microseconds and
//! GFLOP/s of each, and the ratio. `cargo run --release -p retort-kernels --example matmul_race`
use retort_kernels::matmul::{MatmulKernel, matmul_with};
use retort_kernels::testing::Rng;
use std::time::Instant;

/// (what, m, k, n, trans_a, trans_b)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("mlp teacher fc1 x W", 128, 784, 1200, false, false),
    ("mlp teacher fc2 x W", 128, 1200, 1200, false, false),
    ("mlp student fc2 x W", 128, 800, 800, false, false),
    ("mlp dW = x^T dy", 784, 128, 1200, true, false),
    ("mlp dX = dy W^T", 128, 1200, 784, false, true),
    ("cnn student conv1 fwd", 100352, 25, 8, false, false),
    ("cnn student conv1 dW", 25, 100352, 8, true, false),
    ("cnn student conv2 fwd", 25088, 200, 16, false, false),
    ("cnn student conv2 dW", 200, 25088, 16, true, false),
    ("cnn student conv2 dcol", 25088, 16, 200, false, true),
    ("cnn student fc1 fwd", 128, 784, 128, false, false),
    ("cnn student fc1 dW", 784, 128, 128, true, false),
    ("cnn student fc1 dX", 128, 128, 784, false, true),
    ("cnn teacher conv1 fwd", 100352, 25, 32, false, false),
    ("cnn teacher conv1 dW", 25, 100352, 32, true, false),
    ("cnn teacher conv2 fwd", 25088, 800, 64, false, false),
    ("cnn teacher conv2 dW", 800, 25088, 64, true, false),
    ("cnn teacher conv2 dcol", 25088, 64, 800, false, true),
    ("cnn teacher fc1 fwd", 128, 3136, 1024, false, false),
    ("cnn teacher fc1 dW", 3136, 128, 1024, true, false),
    ("cnn teacher fc1 dX", 128, 1024, 3136, false, true),
];

fn main() {
    let reps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(15);
    let filter = std::env::args().nth(2).unwrap_or_default();
    let mut rng = Rng::new(1);
    println!("{:<26} {:>22} {:>10} {:>10} {:>7}", "product", "m x k x n", "mm GF/s", "ours GF/s", "ratio");
    for &(what, m, k, n, ta, tb) in SHAPES.iter().filter(|s| s.0.contains(&filter)) {
        let (a, b) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
        let mut c = vec![0.0; m * n];
        let mut times = [Vec::new(), Vec::new()];
        for _ in 0..reps {
            for (t, kernel) in times.iter_mut().zip([MatmulKernel::MatrixMultiply, MatmulKernel::Packed]) {
                let start = Instant::now();
                matmul_with(kernel, m, k, n, &a, ta, &b, tb, &mut c, 0.0);
                t.push(start.elapsed().as_secs_f64());
            }
        }
        let gflops = |t: &mut Vec<f64>| {
            t.sort_by(f64::total_cmp);
            2.0 * (m * k * n) as f64 / t[t.len() / 2] / 1e9
        };
        let (mm, ours) = (gflops(&mut times[0]), gflops(&mut times[1]));
        println!("{what:<26} {:>22} {mm:>10.1} {ours:>10.1} {:>7.2}", format!("{m}x{k}x{n}"), ours / mm);
    }
}
