//! Finite-difference gradient checks: the tape's analytic f32 gradients against central
//! differences of the f64 reference, through a random projection `sum(op(x) * r)`.

use crate::autograd::{Graph, Var};
use crate::backend::Device;
use crate::tensor::Tensor;
use retort_kernels::testing::{Rng, Tolerance, assert_close, f64s, numeric_gradient};

/// Checks the gradient of every input of `build` (a tape op) against `reference` (its f64 spec),
/// on `device`. `inputs`: shapes and values; the output is projected on random weights to a scalar.
pub fn gradcheck_on(
    device: &Device, op: &str, inputs: &[(Vec<usize>, Vec<f32>)], build: impl Fn(&mut Graph, &[Var]) -> Var,
    reference: impl Fn(&[Vec<f64>]) -> Vec<f64>,
) {
    let device = device.clone();
    let mut g = Graph::new(&device, true, 7);
    let vars: Vec<Var> = inputs.iter().map(|(s, v)| g.param(&Tensor::from_slice(&device, s, v))).collect();
    let out = build(&mut g, &vars);
    let out_shape = g.shape(out).to_vec();
    let mut rng = Rng::new(99);
    let r = rng.vec(out_shape.iter().product(), -1.0, 1.0);
    let rv = g.constant(Tensor::from_slice(&device, &out_shape, &r));
    let projected = g.mul(out, rv);
    let loss = g.sum(projected);
    let grads = g.backward(loss);

    let values: Vec<Vec<f64>> = inputs.iter().map(|(_, v)| f64s(v)).collect();
    let r64 = f64s(&r);
    for (i, v) in vars.iter().enumerate() {
        let numeric = numeric_gradient(&values[i], |xi| {
            let mut all = values.clone();
            all[i] = xi.to_vec();
            reference(&all).iter().zip(&r64).map(|(a, b)| a * b).sum()
        });
        let analytic = grads.get(*v).map(|t| t.to_vec()).unwrap_or_else(|| vec![0.0; values[i].len()]);
        assert_close(&format!("{op} on {}: d/dinput{i}", device.kind()), &analytic, &numeric, Tolerance::GRADIENT);
    }
}
