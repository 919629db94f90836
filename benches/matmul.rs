//! GEMM on the shapes a distillation step runs (784-1200-1200-10 teacher, 784-800-800-10
//! student, batch 128), our packed kernel against matrixmultiply, and the f64 reference on one.
//! `cargo bench --bench matmul`; throughput is reported in FLOP (2 per multiply-add).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use retort_kernels::matmul::{MatmulKernel, matmul_with};
use retort_kernels::reference;
use retort_kernels::testing::Rng;
use std::hint::black_box;

/// (name, m, k, n, trans_a, trans_b)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("fwd 128x784x1200", 128, 784, 1200, false, false),
    ("fwd 128x1200x1200", 128, 1200, 1200, false, false),
    ("fwd 128x800x800", 128, 800, 800, false, false),
    ("dW 784x128x1200 (A^T)", 784, 128, 1200, true, false),
    ("dX 128x1200x1200 (B^T)", 128, 1200, 1200, false, true),
    ("square 1024", 1024, 1024, 1024, false, false),
];

fn matmul(c: &mut Criterion) {
    let mut rng = Rng::new(1);
    let mut group = c.benchmark_group("matmul");
    for &(name, m, k, n, ta, tb) in SHAPES {
        let (a, b) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
        let mut out = vec![0.0; m * n];
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        for kernel in [MatmulKernel::Packed, MatmulKernel::MatrixMultiply] {
            group.bench_function(format!("{name} {kernel:?}"), |bench| {
                bench.iter(|| matmul_with(kernel, m, k, n, black_box(&a), ta, black_box(&b), tb, &mut out, 0.0))
            });
        }
    }
    let (m, k, n) = (64, 128, 64);
    let (a, b) = (
        rng.vec(m * k, -1.0, 1.0).iter().map(|&v| v as f64).collect::<Vec<_>>(),
        rng.vec(k * n, -1.0, 1.0).iter().map(|&v| v as f64).collect::<Vec<_>>(),
    );
    group.throughput(Throughput::Elements((2 * m * k * n) as u64));
    group.bench_function("64x128x64 reference f64", |bench| {
        bench.iter(|| reference::matmul(m, k, n, black_box(&a), false, black_box(&b), false))
    });
    group.finish();
}

criterion_group!(benches, matmul);
criterion_main!(benches);
