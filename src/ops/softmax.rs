//! Softmax and log-softmax with temperature, row-wise over the last dimension.
//! Backward: `dx = y (dy - sum dy y) / t`, and for log-softmax `dx = (dy - exp(y) sum dy) / t`.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::tensor::Tensor;

impl Graph {
    /// Row-wise `softmax(x / t)`.
    pub fn softmax(&mut self, x: Var, t: f32) -> Var {
        self.softmax_impl(x, t, false)
    }

    /// Row-wise `log_softmax(x / t)`.
    pub fn log_softmax(&mut self, x: Var, t: f32) -> Var {
        self.softmax_impl(x, t, true)
    }

    fn softmax_impl(&mut self, x: Var, t: f32, log: bool) -> Var {
        assert!(t > 0.0 && t.is_finite(), "softmax: temperature {t} must be positive");
        let (rows, cols) = self.value(x).rows_cols();
        let mut out = Tensor::empty(&self.device, self.shape(x));
        self.device.softmax(rows, cols, self.value(x).storage(), t, log, out.storage_mut());
        let needs = self.needs_grad(x);
        self.push(out, Op::Softmax { x, t, log }, needs)
    }
}

pub(crate) fn backward(g: &Graph, x: Var, t: f32, log: bool, y: &Tensor, dy: &Tensor, grads: &mut Gradients) {
    let (rows, cols) = y.rows_cols();
    grads.write(g, x, |dx| g.device.softmax_backward(rows, cols, y.storage(), dy.storage(), t, log, dx));
}

#[cfg(test)]
mod tests {
    use crate::ops::gradcheck::gradcheck_on;
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::Rng;

    device_test!(gradients_match_finite_differences, |device| {
        let mut rng = Rng::new(24);
        for &(r, c) in &[(1usize, 1usize), (3, 7), (2, 33)] {
            for &t in &[0.5f32, 1.0, 20.0, 100.0] {
                let x = rng.vec(r * c, -3.0, 3.0);
                gradcheck_on(
                    device,
                    &format!("softmax {r}x{c} t={t}"),
                    &[(vec![r, c], x.clone())],
                    |g, v| g.softmax(v[0], t),
                    |x| reference::softmax(r, c, &x[0], t as f64),
                );
                gradcheck_on(
                    device,
                    &format!("log_softmax {r}x{c} t={t}"),
                    &[(vec![r, c], x)],
                    |g, v| g.log_softmax(v[0], t),
                    |x| reference::log_softmax(r, c, &x[0], t as f64),
                );
            }
        }
    });
}
