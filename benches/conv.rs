//! The convolution layers of the CNN student and teacher at batch 128 (forward, and backward
//! with the input gradient where the layer has one; throughput in multiply-adds), the kernels
//! around them (im2col and col2im, the GPU's and the reference's; max-pooling and its backward;
//! throughput in bytes moved), and the f64 reference convolution on one small image.
//! `cargo bench --bench conv`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use retort_kernels::reference;
use retort_kernels::testing::Rng;
use retort_kernels::window::Conv2dGeometry;
use retort_kernels::{conv2d, im2col, pool};
use std::hint::black_box;

fn geometry(height: usize, channels: usize, kernel: usize, stride: usize, padding: usize) -> Conv2dGeometry {
    Conv2dGeometry { batch: 128, height, width: height, channels, kernel, stride, padding }
}

fn conv_kernels(c: &mut Criterion) {
    let mut rng = Rng::new(3);
    let mut group = c.benchmark_group("conv");
    group.sample_size(20);
    // conv1 and conv2 of the student (1 and 8 input channels) and the teacher's conv2 (32).
    let layers = [
        ("student conv1", geometry(28, 1, 5, 1, 2), 8),
        ("student conv2", geometry(14, 8, 5, 1, 2), 16),
        ("teacher conv2", geometry(14, 32, 5, 1, 2), 64),
    ];
    for (name, g, out_channels) in layers {
        let (x, w, bias) =
            (rng.vec(g.input_len(), -1.0, 1.0), rng.vec(g.col_width() * out_channels, -0.1, 0.1), rng.vec(out_channels, -0.1, 0.1));
        let (mut y, mut scratch) = (vec![0.0; g.col_rows() * out_channels], vec![0.0; conv2d::conv2d_scratch_len(&g, out_channels)]);
        group.throughput(Throughput::Elements((g.col_rows() * g.col_width() * out_channels) as u64));
        group.bench_function(format!("conv2d forward {name}"), |b| {
            b.iter(|| conv2d::conv2d(&g, out_channels, black_box(&x), &w, &bias, true, &mut y, &mut scratch))
        });
        let dy = rng.vec(y.len(), -1.0, 1.0);
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; out_channels]);
        // The first layer has no input gradient (the network's input); the others do.
        let with_dx = g.channels > 1;
        let products = if with_dx { 2 } else { 1 };
        group.throughput(Throughput::Elements((products * g.col_rows() * g.col_width() * out_channels) as u64));
        group.bench_function(format!("conv2d backward {name}"), |b| {
            b.iter(|| {
                let dx = with_dx.then_some(&mut dx[..]);
                conv2d::conv2d_backward(&g, out_channels, black_box(&x), &w, &y, &dy, true, dx, &mut dw, &mut db, &mut scratch)
            })
        });
    }
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
