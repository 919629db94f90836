//! Analyses over predictions: what a teacher's soft targets carry, and how closely a student
//! follows them. Each takes logits and labels (a model's [`Predictions`] on a data set) and
//! returns typed figures; [`crate::report`] draws them.

mod compare;
mod gradients;
pub mod reproduce;
pub mod sweep;
mod targets;

pub use compare::{ClassComparison, compare};
pub use gradients::{GradientSplit, gradient_split};
pub use targets::{EntropyCurve, Example, ExampleKind, SoftTargets, dark_knowledge, entropy_curve, soft_targets};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::Model;
use crate::train::{EVAL_BATCH, Predictions, evaluate};
use std::time::Instant;

/// The temperatures `inspect` and `sweep` look at unless told otherwise.
pub const TEMPERATURES: [f32; 5] = [1.0, 2.0, 4.0, 8.0, 20.0];

/// What `inspect` looks at.
#[derive(Clone, Debug, PartialEq)]
pub struct InspectConfig {
    /// Temperatures of the soft-target and entropy figures.
    pub temperatures: Vec<f32>,
    /// The temperature of the dark-knowledge matrix and of the gradient split.
    pub temperature: f32,
    /// The soft term's weight in the gradient split.
    pub alpha: f32,
    /// Examples of each kind in the soft-target figure.
    pub examples_per_kind: usize,
}

impl InspectConfig {
    /// Refuses temperatures that are not positive and finite, an alpha outside [0, 1].
    pub fn validate(&self) -> Result<()> {
        if self.temperatures.is_empty() {
            return Err(Error::setting("temperatures", "", "needs at least one temperature"));
        }
        for &t in self.temperatures.iter().chain([&self.temperature]) {
            if !(t > 0.0 && t.is_finite()) {
                return Err(Error::setting("temperature", t, "must be positive and finite"));
            }
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::setting("alpha", self.alpha, "must be in [0, 1]"));
        }
        Ok(())
    }
}

/// Everything `inspect` measured.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub config: InspectConfig,
    pub classes: usize,
    /// The test examples: their count, and each one's image size.
    pub examples: usize,
    pub example_dims: Vec<usize>,
    pub teacher_errors: usize,
    pub soft_targets: SoftTargets,
    pub entropy: EntropyCurve,
    /// `classes x classes`: for true class `i`, the teacher's mean probability on class `j` at
    /// the chosen temperature; the diagonal is left out (NaN).
    pub dark_knowledge: Vec<f64>,
    /// With a student.
    pub student: Option<StudentFigures>,
    pub seconds: f64,
}

/// The figures that need a student.
#[derive(Clone, Debug)]
pub struct StudentFigures {
    pub errors: usize,
    pub classes: ClassComparison,
    pub gradients: GradientSplit,
}

/// Runs both models over `data` and measures every figure.
pub fn inspect(teacher: &Model, student: Option<&Model>, data: &Dataset, config: &InspectConfig) -> Result<Inspection> {
    config.validate()?;
    if let Some(s) = student.filter(|s| s.spec.input_len() != teacher.spec.input_len() || s.spec.classes() != teacher.spec.classes()) {
        return Err(Error::Spec {
            spec: s.spec.to_string(),
            reason: format!("the student and the teacher {} differ in inputs or classes", teacher.spec),
        });
    }
    if data.is_empty() {
        return Err(Error::setting("data", "an empty test set", "has nothing to inspect"));
    }
    let start = Instant::now();
    let t = evaluate(teacher, data, EVAL_BATCH)?;
    let s: Option<Predictions> = student.map(|m| evaluate(m, data, EVAL_BATCH)).transpose()?;
    let student = s.as_ref().map(|s| StudentFigures {
        errors: s.errors,
        classes: compare(s, &t, &data.labels),
        gradients: gradient_split(s, &t, &data.labels, config.temperature, config.alpha),
    });
    Ok(Inspection {
        config: config.clone(),
        classes: t.classes,
        examples: t.len(),
        example_dims: data.example_dims.clone(),
        teacher_errors: t.errors,
        soft_targets: soft_targets(&t, data, &config.temperatures, config.examples_per_kind),
        entropy: entropy_curve(&t, &config.temperatures),
        dark_knowledge: dark_knowledge(&t, &data.labels, config.temperature),
        student,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Row-wise `softmax(z / t)` of one row of logits, in f64.
pub(crate) fn softmax_row(z: &[f32], t: f32) -> Vec<f64> {
    let max = z.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let e: Vec<f64> = z.iter().map(|&v| ((v as f64 - max) / t as f64).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}
