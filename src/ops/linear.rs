//! A linear layer in one op: `y = relu?(x w + b)`, the bias and ReLU applied as the GEMM stores
//! its output. Backward: `dpre = dy * (y > 0)` (or `dy`), `db` its column sums, then the
//! product's two gradients from `dpre`.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::ops::{bias, matmul};
use crate::tensor::Tensor;

impl Graph {
    /// `x (m x k) * w (k x n) + bias (n)` on every row, then ReLU if `relu`.
    pub fn linear(&mut self, x: Var, w: Var, bias: Var, relu: bool) -> Var {
        let (sx, sw) = (self.shape(x).to_vec(), self.shape(w).to_vec());
        assert!(sx.len() == 2 && sw.len() == 2 && sx[1] == sw[0], "linear: x {sx:?} and w {sw:?} do not chain");
        let (m, k, n) = (sx[0], sx[1], sw[1]);
        assert_eq!(self.value(bias).len(), n, "linear: bias of {:?} for w {sw:?}", self.shape(bias));
        let mut out = Tensor::empty(&self.device, &[m, n]);
        let (xv, wv, bv) = (self.value(x).storage(), self.value(w).storage(), self.value(bias).storage());
        self.device.linear(m, k, n, xv, wv, bv, relu, out.storage_mut());
        let needs = self.needs_grad(x) || self.needs_grad(w) || self.needs_grad(bias);
        self.push(out, Op::Linear { x, w, bias, relu }, needs)
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(g: &Graph, x: Var, w: Var, b: Var, relu: bool, y: &Tensor, dy: &Tensor, grads: &mut Gradients) {
    let dpre = bias::through_relu(g, relu, y, dy);
    bias::add_bias_gradient(g, b, &dpre, grads);
    matmul::backward(g, x, w, false, false, &dpre, grads);
}

#[cfg(test)]
mod tests {
    use crate::autograd::Graph;
    use crate::ops::gradcheck::gradcheck_on;
    use crate::tensor::Tensor;
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::Rng;

    device_test!(gradients_match_finite_differences, |device| {
        let mut rng = Rng::new(22);
        for &(m, k, n) in &[(1usize, 1usize, 1usize), (7, 33, 5), (5, 3, 17)] {
            for relu in [false, true] {
                let inputs =
                    [(vec![m, k], rng.vec(m * k, -1.0, 1.0)), (vec![k, n], rng.vec(k * n, -1.0, 1.0)), (vec![n], rng.vec(n, -0.5, 0.5))];
                gradcheck_on(
                    device,
                    &format!("linear {m}x{k}x{n} relu={relu}"),
                    &inputs,
                    |g, v| g.linear(v[0], v[1], v[2], relu),
                    |x| reference::add_bias(m, n, &reference::matmul(m, k, n, &x[0], false, &x[1], false), &x[2], relu),
                );
            }
        }
    });

    // The fused op gives the bits of the product followed by the bias: the same sums, in the
    // same order, and one addition.
    device_test!(the_same_values_as_the_product_then_the_bias, |device| {
        let mut rng = Rng::new(23);
        let (m, k, n) = (33, 70, 45);
        let (x, w, b) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0), rng.vec(n, -0.5, 0.5));
        for relu in [false, true] {
            let mut g = Graph::new(device, false, 0);
            let (xv, wv, bv) = (
                g.constant(Tensor::from_slice(device, &[m, k], &x)),
                g.constant(Tensor::from_slice(device, &[k, n], &w)),
                g.constant(Tensor::from_slice(device, &[n], &b)),
            );
            let fused = g.linear(xv, wv, bv, relu);
            let z = g.matmul(xv, wv);
            let composed = g.add_bias(z, bv, relu);
            assert_eq!(g.value(fused).to_vec(), g.value(composed).to_vec(), "{device:?} relu={relu}");
        }
    });
}
