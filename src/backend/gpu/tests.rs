//! What only the GPU backend has: its 128 x 128 matmul kernel, and grids past one dimension.
//! Everything the two backends share is tested on both in `backend/tests.rs`.

use super::GpuBackend;
use crate::backend::Backend;
use crate::backend::Device;
use crate::backend::tests::matmul_on_odd_shapes;

fn gpu() -> Option<&'static GpuBackend> {
    crate::test_devices::gpu_backend()
}

#[test]
fn both_matmul_kernels_match_reference_on_odd_shapes_all_transposes() {
    let Some(g) = gpu() else { return };
    // The 64 x 64 kernel, and the 128 x 128 one (taken here from one block up).
    for g in [g.with_large_matmul_from(usize::MAX), g.with_large_matmul_from(1)] {
        matmul_on_odd_shapes(&Device::Gpu(g));
    }
}

#[test]
fn elementwise_covers_more_workgroups_than_one_grid_dimension() {
    let Some(g) = gpu() else { return };
    let g = &Device::Gpu(g.clone());
    // 65,535 workgroups of 256 is the largest 1-D grid: one more element needs the second dimension.
    let n = 65_535 * 256 + 7;
    let x: Vec<f32> = (0..n).map(|i| (i % 1000) as f32).collect();
    let mut out = g.upload(&vec![f32::NAN; n]);
    g.scale(&g.upload(&x), 2.0, None, &mut out);
    let got = g.download(&out);
    let bad = got.iter().zip(&x).position(|(&o, &v)| o != 2.0 * v);
    assert_eq!(bad, None, "scale over {n} values: first mismatch");
}

/// im2col and col2im, which the GPU's convolution composes (the CPU's is one fused kernel).
#[test]
fn im2col_kernels_match_the_cpu_kernels() {
    use retort_kernels::im2col;
    use retort_kernels::testing::{Rng, Tolerance, assert_close, f64s};
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(11);
    for c in retort_kernels::testing::conv_geometries() {
        let x = rng.vec(c.input_len(), -1.0, 1.0);
        let n_cols = c.col_rows() * c.col_width();
        let mut want = vec![0.0; n_cols];
        im2col::im2col(&c, &x, &mut want);
        let mut cols = g.upload(&vec![f32::NAN; n_cols]);
        g.im2col(c, &g.upload(&x), &mut cols);
        assert_eq!(g.download(&cols), want, "im2col {c:?}");
        let dc = rng.vec(n_cols, -1.0, 1.0);
        let mut want = vec![0.0; x.len()];
        im2col::col2im(&c, &dc, &mut want);
        let mut dx = g.upload(&vec![f32::NAN; x.len()]);
        g.col2im(c, &g.upload(&dc), &mut dx);
        assert_close(&format!("col2im {c:?}"), &g.download(&dx), &f64s(&want), Tolerance::dot(c.kernel * c.kernel));
    }
}
