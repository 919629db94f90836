//! Row-broadcast bias add, optionally fused with ReLU: `y = max(x + b, 0)`.
//! Backward: `dpre = dy * (y > 0)` (or `dy`), `dx = dpre`, `db = column sums of dpre`.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::tensor::Tensor;

impl Graph {
    /// `x (rows x cols) + bias (cols)` on every row, then ReLU if `relu`.
    pub fn add_bias(&mut self, x: Var, bias: Var, relu: bool) -> Var {
        let (rows, cols) = self.value(x).rows_cols();
        assert_eq!(self.value(bias).len(), cols, "add_bias: bias of {:?} for input {:?}", self.shape(bias), self.shape(x));
        let mut out = Tensor::empty(&self.device, self.shape(x));
        self.device.add_bias(rows, cols, self.value(x).storage(), self.value(bias).storage(), relu, out.storage_mut());
        let needs = self.needs_grad(x) || self.needs_grad(bias);
        self.push(out, Op::AddBias { x, bias, relu }, needs)
    }
}

pub(crate) fn backward(g: &Graph, x: Var, bias: Var, relu: bool, y: &Tensor, dy: &Tensor, grads: &mut Gradients) {
    let dpre = through_relu(g, relu, y, dy);
    add_bias_gradient(g, bias, &dpre, grads);
    grads.accumulate(g, x, dpre);
}

/// `dy` back through the ReLU whose output is `y` (with no ReLU, `dy` itself).
pub(crate) fn through_relu(g: &Graph, relu: bool, y: &Tensor, dy: &Tensor) -> Tensor {
    if !relu {
        return dy.clone();
    }
    let mut d = Tensor::empty(&g.device, y.shape());
    g.device.relu_backward(y.storage(), dy.storage(), d.storage_mut());
    d
}

/// The bias's gradient from the one before its add, `dpre`: its column sums.
pub(crate) fn add_bias_gradient(g: &Graph, bias: Var, dpre: &Tensor, grads: &mut Gradients) {
    let (rows, cols) = dpre.rows_cols();
    grads.write_accumulating(g, bias, |db, beta| g.device.col_sums(rows, cols, dpre.storage(), beta, db));
}

#[cfg(test)]
mod tests {
    use crate::ops::gradcheck::gradcheck_on;
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::Rng;

    device_test!(gradients_match_finite_differences, |device| {
        let mut rng = Rng::new(21);
        for &(r, c) in &[(1usize, 1usize), (7, 33), (5, 3)] {
            for relu in [false, true] {
                // Keep pre-activations away from the ReLU kink, where differences straddle it.
                let x: Vec<f32> = rng.vec(r * c, 0.05, 1.0).into_iter().map(|v| if rng.uniform() < 0.5 { -v } else { v }).collect();
                let inputs = [(vec![r, c], x), (vec![c], vec![0.0; c])];
                gradcheck_on(
                    device,
                    &format!("add_bias {r}x{c} relu={relu}"),
                    &inputs,
                    |g, v| g.add_bias(v[0], v[1], relu),
                    |x| reference::add_bias(r, c, &x[0], &x[1], relu),
                );
            }
        }
    });
}
