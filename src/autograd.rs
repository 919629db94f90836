//! The tape: a `Vec<Node>` arena in execution order, an [`Op`] per node, and one
//! [`Graph::backward`] that walks it in reverse with one `match`. Each op's forward (a `Graph`
//! method) and backward (a function the match calls) live together in `ops/`.

use crate::backend::{Conv2dGeometry, Device, Storage};
use crate::ops;
use crate::profile::Clock;
use crate::tensor::{Labels, Tensor};

/// A node of the tape, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Var(pub(crate) usize);

/// How a node was computed: its inputs and whatever its backward pass needs.
pub(crate) enum Op {
    Leaf,
    Matmul {
        a: Var,
        b: Var,
        trans_a: bool,
        trans_b: bool,
    },
    AddBias {
        x: Var,
        bias: Var,
        relu: bool,
    },
    Linear {
        x: Var,
        w: Var,
        bias: Var,
        relu: bool,
    },
    Relu {
        x: Var,
    },
    Dropout {
        x: Var,
        p: f32,
        seed: u64,
    },
    Softmax {
        x: Var,
        t: f32,
        log: bool,
    },
    /// The gradient of the loss on `zs`, computed in the forward pass.
    KdLoss {
        zs: Var,
        grad: Option<Tensor>,
    },
    DkdLoss {
        zs: Var,
        zt: Var,
        labels: Labels,
        t: f32,
        alpha: f32,
        beta: f32,
    },
    Add {
        a: Var,
        b: Var,
    },
    Mul {
        a: Var,
        b: Var,
    },
    Scale {
        x: Var,
        s: f32,
    },
    Sum {
        x: Var,
    },
    Reshape {
        x: Var,
    },
    Conv2d {
        x: Var,
        w: Var,
        bias: Var,
        geom: Conv2dGeometry,
        relu: bool,
    },
    MaxPool2d {
        x: Var,
        geom: Conv2dGeometry,
    },
}

impl Op {
    /// The op's name in a profile.
    fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Matmul { .. } => "matmul",
            Op::AddBias { relu: true, .. } => "add_bias+relu",
            Op::AddBias { relu: false, .. } => "add_bias",
            Op::Linear { relu: true, .. } => "linear+relu",
            Op::Linear { relu: false, .. } => "linear",
            Op::Relu { .. } => "relu",
            Op::Dropout { .. } => "dropout",
            Op::Softmax { log: false, .. } => "softmax",
            Op::Softmax { log: true, .. } => "log_softmax",
            Op::KdLoss { .. } => "kd_loss",
            Op::DkdLoss { .. } => "dkd_loss",
            Op::Add { .. } => "add",
            Op::Mul { .. } => "mul",
            Op::Scale { .. } => "scale",
            Op::Sum { .. } => "sum",
            Op::Reshape { .. } => "reshape",
            Op::Conv2d { relu: true, .. } => "conv2d+relu",
            Op::Conv2d { relu: false, .. } => "conv2d",
            Op::MaxPool2d { .. } => "max_pool2d",
        }
    }
}

/// `matmul [128, 10]`: an op and its output shape, a row of a profile.
/// Leaves (inputs, parameters) share one row.
fn label(op: &Op, value: &Tensor) -> String {
    match op {
        Op::Leaf => "leaf".into(),
        _ => format!("{} {:?}", op.name(), value.shape()),
    }
}

pub(crate) struct Node {
    pub value: Tensor,
    pub op: Op,
    pub needs_grad: bool,
    /// The model layer being built when the node was recorded, an index into `Graph::layers`.
    pub layer: Option<usize>,
}

/// One forward pass, recorded for its backward pass.
pub struct Graph {
    pub(crate) device: Device,
    pub(crate) nodes: Vec<Node>,
    /// Dropout is active only in training.
    pub training: bool,
    seed: u64,
    draws: u64,
    /// Times each node when [`crate::profile`] is on.
    clock: Clock,
    /// Where a loss that computes the study's figures in its own pass adds them (see
    /// [`Graph::collect_parts`]), and whether one did.
    pub(crate) parts: Option<(Tensor, bool)>,
    /// Names of the layers the nodes were recorded in (see [`Graph::enter_layer`]).
    layers: Vec<String>,
    current_layer: Option<usize>,
}

