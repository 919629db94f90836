//! `retort bench`: step and kernel throughput on synthetic data.

use super::{check_writable, open_device};
use crate::args::Common;
use crate::output::print_table;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use retort::kernel_bench::bench_kernels;
use retort::nn::{Dropout, ModelSpec};
use retort::pytorch_figures::read_pytorch_figures;
use retort::report::write_kernel_report;
use retort::train::records::ProfileRecord;
use retort::train::{BenchOptions, bench_step};
use std::path::{Path, PathBuf};

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
    /// Each kernel alone against the machine's limits measured in the same run: matmul (the
    /// MLP's shapes, 1024^3, 4096^3) against the FMA peak of each vector width; softmax with
    /// temperature and the fused KD pass (and its composed twin) against the time to move their
    /// bytes.
    Kernels {
        /// Largest square matmul to time (1024 and 4096 are timed when at most this).
        #[arg(long, default_value_t = 4096)]
        max_dim: usize,
        /// Seconds to time each kernel for.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        seconds: f64,
        #[arg(long)]
        json: bool,
        /// Also write a report to this folder: report.html (each kernel's share of its limit,
        /// the GEMMs on the roofline) and kernels.csv.
        #[arg(long)]
        report: Option<PathBuf>,
        /// PyTorch's figures for the report to set beside ours: the JSON lines of
        /// `scripts/pytorch_bench.py softmax kd matmul`.
        #[arg(long, requires = "report")]
        pytorch: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Seconds to time for.
    #[arg(long, default_value_t = 3.0, allow_negative_numbers = true)]
    pub seconds: f64,
    #[arg(long)]
    pub json: bool,
    /// Then as many steps again with each op timed: where the step's time goes.
    #[arg(long)]
    pub profile: bool,
    /// Without the training guard's read of the loss every step: to measure what it costs.
    #[arg(long)]
    pub no_guard: bool,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(b: BenchCommand) -> Result<()> {
    let (teacher, student, dropout, args, what) = match b {
        BenchCommand::Kernels { seconds, .. } if !(0.0..=3600.0).contains(&seconds) => bail!("seconds = {seconds}: must be in [0, 3600]"),
        BenchCommand::Kernels { max_dim, seconds, json, report, pytorch, common } => {
            return kernels(max_dim, seconds, json, report.as_deref(), pytorch.as_deref(), &common);
        }
        BenchCommand::Step { teacher, student, bench } => {
            (Some(ModelSpec::parse(&teacher)?), ModelSpec::parse(&student)?, 0.0, bench, "distill step")
        }
        BenchCommand::Train { model, dropout, bench } => (None, ModelSpec::parse(&model)?, dropout, bench, "train step"),
    };
    if !(0.0..1.0).contains(&dropout) {
        bail!("dropout = {dropout}: must be in [0, 1)");
    }
    if !(0.0..=3600.0).contains(&args.seconds) || args.batch == 0 {
        bail!("seconds = {}, batch = {}: seconds must be in [0, 3600], batch at least 1", args.seconds, args.batch);
    }
    let device = open_device(&args.common, args.json)?;
    let r = bench_step(
        &device,
        teacher.as_ref(),
        &student,
        args.batch,
        Dropout { input: 0.0, hidden: dropout },
        BenchOptions { seconds: args.seconds, profile: args.profile, guard: !args.no_guard },
    )?;
    let record = r.record(what, teacher.as_ref(), &student, args.batch, dropout, &device);
    if args.json {
        println!("{}", serde_json::to_string(&record)?);
        return Ok(());
    }
    let name = match &record.teacher {
        Some(t) => format!("{t} -> {student}"),
        None => student.to_string(),
    };
    println!(
        "{what} {name}, batch {}: {:.0} samples/s, {:.1} GFLOP/s, median step {:.2} ms over {} steps on {}",
        args.batch, record.samples_per_s, record.gflops, record.median_step_ms, record.steps, record.device_name
    );
    if let Some(profile) = &record.profile {
        print_profile(profile);
    }
    Ok(())
}

/// The per-step op times, the most expensive first, with what the tape does not see.
fn print_profile(p: &ProfileRecord) {
    println!("\nper step, {:.2} ms with each op timed:", p.step_ms);
    let ms = |v: f64| format!("{v:.3}");
    let share = |v: f64| format!("{:.1}%", 100.0 * v / p.step_ms);
    let mut table = vec![["op [output shape]", "calls", "forward ms", "backward ms", "share"].map(String::from).to_vec()];
    table.extend(
        p.ops
            .iter()
            .map(|o| vec![o.op.clone(), o.calls.to_string(), ms(o.forward_ms), ms(o.backward_ms), share(o.forward_ms + o.backward_ms)]),
    );
    let other = p.step_ms - p.ops.iter().map(|o| o.forward_ms + o.backward_ms).sum::<f64>();
    table.push(vec!["(outside the ops)".into(), String::new(), ms(other), String::new(), share(other)]);
    print_table(&table);
    if p.gemms.is_empty() {
        return;
    }
    println!("\nthe step's GEMMs, in the step and alone (random operands, this run), caches warm and cold:");
    let mut table = vec![["matmul, m x k x n", "calls", "in the step", "alone", "step / alone", "alone, cold"].map(String::from).to_vec()];
    for g in &p.gemms {
        let op = |t: bool, name: &str| if t { format!(" {name}^T") } else { String::new() };
        table.push(vec![
            format!("matmul{}{} {}x{}x{}", op(g.trans_a, "A"), op(g.trans_b, "B"), g.m, g.k, g.n),
            g.calls.to_string(),
            format!("{:.1} GFLOP/s", g.in_step_gflops),
            format!("{:.1} GFLOP/s", g.alone_gflops),
            format!("{:.0}%", 100.0 * g.in_step_gflops / g.alone_gflops),
            g.cold_gflops.map_or(String::new(), |c| format!("{c:.1} GFLOP/s")),
        ]);
    }
    print_table(&table);
}

fn kernels(max_dim: usize, seconds: f64, json: bool, report: Option<&Path>, pytorch: Option<&Path>, common: &Common) -> Result<()> {
    // Both checked before anything is timed.
    let pytorch = pytorch.map(read_pytorch_figures).transpose()?;
    if let Some(dir) = report {
        check_writable(dir)?;
    }
    let device = open_device(common, json)?;
    let record = bench_kernels(&device, max_dim, seconds)?;
    let page = match report {
        Some(dir) => {
            let command: Vec<String> = std::iter::once("retort".to_string()).chain(std::env::args().skip(1)).collect();
            write_kernel_report(dir, &record, &command.join(" "), pytorch.as_ref())?.pop()
        }
        None => None,
    };
    if json {
        // The page's path on stderr: stdout is the record alone.
        if let Some(page) = page {
            eprintln!("report: {}", page.display());
        }
        println!("{}", serde_json::to_string(&record)?);
        return Ok(());
    }
    let mut rows = vec![["kernel", "shape", "median", "rate", "of roofline", "path"].map(String::from).to_vec()];
    for k in &record.kernels {
        let rate = match (k.gflops, k.gbps) {
            (Some(g), _) => format!("{g:.1} GFLOP/s"),
            (_, Some(b)) => format!("{b:.1} GB/s"),
            _ => String::new(),
        };
        let share = k.percent_of_roofline.map_or(String::new(), |p| format!("{p:.0}%"));
        rows.push(vec![k.kernel.clone(), k.shape.clone(), format!("{:.1} us", k.median_us), rate, share, k.path.clone()]);
    }
    print_table(&rows);
    for p in &record.fma_peaks {
        println!("FMA peak, {}: {:.1} GFLOP/s (measured in this run)", p.path, p.gflops);
    }
    println!("on {}, timed by {}", record.device_name, record.timer);
    if let Some(page) = page {
        println!("report: {}", page.display());
    }
    Ok(())
}
