//! `retort distill`: a student on a teacher's outputs, by the method `--method` names.

use super::{check_outputs, load_data, open_device, print_result, run_files, trainer_for};
use crate::args::RunArgs;
use crate::output::Terminal;
use anyhow::{Result, bail};
use clap::Args;
use retort::checkpoint;
use retort::kd::{self, MethodSettings};
use retort::nn::ModelSpec;
use retort::train::{Progress, fit, teacher_for};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub struct DistillArgs {
    /// The teacher's checkpoint.
    #[arg(long)]
    pub teacher: PathBuf,
    /// The student's spec, such as mlp:784-800-800-10.
    #[arg(long)]
    pub student: String,
    /// hinton (soft targets mixed with the labels) or dkd (decoupled KD: CE + t^2 (alpha TCKD
    /// + beta NCKD)); ce trains on the labels alone.
    #[arg(long, default_value = "hinton")]
    pub method: String,
    /// Softmax temperature of the soft targets, > 0 (hinton: 20, dkd: 4).
    #[arg(long, allow_negative_numbers = true)]
    pub temperature: Option<f32>,
    /// hinton: the weight of the soft term, in [0, 1] (0.9). dkd: the weight of TCKD (1).
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f32>,
    /// dkd: the weight of NCKD (8).
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f32>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(a: DistillArgs) -> Result<()> {
    let method = kd::method(&a.method, MethodSettings { temperature: a.temperature, alpha: a.alpha, beta: a.beta })?;
    let spec = ModelSpec::parse(&a.student)?;
    let files = run_files(&a.run.hyper, &a.run.out);
    check_outputs(&a.run.hyper, &files, &[&a.teacher])?;
    let device = open_device(&a.run.common, false)?;
    let teacher = checkpoint::load(&a.teacher, &device, None)?.model;
    if teacher.spec.input_len() != spec.input_len() || teacher.spec.classes() != spec.classes() {
        bail!("teacher {} and student {} differ in inputs or classes", teacher.spec, spec);
    }
    let splits = load_data(&a.run.data)?;
    let mut progress = Terminal::new(false);
    let mut trainer = trainer_for(spec, method, &device, &a.run.hyper, &a.run.out, &mut progress)?;
    let settings: Vec<String> = trainer.method.settings().iter().map(|(k, v)| format!("{k} = {v}")).collect();
    progress.note(&format!(
        "distilling {} into {} ({} parameters) by {} ({}) on {}",
        teacher.spec,
        trainer.model.spec,
        trainer.model.param_count(),
        trainer.method.name(),
        settings.join(", "),
        splits.source
    ));
    let start = Instant::now();
    let served = if trainer.epoch < trainer.config.epochs && trainer.method.needs().teacher_logits {
        Some(teacher_for(&teacher, trainer.method.as_ref(), &splits.train, &trainer.config, &mut progress)?)
    } else {
        None
    };
    let done = fit(&mut trainer, &splits, served.as_ref(), Some(&files), "distill", &mut progress)?;
    print_result(&trainer, &done.test, start.elapsed().as_secs_f64(), &a.run.out);
    Ok(())
}
