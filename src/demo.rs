//! The demo: Hinton et al.'s MNIST experiment scaled to the embedded subset. A teacher with
//! dropout and jitter, the student on the labels, the same student distilled, side by side.

use crate::backend::Device;
use crate::data::Splits;
use crate::error::Result;
use crate::kd::{self, CrossEntropy, Hinton, Method};
use crate::nn::{Dropout, Model, ModelSpec};
use crate::optim::{OptimizerKind, Schedule};
use crate::report::{self, ModelInfo, ReportHeader};
use crate::study::{self, InspectConfig};
use crate::train::{Progress, TrainConfig, Trainer, fit, teacher_for};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the demo trains.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    pub teacher: ModelSpec,
    pub student: ModelSpec,
    pub teacher_epochs: usize,
    /// Epochs of each student.
    pub epochs: usize,
}

/// One of the demo's three models.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoModel {
    pub label: String,
    pub spec: String,
    pub params: usize,
    pub errors: usize,
    pub n: usize,
    pub seconds: f64,
}

/// The demo's result: the three models and the distillation settings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoRecord {
    pub teacher: DemoModel,
    pub student: DemoModel,
    pub distilled: DemoModel,
    pub temperature: f32,
    pub alpha: f32,
    pub device: String,
}

/// The three trained models, beside the record.
pub struct DemoModels {
    pub teacher: Model,
    pub distilled: Model,
}

/// Writes the report on the demo's teacher and distilled student to `dir` (see
/// [`crate::study::inspect`]), at the distillation's T and alpha; returns the page's path.
pub fn report(models: &DemoModels, record: &DemoRecord, splits: &Splits, dir: &Path) -> Result<PathBuf> {
    let config = InspectConfig {
        temperatures: study::TEMPERATURES.to_vec(),
        temperature: record.temperature,
        alpha: record.alpha,
        examples_per_kind: 2,
    };
    let inspection = study::inspect(&models.teacher, Some(&models.distilled), &splits.test, &config)?;
    // The header's rows already say which is the teacher and which the (distilled) student.
    let info = |m: &DemoModel| ModelInfo { spec: m.spec.clone(), params: m.params, checkpoint: None };
    let header = ReportHeader { teacher: info(&record.teacher), student: Some(info(&record.distilled)), data: splits.source.clone() };
    report::write_inspection(dir, &inspection, &header)?;
    Ok(dir.join("report.html"))
}

/// Trains the teacher, the student on labels and the distilled student on `splits`.
pub fn run(config: &DemoConfig, device: &Device, splits: &Splits, progress: &mut dyn Progress) -> Result<(DemoRecord, DemoModels)> {
    let base = TrainConfig {
        epochs: config.epochs,
        batch: 128,
        lr: 0.05,
        schedule: Schedule::Cosine { warmup_epochs: 1.0 },
        optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
        dropout: Dropout::default(),
        jitter: 0,
        seed: 1,
    };
    let hinton = Hinton::new(kd::defaults::HINTON_TEMPERATURE, kd::defaults::HINTON_ALPHA)?;
    let mut run = |label: &str, spec: &ModelSpec, config: TrainConfig, method: Box<dyn Method>, teacher: Option<&Model>| {
        let start = Instant::now();
        let teacher = teacher.map(|t| teacher_for(t, method.as_ref(), &splits.train, &config, progress)).transpose()?;
        let mut trainer = Trainer::new(Model::new(spec.clone(), device, config.seed), method, config)?;
        let done = fit(&mut trainer, splits, teacher.as_ref(), None, label, progress)?;
        let model = DemoModel {
            label: label.into(),
            spec: spec.to_string(),
            params: trainer.model.param_count(),
            errors: done.test.errors,
            n: done.test.len(),
            seconds: start.elapsed().as_secs_f64(),
        };
        Result::Ok((model, trainer.model))
    };
    let teacher_config =
        TrainConfig { epochs: config.teacher_epochs, dropout: Dropout { input: 0.2, hidden: 0.5 }, jitter: 2, ..base.clone() };
    let (teacher, teacher_model) = run("teacher", &config.teacher, teacher_config, Box::new(CrossEntropy), None)?;
    let (student, _) = run("student (labels)", &config.student, base.clone(), Box::new(CrossEntropy), None)?;
    let (distilled, distilled_model) = run("student (distilled)", &config.student, base, Box::new(hinton), Some(&teacher_model))?;
    let record =
        DemoRecord { teacher, student, distilled, temperature: hinton.temperature, alpha: hinton.alpha, device: device.kind().into() };
    Ok((record, DemoModels { teacher: teacher_model, distilled: distilled_model }))
}
