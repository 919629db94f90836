//! ReLU and inverted dropout. ReLU's backward reads its output (`y > 0`); dropout's
//! regenerates its counter-based mask from the seed, so no mask is stored.

use crate::autograd::{Gradients, Graph, Op, Var};
use crate::tensor::Tensor;

impl Graph {
    /// `max(x, 0)`.
    pub fn relu(&mut self, x: Var) -> Var {
        let mut out = Tensor::empty(&self.device, self.shape(x));
        self.device.relu(self.value(x).storage(), out.storage_mut());
        let needs = self.needs_grad(x);
        self.push(out, Op::Relu { x }, needs)
    }

    /// Inverted dropout with drop probability `p` in training; the identity otherwise.
    pub fn dropout(&mut self, x: Var, p: f32) -> Var {
        assert!((0.0..1.0).contains(&p), "dropout: p = {p} outside [0, 1)");
        if !self.training || p == 0.0 {
            return x;
        }
        let seed = self.next_seed();
        let mut out = Tensor::empty(&self.device, self.shape(x));
        self.device.dropout(self.value(x).storage(), p, seed, out.storage_mut());
        let needs = self.needs_grad(x);
        self.push(out, Op::Dropout { x, p, seed }, needs)
    }
}

pub(crate) fn relu_backward(g: &Graph, x: Var, y: &Tensor, dy: &Tensor, grads: &mut Gradients) {
    grads.write(g, x, |dx| g.device.relu_backward(y.storage(), dy.storage(), dx));
}

pub(crate) fn dropout_backward(g: &Graph, x: Var, p: f32, seed: u64, dy: &Tensor, grads: &mut Gradients) {
    grads.write(g, x, |dx| g.device.dropout(dy.storage(), p, seed, dx));
}

#[cfg(test)]
mod tests {
    use crate::autograd::Graph;
    use crate::backend::Device;
    use crate::ops::gradcheck::gradcheck_on;
    use crate::tensor::Tensor;
    use crate::test_devices::device_test;
    use retort_kernels::reference;
    use retort_kernels::testing::Rng;

    device_test!(relu_gradient_matches_finite_differences, |device| {
        let mut rng = Rng::new(22);
        let x: Vec<f32> = rng.vec(7 * 33, 0.05, 1.0).into_iter().map(|v| if rng.uniform() < 0.5 { -v } else { v }).collect();
        gradcheck_on(device, "relu 7x33", &[(vec![7, 33], x)], |g, v| g.relu(v[0]), |x| reference::relu(&x[0]));
    });

    device_test!(dropout_gradient_matches_finite_differences, |device| {
        let mut rng = Rng::new(23);
        // The check's graph draws its first mask with the seed `Graph::next_seed` gives first.
        let seed = Graph::new(&device.clone(), true, 7).next_seed();
        gradcheck_on(
            device,
            "dropout 5x33",
            &[(vec![5, 33], rng.vec(165, -1.0, 1.0))],
            |g, v| g.dropout(v[0], 0.3),
            |x| reference::dropout(&x[0], 0.3, seed),
        );
    });

    #[test]
    fn dropout_is_identity_in_eval_and_masks_differ_per_call() {
        let dev = Device::cpu();
        let x = Tensor::from_slice(&dev, &[4, 50], &vec![1.0; 200]);
        let mut g = Graph::new(&dev, false, 1);
        let v = g.constant(x.clone());
        let y = g.dropout(v, 0.5);
        assert_eq!(g.value(y).to_vec(), x.to_vec());
        let mut g = Graph::new(&dev, true, 1);
        let v = g.constant(x);
        let (a, b) = (g.dropout(v, 0.5), g.dropout(v, 0.5));
        assert_ne!(g.value(a).to_vec(), g.value(b).to_vec(), "two dropout layers share a mask");
    }
}
