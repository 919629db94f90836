//! `retort train`: a model on the labels (a teacher, or a baseline student).

use super::{check_outputs, load_data, open_device, print_result, run_files, trainer_for};
use crate::args::RunArgs;
use crate::output::Terminal;
use anyhow::Result;
use clap::Args;
use retort::kd::CrossEntropy;
use retort::nn::ModelSpec;
use retort::train::{Progress, fit};
use std::time::Instant;

#[derive(Args)]
pub struct TrainArgs {
    /// Model spec, such as mlp:784-1200-1200-10.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let spec = ModelSpec::parse(&a.model)?;
    let files = run_files(&a.run.hyper, &a.run.out);
    check_outputs(&a.run.hyper, &files, &[])?;
    let device = open_device(&a.run.common, false)?;
    let splits = load_data(&a.run.data)?;
    let mut progress = Terminal::new(false);
    let mut trainer = trainer_for(spec, Box::new(CrossEntropy), &device, &a.run.hyper, &a.run.out, &mut progress)?;
    progress.note(&format!("training {} ({} parameters) on {}", trainer.model.spec, trainer.model.param_count(), splits.source));
    let start = Instant::now();
    let done = fit(&mut trainer, &splits, None, Some(&files), "train", &mut progress)?;
    print_result(&trainer, &done.test, start.elapsed().as_secs_f64(), &a.run.out);
    Ok(())
}
