//! The convolution kernels around the GEMM (im2col, its adjoint col2im, max-pooling and its
//! backward) on the layers of the CNN student and teacher at batch 128, and the f64 reference
//! convolution on one small image. `cargo bench --bench conv`; throughput in bytes moved.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use retort_kernels::reference;
use retort_kernels::testing::Rng;
use retort_kernels::window::Conv2dGeometry;
use retort_kernels::{im2col, pool};
use std::hint::black_box;

fn geometry(height: usize, channels: usize, kernel: usize, stride: usize, padding: usize) -> Conv2dGeometry {
    Conv2dGeometry { batch: 128, height, width: height, channels, kernel, stride, padding }
}

fn conv_kernels(c: &mut Criterion) {
    let mut rng = Rng::new(3);
    let mut group = c.benchmark_group("conv");
    group.sample_size(20);
    // conv1 and conv2 of the student (1 and 8 input channels) and the teacher's conv2 (32).
    for (name, g) in [
        ("student conv1", geometry(28, 1, 5, 1, 2)),
        ("student conv2", geometry(14, 8, 5, 1, 2)),
        ("teacher conv2", geometry(14, 32, 5, 1, 2)),
    ] {
        let x = rng.vec(g.input_len(), -1.0, 1.0);
        let mut cols = vec![0.0; g.col_rows() * g.col_width()];
        group.throughput(Throughput::Bytes((4 * (cols.len() + x.len())) as u64));
        group.bench_function(format!("im2col {name}"), |b| b.iter(|| im2col::im2col(&g, black_box(&x), &mut cols)));
        let mut dx = vec![0.0; x.len()];
        group.bench_function(format!("col2im {name}"), |b| b.iter(|| im2col::col2im(&g, black_box(&cols), &mut dx)));
    }
    for (name, g) in [("student pool1", geometry(28, 8, 2, 2, 0)), ("teacher pool1", geometry(28, 32, 2, 2, 0))] {
        let x = rng.vec(g.input_len(), -1.0, 1.0);
        let mut y = vec![0.0; g.col_rows() * g.channels];
        group.throughput(Throughput::Bytes((4 * (x.len() + y.len())) as u64));
        group.bench_function(format!("max_pool2d {name}"), |b| b.iter(|| pool::max_pool2d(&g, black_box(&x), &mut y)));
        let (dy, mut dx) = (rng.vec(y.len(), -1.0, 1.0), vec![0.0; x.len()]);
        group.throughput(Throughput::Bytes((4 * (2 * x.len() + 2 * y.len())) as u64));
        group.bench_function(format!("max_pool2d_backward {name}"), |b| {
            b.iter(|| pool::max_pool2d_backward(&g, black_box(&x), &y, &dy, &mut dx))
        });
    }
    let g = Conv2dGeometry { batch: 1, ..geometry(14, 8, 5, 1, 2) };
    let (x, w) = (rng.vec(g.input_len(), -1.0, 1.0), rng.vec(g.col_width() * 16, -1.0, 1.0));
    let (x, w): (Vec<f64>, Vec<f64>) = (x.iter().map(|&v| v as f64).collect(), w.iter().map(|&v| v as f64).collect());
    group.throughput(Throughput::Bytes((8 * x.len()) as u64));
    group.bench_function("reference conv2d f64, one 14x14x8 image to 16 channels", |b| {
        b.iter(|| reference::conv2d(&g, black_box(&x), &w, 16))
    });
    group.finish();
}

criterion_group!(benches, conv_kernels);
criterion_main!(benches);
