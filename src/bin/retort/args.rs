//! The command line: the subcommands, and the argument groups they share. Each subcommand's
//! own arguments live beside it in `cmd/`.

use crate::cmd::{
    bench::BenchCommand, demo::DemoArgs, distill::DistillArgs, eval::EvalArgs, inspect::InspectArgs, reproduce::ReproduceArgs,
    sweep::SweepArgs, train::TrainArgs,
};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "retort", version, about = "Knowledge distillation on hand-written tensor kernels")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model on the labels (a teacher, or a baseline student).
    Train(TrainArgs),
    /// Train a student on a teacher's soft targets mixed with the labels.
    Distill(DistillArgs),
    /// Test errors and accuracy of a checkpoint.
    Eval(EvalArgs),
    /// Throughput of training and distillation steps on synthetic data.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Teacher, student on labels, distilled student: on the embedded data, side by side.
    Demo(DemoArgs),
    /// What a teacher's soft targets carry and how a student follows them: one HTML report.
    Inspect(InspectArgs),
    /// Every (temperature, alpha, seed) distillation of a student from one teacher, resumable,
    /// with a report of test error and agreement over the grid.
    Sweep(SweepArgs),
    /// Reproduce a paper's experiment, each figure beside the paper's: hinton-mnist.
    Reproduce(ReproduceArgs),
}

#[derive(Args, Clone)]
pub struct Common {
    /// cpu, gpu or auto.
    #[arg(long, env = "RETORT_DEVICE", default_value = "cpu")]
    pub device: String,
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// Folder with train-images, train-labels, t10k-images, t10k-labels (IDX, raw or .gz).
    /// Default: the MNIST subset embedded in the binary.
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct Hyper {
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.05, allow_negative_numbers = true)]
    pub lr: f32,
    /// constant, cosine (with a 1-epoch warm-up) or exp:F (times F each epoch).
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// sgd (with momentum) or adam (AdamW).
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub momentum: f32,
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// Cap on the L2 norm of each unit's incoming weights (SGD).
    #[arg(long, allow_negative_numbers = true)]
    pub max_norm: Option<f32>,
    /// Dropout after each hidden layer.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub dropout: f32,
    /// Dropout on the inputs.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub dropout_input: f32,
    /// Random shifts of up to this many pixels (Hinton's teacher used 2).
    #[arg(long, default_value_t = 0)]
    pub jitter: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Continue from the checkpoint at --out if there is one.
    #[arg(long)]
    pub resume: bool,
    /// Replace a checkpoint (and its log) already at --out instead of refusing to.
    #[arg(long, conflicts_with = "resume")]
    pub force: bool,
    /// Per-epoch metrics, one JSON object a line (default: the checkpoint's path + .jsonl).
    #[arg(long)]
    pub log: Option<PathBuf>,
}

/// What a training run (train or distill) writes, reads, and how it trains.
#[derive(Args)]
pub struct RunArgs {
    /// Checkpoint to write (safetensors), after every epoch.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub hyper: Hyper,
    #[command(flatten)]
    pub common: Common,
}
