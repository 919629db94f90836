//! Command-line arguments.

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
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// constant, cosine (with a 1-epoch warm-up) or exp:F (times F each epoch).
    #[arg(long, default_value = "cosine")]
    pub schedule: String,
    /// sgd (with momentum) or adam (AdamW).
    #[arg(long, default_value = "sgd")]
    pub optimizer: String,
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    /// Cap on the L2 norm of each unit's incoming weights (SGD).
    #[arg(long)]
    pub max_norm: Option<f32>,
    /// Dropout after each hidden layer.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f32,
    /// Dropout on the inputs.
    #[arg(long, default_value_t = 0.0)]
    pub dropout_input: f32,
    /// Random shifts of up to this many pixels (Hinton's teacher used 2).
    #[arg(long, default_value_t = 0)]
    pub jitter: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Continue from the checkpoint at --out if there is one.
    #[arg(long)]
    pub resume: bool,
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

#[derive(Args)]
pub struct TrainArgs {
    /// Model spec, such as mlp:784-1200-1200-10.
    #[arg(long)]
    pub model: String,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct DistillArgs {
    /// The teacher's checkpoint.
    #[arg(long)]
    pub teacher: PathBuf,
    /// The student's spec, such as mlp:784-800-800-10.
    #[arg(long)]
    pub student: String,
    /// Softmax temperature of the soft targets (> 0).
    #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Weight of the soft term, in [0, 1].
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub alpha: f32,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// One distillation step: teacher forward; student forward, backward, update.
    Step {
        #[arg(long, default_value = "mlp:784-1200-1200-10")]
        teacher: String,
        #[arg(long, default_value = "mlp:784-800-800-10")]
        student: String,
        #[command(flatten)]
        bench: BenchArgs,
    },
    /// One training step on labels: forward, backward, update.
    Train {
        #[arg(long, default_value = "mlp:784-1200-1200-10")]
        model: String,
        /// Hidden dropout during the step.
        #[arg(long, default_value_t = 0.0)]
        dropout: f32,
        #[command(flatten)]
        bench: BenchArgs,
    },
    /// Each kernel alone: matmul (the MLP's shapes, 1024^3, 4096^3), softmax with temperature,
    /// the fused KD backward and its unfused twin; median time and GFLOP/s or GB/s.
    Kernels {
        /// Largest square matmul to time (1024 and 4096 are timed when at most this).
        #[arg(long, default_value_t = 4096)]
        max_dim: usize,
        /// Seconds to time each kernel for.
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Seconds to time for.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    #[arg(long)]
    pub json: bool,
    /// Then as many steps again with each op timed: where the step's time goes.
    #[arg(long)]
    pub profile: bool,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args)]
pub struct DemoArgs {
    /// The teacher's architecture.
    #[arg(long, default_value = "mlp:784-1200-1200-10")]
    pub teacher: String,
    /// The students' architecture.
    #[arg(long, default_value = "mlp:784-800-800-10")]
    pub student: String,
    /// Epochs for each student.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Epochs for the teacher (dropout and jitter make it learn slower and generalise better).
    #[arg(long, default_value_t = 30)]
    pub teacher_epochs: usize,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: Common,
}
