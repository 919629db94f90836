//! Decoupled KD (Zhao et al. 2022): the KD term split into its target part (TCKD) and its
//! non-target part (NCKD), weighed freely, beside cross-entropy on the labels:
//! `CE + t^2 (alpha TCKD + beta NCKD)`.

use super::{Batch, LossParts, Method, Needs, check_temperature, teacher_logits};
use crate::autograd::{Graph, Var};
use crate::error::{Error, Result};

/// DKD at `temperature`, with weights `alpha` (TCKD) and `beta` (NCKD).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dkd {
    pub temperature: f32,
    pub alpha: f32,
    pub beta: f32,
}

impl Dkd {
    /// Checks `t > 0` and finite, non-negative weights.
    pub fn new(temperature: f32, alpha: f32, beta: f32) -> Result<Self> {
        check_temperature(temperature)?;
        for (name, w) in [("alpha", alpha), ("beta", beta)] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(Error::setting(name, w, "must be finite and >= 0"));
            }
        }
        Ok(Dkd { temperature, alpha, beta })
    }
}

impl Method for Dkd {
    fn name(&self) -> &'static str {
        "dkd"
    }
    fn settings(&self) -> Vec<(&'static str, f32)> {
        vec![("temperature", self.temperature), ("alpha", self.alpha), ("beta", self.beta)]
    }
    fn needs(&self) -> Needs {
        Needs { teacher_logits: true, ..Needs::default() }
    }
    fn loss(&self, g: &mut Graph, batch: &Batch) -> Var {
        let zt = teacher_logits(g, batch, "dkd");
        let ce = g.cross_entropy(batch.student.logits, batch.labels);
        let dkd = g.dkd_loss(batch.student.logits, zt, batch.labels, self.temperature, self.alpha, self.beta);
        g.add(ce, dkd)
    }
    fn temperature(&self) -> Option<f32> {
        Some(self.temperature)
    }
    fn weigh(&self, parts: &LossParts) -> (f64, f64) {
        let t = self.temperature as f64;
        (t * t * (self.alpha as f64 * parts.tckd + self.beta as f64 * parts.nckd), parts.ce)
    }
}
