//! `retort eval`: a checkpoint's test errors.

use super::{load_data, open_device};
use crate::args::{Common, DataArgs};
use anyhow::Result;
use clap::Args;
use retort::checkpoint;
use retort::train::{EvalRecord, evaluate};
use std::path::PathBuf;

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// One JSON object instead of the line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(a: EvalArgs) -> Result<()> {
    let device = open_device(&a.common, a.json)?;
    let model = checkpoint::load(&a.model, &device, None)?.model;
    let splits = load_data(&a.data)?;
    let p = evaluate(&model, &splits.test, a.batch)?;
    let record =
        EvalRecord { model: model.spec.to_string(), errors: p.errors, n: p.len(), accuracy: p.accuracy(), device: device.kind().into() };
    if a.json {
        println!("{}", serde_json::to_string(&record)?);
    } else {
        println!(
            "{}: {} test errors of {} ({:.2}% accuracy) on {}",
            record.model,
            record.errors,
            record.n,
            100.0 * record.accuracy,
            splits.source
        );
    }
    Ok(())
}
