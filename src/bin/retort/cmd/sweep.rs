//! `retort sweep`: a student distilled from one teacher at every (T, alpha, seed), resumable.

use super::{check_writable, load_data, open_device, parse_list, temperatures};
use crate::args::{Common, DataArgs};
use crate::output::Terminal;
use anyhow::Result;
use clap::Args;
use retort::checkpoint;
use retort::nn::{Dropout, ModelSpec};
use retort::optim::{OptimizerKind, Schedule};
use retort::report::write_sweep;
use retort::study::sweep::{SweepSettings, sweep};
use retort::train::TrainConfig;
use std::path::PathBuf;

#[derive(Args)]
pub struct SweepArgs {
    /// The teacher's checkpoint.
    #[arg(long)]
    pub teacher: PathBuf,
    /// The student's spec, such as mlp:784-800-800-10.
    #[arg(long)]
    pub student: String,
    /// Temperatures, comma-separated (1,2,4,8,20).
    #[arg(long)]
    pub temperatures: Option<String>,
    /// Weights of the soft term, comma-separated, each in [0, 1]; 0 is the student on the labels.
    #[arg(long, default_value = "0,0.5,0.9,1")]
    pub alphas: String,
    /// Seeds per cell.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Epochs of each run.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// Added to each run's seed (1 to --seeds).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The sweep's folder: sweep.json (its settings), runs.jsonl, summary.csv, report.html.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let splits = load_data(&a.data)?;
    let student = ModelSpec::parse(&a.student)?;
    let device = open_device(&a.common, false)?;
    let teacher = checkpoint::load(&a.teacher, &device, None)?.model;
    if teacher.spec.input_len() != student.input_len() || teacher.spec.classes() != student.classes() {
        anyhow::bail!("teacher {} and student {} differ in inputs or classes", teacher.spec, student);
    }
    let settings = SweepSettings {
        teacher: teacher.spec.to_string(),
        teacher_checkpoint: a.teacher.display().to_string(),
        student: student.to_string(),
        data: splits.source.clone(),
        temperatures: temperatures(a.temperatures.as_deref())?,
        alphas: parse_list("--alphas", &a.alphas)?,
        seeds: a.seeds,
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        base_seed: a.seed,
    };
    settings.validate()?;
    let config = TrainConfig {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        schedule: Schedule::Cosine { warmup_epochs: 1.0 },
        optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
        dropout: Dropout::default(),
        jitter: 0,
        seed: a.seed,
    };
    config.validate()?;
    check_writable(&a.out)?;
    let mut progress = Terminal::new(false);
    let runs = sweep(&settings, &teacher, &splits, &config, &a.out, &mut progress)?;
    let files = write_sweep(&a.out, &settings, &runs)?;
    println!("{} runs of {} finished; {}", runs.len(), settings.runs().len(), files.last().expect("the report").display());
    Ok(())
}
