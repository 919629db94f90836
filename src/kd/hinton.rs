//! Hinton, Vinyals and Dean (2015): the soft targets at temperature `t` mixed with the labels,
//! `alpha t^2 KL(pt || ps) + (1 - alpha) CE`, through the fused KD kernel.

use super::{Batch, LossParts, Method, Needs, check_temperature, teacher_logits};
use crate::autograd::{Graph, Var};
use crate::error::{Error, Result};

/// Hinton KD at `temperature`, `alpha` the weight of the soft term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hinton {
    pub temperature: f32,
    pub alpha: f32,
}

impl Hinton {
    /// Checks `t > 0` and `alpha` in [0, 1].
    pub fn new(temperature: f32, alpha: f32) -> Result<Self> {
        check_temperature(temperature)?;
        if !(0.0..=1.0).contains(&alpha) {
            return Err(Error::setting("alpha", alpha, "must be in [0, 1]"));
        }
        Ok(Hinton { temperature, alpha })
    }
}

impl Method for Hinton {
    fn name(&self) -> &'static str {
        "hinton"
    }
    fn settings(&self) -> Vec<(&'static str, f32)> {
        vec![("temperature", self.temperature), ("alpha", self.alpha)]
    }
    fn needs(&self) -> Needs {
        Needs { teacher_logits: true, ..Needs::default() }
    }
    fn loss(&self, g: &mut Graph, batch: &Batch) -> Var {
        let zt = teacher_logits(g, batch, "hinton");
        g.kd_loss(batch.student.logits, zt, batch.labels, self.temperature, self.alpha)
    }
    fn temperature(&self) -> Option<f32> {
        Some(self.temperature)
    }
    fn weigh(&self, parts: &LossParts) -> (f64, f64) {
        let (t, alpha) = (self.temperature as f64, self.alpha as f64);
        (alpha * t * t * parts.kl, (1.0 - alpha) * parts.ce)
    }
}
