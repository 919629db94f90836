//! Test support shared by both crates: one `assert_close` with named tolerances, the seeded RNG
//! re-exported for test data.

pub use crate::rng::Rng;
use crate::window::Conv2dGeometry;

/// How close is close enough: `|got - want| <= abs + rel * |want|`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

impl Tolerance {
    /// An f32 kernel against its f64 reference on O(1) values.
    pub const FORWARD: Tolerance = Tolerance { abs: 1e-5, rel: 1e-4 };
    /// An analytic f32 gradient against f64 central differences.
    pub const GRADIENT: Tolerance = Tolerance { abs: 1e-3, rel: 1e-2 };
    /// A whole model or device against another: many ops of f32 rounding.
    pub const END_TO_END: Tolerance = Tolerance { abs: 1e-3, rel: 1e-3 };

    /// A sum over `k` products: f32 rounding grows like `sqrt(k)`.
    pub fn dot(k: usize) -> Tolerance {
        Tolerance { abs: 2e-6 * (k.max(1) as f64).sqrt() * 4.0, rel: 1e-4 }
    }
}

/// Panics naming `op`, the first mismatches with their index, and the max abs/rel error, unless
/// every `got[i]` is finite and within `tol` of `want[i]`.
pub fn assert_close(op: &str, got: &[f32], want: &[f64], tol: Tolerance) {
    assert_eq!(got.len(), want.len(), "{op}: got {} values, want {}", got.len(), want.len());
    let (mut max_abs, mut max_rel, mut bad) = (0.0f64, 0.0f64, Vec::new());
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w).abs();
        max_abs = max_abs.max(err);
        max_rel = max_rel.max(err / w.abs().max(1e-30));
        if !g.is_finite() || err.is_nan() || err > tol.abs + tol.rel * w.abs() {
            bad.push(i);
        }
    }
    if !bad.is_empty() {
        let first: Vec<String> = bad.iter().take(5).map(|&i| format!("[{i}] got {} want {}", got[i], want[i])).collect();
        panic!(
            "{op}: {} of {} values off (tol abs {}, rel {}); max abs err {max_abs:.3e}, max rel err {max_rel:.3e}; first: {}",
            bad.len(),
            got.len(),
            tol.abs,
            tol.rel,
            first.join(", ")
        );
    }
}

/// f32 values as f64, for the references.
pub fn f64s(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&v| v as f64).collect()
}

/// Central differences of `f` at `x` in f64, step `1e-6` scaled by `|x|`.
pub fn numeric_gradient(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut x = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = 1e-6 * x[i].abs().max(1.0);
            let keep = x[i];
            x[i] = keep + h;
            let up = f(&x);
            x[i] = keep - h;
            let down = f(&x);
            x[i] = keep;
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// `rows x cols` student and teacher logits uniform in `+-scale`, and labels: a loss kernel's inputs.
pub fn logits_and_labels(rng: &mut Rng, rows: usize, cols: usize, scale: f32) -> (Vec<f32>, Vec<f32>, Vec<u32>) {
    (rng.vec(rows * cols, -scale, scale), rng.vec(rows * cols, -scale, scale), rng.labels(rows, cols))
}

/// Panics naming `op` unless every value of `grad` is finite and each `cols`-wide row sums to 0
/// within `tol`: a gradient on logits whose distributions each sum to one.
pub fn assert_finite_rows_sum_to_zero(op: &str, grad: &[f32], cols: usize, tol: f32) {
    assert!(grad.iter().all(|v| v.is_finite()), "{op}: non-finite gradient");
    for (i, row) in grad.chunks(cols).enumerate() {
        let sum: f32 = row.iter().sum();
        assert!(sum.abs() < tol, "{op}: row {i} sums to {sum}");
    }
}

/// Convolution windows on odd shapes: single pixels, windows larger than the stride, padding
/// wider than the image, and an MNIST layer.
pub fn conv_geometries() -> Vec<Conv2dGeometry> {
    let g = Conv2dGeometry::new;
    vec![
        g(1, 1, 1, 1, 1, 1, 0),
        g(2, 7, 5, 3, 3, 1, 1),
        g(3, 9, 9, 2, 5, 2, 2),
        g(1, 6, 7, 4, 2, 2, 0),
        g(2, 4, 4, 1, 5, 1, 2),
        g(1, 3, 3, 2, 3, 3, 1),
        g(2, 8, 9, 1, 3, 2, 1),
        g(1, 28, 28, 1, 5, 1, 2),
    ]
}

/// Pooling windows (no padding): a single pixel, sides that do not divide the image, overlapping
/// windows (stride below the window), and the CNN's first pool.
pub fn pool_geometries() -> Vec<Conv2dGeometry> {
    let g = Conv2dGeometry::new;
    vec![
        g(1, 1, 1, 1, 1, 1, 0),
        g(2, 4, 4, 3, 2, 2, 0),
        g(1, 7, 5, 2, 2, 2, 0),
        g(3, 9, 9, 1, 3, 3, 0),
        g(2, 28, 28, 7, 2, 2, 0),
        g(1, 6, 6, 2, 3, 1, 0),
        // Whole vectors of channels (8 and 16: AVX2's and AVX-512's), and one past them.
        g(2, 4, 4, 8, 2, 2, 0),
        g(1, 4, 6, 9, 2, 2, 0),
        g(1, 5, 5, 16, 3, 1, 0),
        g(1, 4, 4, 17, 2, 2, 0),
    ]
}
