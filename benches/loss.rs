//! Softmax with temperature and the KD loss: the fused backward against its decomposed twin
//! (the same loss composed of primitives through autograd), and against the f64 reference.
//! `cargo bench --bench loss`.

use criterion::{Criterion, criterion_group, criterion_main};
use retort::ops::kd_loss::one_hot;
use retort::{Device, Graph, Labels, Tensor};
use retort_kernels::testing::Rng;
use retort_kernels::{kd_loss, reference, softmax};
use std::hint::black_box;

fn losses(c: &mut Criterion) {
    let mut rng = Rng::new(2);
    let dev = Device::cpu();
    let mut group = c.benchmark_group("kd_loss");
    for &(rows, cols) in &[(128usize, 10usize), (128, 1000)] {
        let (zs, zt, y) = (rng.vec(rows * cols, -5.0, 5.0), rng.vec(rows * cols, -5.0, 5.0), rng.labels(rows, cols));
        let mut out = vec![0.0; rows * cols];
        group.bench_function(format!("softmax {rows}x{cols}"), |b| b.iter(|| softmax::softmax(rows, cols, black_box(&zs), 20.0, &mut out)));
        let mut row_loss = vec![0.0; rows];
        group.bench_function(format!("kd_loss fused, loss and gradient {rows}x{cols}"), |b| {
            b.iter(|| {
                let outputs = kd_loss::KdOutputs { row_loss: &mut row_loss, grad: Some((&mut out, 1.0 / rows as f32)), parts: None };
                kd_loss::kd_loss(rows, cols, black_box(&zs), &zt, &y, 20.0, 0.9, outputs)
            })
        });
        let labels = Labels::from_slice(&dev, &y);
        let (zs_t, zt_t, oh) = (
            Tensor::from_slice(&dev, &[rows, cols], &zs),
            Tensor::from_slice(&dev, &[rows, cols], &zt),
            Tensor::from_slice(&dev, &[rows, cols], &one_hot(&y, cols)),
        );
        for fused in [true, false] {
            let name = if fused { "fused" } else { "composed" };
            group.bench_function(format!("loss+backward on the tape, {name} {rows}x{cols}"), |b| {
                b.iter(|| {
                    let mut g = Graph::new(&dev, true, 0);
                    let s = g.param(&zs_t);
                    let t = g.constant(zt_t.clone());
                    let loss = if fused {
                        g.kd_loss(s, t, &labels, 20.0, 0.9)
                    } else {
                        let o = g.constant(oh.clone());
                        g.kd_loss_composed(s, t, o, 20.0, 0.9)
                    };
                    black_box(g.backward(loss));
                })
            });
        }
        let (zs64, zt64): (Vec<f64>, Vec<f64>) = (zs.iter().map(|&v| v as f64).collect(), zt.iter().map(|&v| v as f64).collect());
        group.bench_function(format!("kd_loss reference f64 {rows}x{cols}"), |b| {
            b.iter(|| reference::kd_loss(rows, cols, black_box(&zs64), &zt64, &y, 20.0, 0.9))
        });
    }
    group.finish();
}

criterion_group!(benches, losses);
criterion_main!(benches);
