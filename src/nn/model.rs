//! A model: its spec and its parameters, and the forward pass that records onto a tape.

use super::spec::{ModelSpec, PlannedLayer};
use crate::autograd::{Graph, Var};
use crate::backend::{Conv2dGeometry, Device};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use retort_kernels::rng::Rng;

/// Dropout rates for a training pass: on the inputs and after each hidden layer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dropout {
    pub input: f32,
    pub hidden: f32,
}

/// Fresh tensors of `shapes`: He-normal matrices (std `sqrt(2 / fan_in)`, for ReLU), zero vectors.
pub fn init_params(shapes: &[(String, Vec<usize>)], device: &Device, seed: u64) -> Vec<Tensor> {
    let mut rng = Rng::new(seed);
    shapes
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
        .collect()
}

/// What a forward pass leaves on the tape: the logits, and the hidden activations asked for by
/// layer name ([`ModelSpec::layer_names`]), each after its ReLU and before dropout.
#[derive(Clone, Debug)]
pub struct Outputs {
    pub logits: Var,
    pub activations: Vec<(String, Var)>,
}

impl Outputs {
    /// The activation of layer `name`, if it was asked for.
    pub fn activation(&self, name: &str) -> Option<Var> {
        self.activations.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// An architecture and its parameters, in [`ModelSpec::param_shapes`] order.
#[derive(Clone, Debug)]
pub struct Model {
    pub spec: ModelSpec,
    pub params: Vec<Tensor>,
}

impl Model {
    /// Fresh parameters: see [`init_params`].
    pub fn new(spec: ModelSpec, device: &Device, seed: u64) -> Self {
        let params = init_params(&spec.param_shapes(), device, seed);
        Model { spec, params }
    }

    /// The parameters by their checkpoint names (`fc0.weight`...), in [`ModelSpec::param_shapes`] order.
    pub fn named_params(&self) -> Vec<(String, &Tensor)> {
        self.spec.param_shapes().into_iter().map(|(n, _)| n).zip(&self.params).collect()
    }

    /// Number of scalar parameters.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(|p| p.len()).sum()
    }

    /// The forward pass of `x (batch x input)`, with the activations of the layers named in
    /// `taps`. Parameters enter the tape as `params` (their gradients come back under these
    /// `Var`s); dropout applies when the graph is training.
    pub fn forward(&self, g: &mut Graph, x: Var, dropout: Dropout, taps: &[String]) -> (Outputs, Vec<Var>) {
        let params: Vec<Var> = self.params.iter().map(|p| g.param(p)).collect();
        let out = self.forward_with(g, x, &params, dropout, taps);
        (out, params)
    }

    /// The forward pass with parameters already on the tape (teacher passes use constants).
    /// Inputs are `batch x input_len`; a CNN reads each example as height x width x channels.
    /// A name in `taps` that is no layer of this model is a programming error (see
    /// [`Model::check_taps`]).
    pub fn forward_with(&self, g: &mut Graph, x: Var, params: &[Var], dropout: Dropout, taps: &[String]) -> Outputs {
        assert_eq!(g.shape(x)[1..].iter().product::<usize>(), self.spec.input_len(), "{}: input of {:?}", self.spec, g.shape(x));
        let batch = g.shape(x)[0];
        let mut params = params.iter().copied();
        let mut next = || params.next().expect("a parameter per weight and bias");
        let mut h = g.dropout(x, dropout.input);
        let mut activations = Vec::new();
        for (layer, name) in self.spec.layers().into_iter().zip(self.spec.layer_names()) {
            let tapped = taps.contains(&name);
            g.enter_layer(Some(&name));
            h = match layer {
                PlannedLayer::Conv { input: [height, width, channels], kernel, padding, stride, .. } => {
                    let geom = Conv2dGeometry { batch, height, width, channels, kernel, stride, padding };
                    let (w, b) = (next(), next());
                    let y = g.conv2d(h, w, b, geom, true);
                    if tapped {
                        activations.push((name, y));
                    }
                    y
                }
                PlannedLayer::Pool { input: [height, width, channels], size } => {
                    let y = g.max_pool2d(h, Conv2dGeometry { batch, height, width, channels, kernel: size, stride: size, padding: 0 });
                    if tapped {
                        activations.push((name, y));
                    }
                    y
                }
                PlannedLayer::Linear { relu, .. } => {
                    let (w, b) = (next(), next());
                    let y = g.linear(h, w, b, relu);
                    if tapped {
                        activations.push((name, y));
                    }
                    if relu { g.dropout(y, dropout.hidden) } else { y }
                }
            };
        }
        g.enter_layer(None);
        Outputs { logits: h, activations }
    }

    /// Refuses layer names in `taps` that this model does not have.
    pub fn check_taps(&self, taps: &[String]) -> Result<()> {
        let names = self.spec.layer_names();
        match taps.iter().find(|t| !names.contains(t)) {
            Some(t) => {
                Err(Error::Spec { spec: self.spec.to_string(), reason: format!("has no layer `{t}` (its layers: {})", names.join(", ")) })
            }
            None => Ok(()),
        }
    }

    /// Logits of a batch with no tape kept for training: evaluation and teacher passes.
    pub fn logits(&self, x: &Tensor) -> Tensor {
        self.outputs(x, &[]).0
    }

    /// Logits and the activations named in `taps` of a batch, with no tape kept.
    pub fn outputs(&self, x: &Tensor, taps: &[String]) -> (Tensor, Vec<(String, Tensor)>) {
        let mut g = Graph::new(x.device(), false, 0);
        let params: Vec<Var> = self.params.iter().map(|p| g.constant(p.clone())).collect();
        let xv = g.constant(x.clone());
        let out = self.forward_with(&mut g, xv, &params, Dropout::default(), taps);
        let activations = out.activations.iter().map(|(n, v)| (n.clone(), g.value(*v).clone())).collect();
        (g.value(out.logits).clone(), activations)
    }

    /// The same model on another device.
    pub fn to_device(&self, device: &Device) -> Model {
        Model { spec: self.spec.clone(), params: self.params.iter().map(|p| p.to_device(device)).collect() }
    }
}
