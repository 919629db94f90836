//! A model: its spec and its parameters, and the forward pass that records onto a tape.

use super::spec::{ModelSpec, PlannedLayer};
use crate::autograd::{Graph, Var};
use crate::backend::{Conv2dGeometry, Device};
use crate::tensor::Tensor;
use retort_kernels::testing::Rng;

/// Dropout rates for a training pass: on the inputs and after each hidden layer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dropout {
    pub input: f32,
    pub hidden: f32,
}

/// An architecture and its parameters, in [`ModelSpec::param_shapes`] order.
#[derive(Clone, Debug)]
pub struct Model {
    pub spec: ModelSpec,
    pub params: Vec<Tensor>,
}

impl Model {
    /// Fresh parameters: He-normal weights (std `sqrt(2 / fan_in)`, for ReLU), zero biases.
    pub fn new(spec: ModelSpec, device: &Device, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let params = spec
            .param_shapes()
            .iter()
            .map(|(_, shape)| {
                let data: Vec<f32> = if shape.len() == 1 {
                    vec![0.0; shape[0]]
                } else {
                    let std = (2.0 / shape[0] as f32).sqrt();
                    (0..shape.iter().product::<usize>()).map(|_| std * rng.normal()).collect()
                };
                Tensor::from_slice(device, shape, &data)
            })
            .collect();
        Model { spec, params }
    }

    /// Number of scalar parameters.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.len()).sum()
    }

    /// The logits of `x (batch x input)`. Parameters enter the tape as `params` (their
    /// gradients come back under these `Var`s); dropout applies when the graph is training.
    pub fn forward(&self, g: &mut Graph, x: Var, dropout: Dropout) -> (Var, Vec<Var>) {
        let params: Vec<Var> = self.params.iter().map(|p| g.param(p)).collect();
        let out = self.forward_with(g, x, &params, dropout);
        (out, params)
    }

    /// The forward pass with parameters already on the tape (teacher passes use constants).
    /// Inputs are `batch x input_len`; a CNN reads each example as height x width x channels.
    pub fn forward_with(&self, g: &mut Graph, x: Var, params: &[Var], dropout: Dropout) -> Var {
        assert_eq!(g.shape(x)[1..].iter().product::<usize>(), self.spec.input_len(), "{}: input of {:?}", self.spec, g.shape(x));
        let batch = g.shape(x)[0];
        let mut params = params.iter().copied();
        let mut next = || params.next().expect("a parameter per weight and bias");
        let mut h = g.dropout(x, dropout.input);
        for layer in self.spec.layers() {
            h = match layer {
                PlannedLayer::Conv { input: [height, width, channels], kernel, padding, stride, .. } => {
                    let geom = Conv2dGeometry { batch, height, width, channels, kernel, stride, padding };
                    let (w, b) = (next(), next());
                    g.conv2d(h, w, b, geom, true)
                }
                PlannedLayer::Pool { input: [height, width, channels], size } => {
                    g.max_pool2d(h, Conv2dGeometry { batch, height, width, channels, kernel: size, stride: size, padding: 0 })
                }
                PlannedLayer::Linear { relu, .. } => {
                    let (w, b) = (next(), next());
                    let z = g.matmul(h, w);
                    let y = g.add_bias(z, b, relu);
                    if relu { g.dropout(y, dropout.hidden) } else { y }
                }
            };
        }
        h
    }

    /// Logits of a batch with no tape kept for training: evaluation and teacher passes.
    pub fn logits(&self, x: &Tensor) -> Tensor {
        let mut g = Graph::new(x.device(), false, 0);
        let params: Vec<Var> = self.params.iter().map(|p| g.constant(p.clone())).collect();
        let xv = g.constant(x.clone());
        let out = self.forward_with(&mut g, xv, &params, Dropout::default());
        g.value(out).clone()
    }

    /// The same model on another device.
    pub fn to_device(&self, device: &Device) -> Model {
        Model { spec: self.spec.clone(), params: self.params.iter().map(|p| p.to_device(device)).collect() }
    }
}