impl Graph {
    /// An empty tape on `device`. `seed` keys this pass's dropout masks.
    pub fn new(device: &Device, training: bool, seed: u64) -> Self {
        Graph {
            device: device.clone(),
            nodes: Vec::with_capacity(32),
            training,
            seed,
            draws: 0,
            clock: Clock::new(),
            parts: None,
            layers: Vec::new(),
            current_layer: None,
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A value no gradient flows to (inputs, teacher logits).
    pub fn constant(&mut self, value: Tensor) -> Var {
        self.push(value, Op::Leaf, false)
    }

    /// A value whose gradient [`Graph::backward`] returns (parameters).
    pub fn param(&mut self, value: &Tensor) -> Var {
        self.push(value.clone(), Op::Leaf, true)
    }

    /// The value a node computed.
    pub fn value(&self, v: Var) -> &Tensor {
        &self.nodes[v.0].value
    }

    pub fn shape(&self, v: Var) -> &[usize] {
        self.nodes[v.0].value.shape()
    }

    /// A fresh key for a dropout mask: distinct per call within a pass, and per pass seed.
    pub(crate) fn next_seed(&mut self) -> u64 {
        self.draws += 1;
        self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(self.draws.wrapping_mul(0xd1b5_4a32_d192_ed03))
    }

    /// Records a node; it needs a gradient if any input does (or it is a parameter).
    pub(crate) fn push(&mut self, value: Tensor, op: Op, needs_grad: bool) -> Var {
        self.clock.lap(&self.device, || label(&op, &value), false);
        self.nodes.push(Node { value, op, needs_grad, layer: self.current_layer });
        Var(self.nodes.len() - 1)
    }

    /// Tags the nodes recorded from now on with the layer `name` (None: outside any layer), so
    /// a report can say where a value came from.
    pub fn enter_layer(&mut self, name: Option<&str>) {
        self.current_layer = name.map(|n| {
            self.layers.push(n.to_string());
            self.layers.len() - 1
        });
    }

    /// The first node, in the order they were computed, holding a NaN or an infinity: its op,
    /// shape and layer, e.g. `linear+relu [128, 16] in layer fc0`. Reads every value back: for
    /// diagnosing a failure, not for every step.
    pub fn first_non_finite(&self) -> Option<String> {
        self.nodes.iter().find(|n| n.value.to_vec().iter().any(|v| !v.is_finite())).map(|n| {
            let what = match n.op {
                Op::Leaf => format!("an input or parameter {:?}", n.value.shape()),
                _ => label(&n.op, &n.value),
            };
            match n.layer {
                Some(l) => format!("{what} in layer {}", self.layers[l]),
                None => what,
            }
        })
    }

    pub(crate) fn needs_grad(&self, v: Var) -> bool {
        self.nodes[v.0].needs_grad
    }

    /// Backpropagates from the one-element `loss`. Returns the gradient of every parameter.
    pub fn backward(&self, loss: Var) -> Gradients {
        assert_eq!(self.value(loss).len(), 1, "backward: the loss must have one element, has shape {:?}", self.shape(loss));
        let mut grads = Gradients { device: self.device.clone(), slots: (0..self.nodes.len()).map(|_| None).collect() };
        grads.slots[loss.0] = Some(Tensor::from_slice(&self.device, &[1], &[1.0]));
        let mut clock = Clock::new();
        clock.reset(&self.device);
        for i in (0..=loss.0).rev() {
            let node = &self.nodes[i];
            if !node.needs_grad {
                continue;
            }
            let Some(dy) = grads.slots[i].take() else { continue };
            let y = &node.value;
            match node.op {
                Op::Leaf => {
                    grads.slots[i] = Some(dy);
                    continue;
                }
                Op::Matmul { a, b, trans_a, trans_b } => ops::matmul::backward(self, a, b, trans_a, trans_b, &dy, &mut grads),
                Op::AddBias { x, bias, relu } => ops::bias::backward(self, x, bias, relu, y, &dy, &mut grads),
                Op::Linear { x, w, bias, relu } => ops::linear::backward(self, x, w, bias, relu, y, &dy, &mut grads),
                Op::Relu { x } => ops::activation::relu_backward(self, x, y, &dy, &mut grads),
                Op::Dropout { x, p, seed } => ops::activation::dropout_backward(self, x, p, seed, &dy, &mut grads),
                Op::Softmax { x, t, log } => ops::softmax::backward(self, x, t, log, y, &dy, &mut grads),
                Op::KdLoss { zs, ref grad } => ops::kd_loss::backward(self, zs, grad.as_ref(), &dy, &mut grads),
                Op::DkdLoss { zs, zt, ref labels, t, alpha, beta } => {
                    ops::dkd_loss::backward(self, zs, zt, labels, t, alpha, beta, &dy, &mut grads)
                }
                Op::Add { a, b } => ops::arith::add_backward(self, a, b, &dy, &mut grads),
                Op::Mul { a, b } => ops::arith::mul_backward(self, a, b, &dy, &mut grads),
                Op::Scale { x, s } => ops::arith::scale_backward(self, x, s, &dy, &mut grads),
                Op::Sum { x } => ops::arith::sum_backward(self, x, &dy, &mut grads),
                Op::Conv2d { x, w, bias, geom, relu } => ops::conv::conv2d_backward(self, x, w, bias, geom, relu, y, &dy, &mut grads),
                Op::MaxPool2d { x, geom } => ops::conv::max_pool2d_backward(self, x, geom, y, &dy, &mut grads),
                Op::Reshape { x } => {
                    let shape = self.shape(x).to_vec();
                    grads.accumulate(self, x, dy.reshape(&shape));
                }
            }
            clock.lap(&self.device, || label(&node.op, y), true);
        }
        grads
    }
}

/// The gradients of one backward pass, a slot per node: filled while the tape is walked back,
/// read by node afterwards.
pub struct Gradients {
    device: Device,
    slots: Vec<Option<Tensor>>,
}

impl Gradients {
    /// Adds `g` to the gradient of `v`, if `v` needs one.
    pub(crate) fn accumulate(&mut self, graph: &Graph, v: Var, g: Tensor) {
        if !graph.needs_grad(v) {
            return;
        }
        match &mut self.slots[v.0] {
            None => self.slots[v.0] = Some(g),
            Some(acc) => self.device.axpy(1.0, g.storage(), acc.storage_mut()),
        }
    }

    /// Lets `write(out, beta)` produce the gradient of `v` in place: into a fresh buffer with
    /// `beta = 0`, or accumulated with `beta = 1`. For kernels that accumulate themselves (GEMM).
    pub(crate) fn write_accumulating(&mut self, graph: &Graph, v: Var, write: impl FnOnce(&mut Storage, f32)) {
        if !graph.needs_grad(v) {
            return;
        }
        let shape = graph.shape(v).to_vec();
        match &mut self.slots[v.0] {
            Some(acc) => write(acc.storage_mut(), 1.0),
            slot @ None => {
                let mut fresh = Tensor::empty(&self.device, &shape);
                write(fresh.storage_mut(), 0.0);
                *slot = Some(fresh);
            }
        }
    }

    /// Lets `write(out)` compute a contribution to the gradient of `v` (shape of `v`), then adds it.
    pub(crate) fn write(&mut self, graph: &Graph, v: Var, write: impl FnOnce(&mut Storage)) {
        if !graph.needs_grad(v) {
            return;
        }
        let mut g = Tensor::empty(&self.device, graph.shape(v));
        write(g.storage_mut());
        self.accumulate(graph, v, g);
    }

    /// The gradient of `v`; `None` if nothing flowed to it.
    pub fn get(&self, v: Var) -> Option<&Tensor> {
        self.slots.get(v.0).and_then(|g| g.as_ref())
    }
}
