//! Training on the labels alone: cross-entropy, the baseline every method is measured against.

use super::{Batch, LossParts, Method, Needs};
use crate::autograd::{Graph, Var};

/// Mean cross-entropy of the student's logits against the labels.
#[derive(Clone, Copy, Debug, Default)]
pub struct CrossEntropy;

impl Method for CrossEntropy {
    fn name(&self) -> &'static str {
        "ce"
    }
    fn settings(&self) -> Vec<(&'static str, f32)> {
        Vec::new()
    }
    fn needs(&self) -> Needs {
        Needs::default()
    }
    fn loss(&self, g: &mut Graph, batch: &Batch) -> Var {
        g.cross_entropy(batch.student.logits, batch.labels)
    }
    fn weigh(&self, parts: &LossParts) -> (f64, f64) {
        (0.0, parts.ce)
    }
}
