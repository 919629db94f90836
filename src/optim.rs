//! Optimizers (SGD with momentum, AdamW) and learning-rate schedules. Updates run on the
//! parameters' device; optimizer state is tensors, saved in checkpoints beside the weights.

use crate::autograd::{Gradients, Var};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Which optimizer, with its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OptimizerKind {
    /// PyTorch's SGD: `v = mu v + g + wd w; w -= lr v`; then incoming-weight norms capped.
    Sgd { momentum: f32, weight_decay: f32, max_norm: Option<f32> },
    /// AdamW with decoupled weight decay.
    Adam { beta1: f32, beta2: f32, eps: f32, weight_decay: f32 },
}

impl OptimizerKind {
    /// Parses `sgd` or `adam` with the given regularisation.
    pub fn parse(name: &str, momentum: f32, weight_decay: f32, max_norm: Option<f32>) -> Result<Self> {
        match name {
            "sgd" => Ok(OptimizerKind::Sgd { momentum, weight_decay, max_norm }),
            "adam" | "adamw" => Ok(OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay }),
            _ => Err(Error::setting("optimizer", name, "expected sgd or adam")),
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Adam { .. } => "adam",
        }
    }
}

/// An optimizer and its per-parameter state.
pub struct Optimizer {
    pub kind: OptimizerKind,
    /// SGD: velocities. Adam: first moments then second moments.
    pub state: Vec<Tensor>,
    /// Updates taken so far.
    pub step: u32,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, params: &[Tensor]) -> Self {
        let copies = if matches!(kind, OptimizerKind::Adam { .. }) { 2 } else { 1 };
        let state = (0..copies).flat_map(|_| params.iter().map(|p| Tensor::zeros(p.device(), p.shape()))).collect();
        Optimizer { kind, state, step: 0 }
    }

    /// One update of `params` from the gradients of `vars` (the same order), at rate `lr`.
    pub fn step(&mut self, params: &mut [Tensor], vars: &[Var], grads: &Gradients, lr: f32) {
        self.step += 1;
        let n = params.len();
        for (i, (p, v)) in params.iter_mut().zip(vars).enumerate() {
            let Some(g) = grads.get(*v) else { continue };
            let dev = p.device().clone();
            match self.kind {
                OptimizerKind::Sgd { momentum, weight_decay, max_norm } => {
                    dev.sgd_momentum(p.storage_mut(), g.storage(), self.state[i].storage_mut(), lr, momentum, weight_decay);
                    if let (Some(c), &[rows, cols]) = (max_norm, &p.shape().to_vec()[..]) {
                        dev.max_norm_columns(rows, cols, p.storage_mut(), c);
                    }
                }
                OptimizerKind::Adam { beta1, beta2, eps, weight_decay } => {
                    let (m, v) = self.state.split_at_mut(n);
                    // Decay only weight matrices, not biases.
                    let wd = if p.shape().len() > 1 { weight_decay } else { 0.0 };
                    dev.adam(p.storage_mut(), g.storage(), m[i].storage_mut(), v[i].storage_mut(), lr, beta1, beta2, eps, self.step, wd);
                }
            }
        }
    }
}

/// How the learning rate moves over a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    Constant,
    /// Half a cosine from the base rate down to 1% of it, after a linear warm-up.
    Cosine {
        warmup_epochs: f32,
    },
    /// Multiply by `factor` every epoch.
    Exponential {
        factor: f32,
    },
}

impl Schedule {
    /// Parses `constant`, `cosine` or `exp:0.95`.
    pub fn parse(s: &str) -> Result<Self> {
        match s.split_once(':') {
            None if s == "constant" => Ok(Schedule::Constant),
            None if s == "cosine" => Ok(Schedule::Cosine { warmup_epochs: 1.0 }),
            Some(("exp", f)) => f
                .parse::<f32>()
                .ok()
                .filter(|f| *f > 0.0 && *f <= 1.0)
                .map(|factor| Schedule::Exponential { factor })
                .ok_or_else(|| Error::setting("schedule", s, "exp:F needs 0 < F <= 1")),
            _ => Err(Error::setting("schedule", s, "expected constant, cosine or exp:F")),
        }
    }

    /// The rate at `epoch` (fractional: epochs done so far) of `total` epochs.
    pub fn lr(&self, base: f32, epoch: f32, total: f32) -> f32 {
        match *self {
            Schedule::Constant => base,
            Schedule::Cosine { warmup_epochs } => {
                let warm = warmup_epochs.min(total / 4.0);
                if epoch < warm {
                    return base * (0.1 + 0.9 * epoch / warm);
                }
                let progress = ((epoch - warm) / (total - warm).max(1e-6)).clamp(0.0, 1.0);
                base * (0.01 + 0.99 * 0.5 * (1.0 + (std::f32::consts::PI * progress).cos()))
            }
            Schedule::Exponential { factor } => base * factor.powf(epoch.floor()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::Graph;
    use crate::backend::Device;

    #[test]
    fn schedules() {
        let c = Schedule::parse("cosine").unwrap();
        assert!((c.lr(0.1, 1.0, 10.0) - 0.1).abs() < 1e-6);
        assert!((c.lr(0.1, 10.0, 10.0) - 0.001).abs() < 1e-6);
        assert!(c.lr(0.1, 0.0, 10.0) < 0.02);
        assert_eq!(Schedule::parse("exp:0.5").unwrap().lr(1.0, 2.5, 10.0), 0.25);
        assert!(Schedule::parse("exp:2").is_err() && Schedule::parse("linear").is_err());
    }

    #[test]
    fn sgd_descends_a_quadratic() {
        let dev = Device::cpu();
        let mut params = vec![Tensor::from_slice(&dev, &[3, 2], &[1.0, -2.0, 3.0, 0.5, -1.0, 2.0])];
        let kinds = [
            OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
            OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 },
        ];
        for kind in kinds {
            let mut opt = Optimizer::new(kind, &params);
            let loss_of = |p: &Tensor| p.to_vec().iter().map(|v| v * v).sum::<f32>();
            let start = loss_of(&params[0]);
            for _ in 0..100 {
                let mut g = Graph::new(&dev, true, 0);
                let w = g.param(&params[0]);
                let sq = g.mul(w, w);
                let loss = g.sum(sq);
                let grads = g.backward(loss);
                drop(g);
                opt.step(&mut params, &[w], &grads, 0.05);
            }
            assert!(loss_of(&params[0]) < 1e-2 * start, "{kind:?}: {} from {start}", loss_of(&params[0]));
        }
    }
}
