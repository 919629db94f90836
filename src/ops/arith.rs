//! Elementwise add, multiply, scale, and the sum to a scalar: the primitives that compose the
//! decomposed twin of the fused KD loss.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::tensor::Tensor;

impl Graph {
    /// `a + b`, same shapes.
    pub fn add(&mut self, a: Var, b: Var) -> Var {
        self.binary(a, b, "add", |g, x, y, o| g.device.add(x, y, o), |a, b| Op::Add { a, b })
    }

    /// `a * b` elementwise, same shapes.
    pub fn mul(&mut self, a: Var, b: Var) -> Var {
        self.binary(a, b, "mul", |g, x, y, o| g.device.mul(x, y, o), |a, b| Op::Mul { a, b })
    }

    /// `s * x`.
    pub fn scale(&mut self, x: Var, s: f32) -> Var {
        let mut out = Tensor::empty(&self.device, self.shape(x));
        self.device.scale(self.value(x).storage(), s, None, out.storage_mut());
        let needs = self.needs_grad(x);
        self.push(out, Op::Scale { x, s }, needs)
    }

    /// The sum of all values, a one-element tensor.
    pub fn sum(&mut self, x: Var) -> Var {
        let mut out = Tensor::empty(&self.device, &[1]);
        self.device.sum(self.value(x).storage(), out.storage_mut());
        let needs = self.needs_grad(x);
        self.push(out, Op::Sum { x }, needs)
    }

    /// The same values under another shape of the same size.
    pub fn reshape(&mut self, x: Var, shape: &[usize]) -> Var {
        let out = self.value(x).reshape(shape);
        let needs = self.needs_grad(x);
        self.push(out, Op::Reshape { x }, needs)
    }

    fn binary(
        &mut self, a: Var, b: Var, op: &str,
        f: impl Fn(&Graph, &crate::backend::Storage, &crate::backend::Storage, &mut crate::backend::Storage),
        node: impl Fn(Var, Var) -> Op,
    ) -> Var {
        assert_eq!(self.shape(a), self.shape(b), "{op}: shapes differ");
        let mut out = Tensor::empty(&self.device, self.shape(a));
        f(self, self.value(a).storage(), self.value(b).storage(), out.storage_mut());
        let needs = self.needs_grad(a) || self.needs_grad(b);
        self.push(out, node(a, b), needs)
    }
}

pub(crate) fn add_backward(g: &Graph, a: Var, b: Var, dy: &Tensor, grads: &mut Gradients) {
    grads.accumulate(g, a, dy.clone());
    grads.accumulate(g, b, dy.clone());
}

pub(crate) fn mul_backward(g: &Graph, a: Var, b: Var, dy: &Tensor, grads: &mut Gradients) {
    grads.write(g, a, |da| g.device.mul(dy.storage(), g.value(b).storage(), da));
    grads.write(g, b, |db| g.device.mul(dy.storage(), g.value(a).storage(), db));
}

pub(crate) fn scale_backward(g: &Graph, x: Var, s: f32, dy: &Tensor, grads: &mut Gradients) {
    grads.write(g, x, |dx| g.device.scale(dy.storage(), s, None, dx));
}

pub(crate) fn sum_backward(g: &Graph, x: Var, dy: &Tensor, grads: &mut Gradients) {
    let ones = Tensor::from_slice(&g.device, g.shape(x), &vec![1.0; g.value(x).len()]);
    grads.write(g, x, |dx| g.device.scale(ones.storage(), 1.0, Some(dy.storage()), dx));
}

#[cfg(test)]
mod tests {
    use crate::ops::gradcheck::gradcheck_on;
    use crate::test_devices::device_test;
    use retort_kernels::testing::Rng;

    device_test!(gradients_match_finite_differences, |device| {
        let mut rng = Rng::new(25);
        let (a, b) = (rng.vec(7 * 3, -1.0, 1.0), rng.vec(7 * 3, -1.0, 1.0));
        let inputs = [(vec![7, 3], a), (vec![7, 3], b)];
        gradcheck_on(device, "add", &inputs, |g, v| g.add(v[0], v[1]), |x| x[0].iter().zip(&x[1]).map(|(a, b)| a + b).collect());
        gradcheck_on(device, "mul", &inputs, |g, v| g.mul(v[0], v[1]), |x| x[0].iter().zip(&x[1]).map(|(a, b)| a * b).collect());
        gradcheck_on(device, "scale", &inputs[..1], |g, v| g.scale(v[0], -2.5), |x| x[0].iter().map(|a| -2.5 * a).collect());
        gradcheck_on(device, "sum", &inputs[..1], |g, v| g.sum(v[0]), |x| vec![x[0].iter().sum()]);
        gradcheck_on(device, "reshape", &inputs[..1], |g, v| g.reshape(v[0], &[3, 7]), |x| x[0].clone());
        gradcheck_on(device, "a*a (one input twice)", &inputs[..1], |g, v| g.mul(v[0], v[0]), |x| x[0].iter().map(|a| a * a).collect());
    });
}
