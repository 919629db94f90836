//! One file per subcommand: each parses its settings, calls the library, and prints.

pub mod bench;
pub mod demo;
pub mod distill;
pub mod eval;
pub mod inspect;
pub mod reproduce;
pub mod sweep;
pub mod train;

use crate::args::{Cli, Command, Common, DataArgs, Hyper};
use crate::output::Terminal;
use anyhow::{Context, Result};
use retort::checkpoint;
use retort::data::{self, Splits};
use retort::kd::Method;
use retort::nn::{Dropout, Model, ModelSpec};
use retort::optim::{OptimizerKind, Schedule};
use retort::train::{Progress, RunFiles, TrainConfig, Trainer};
use retort::{Device, DeviceChoice};
use std::path::{Path, PathBuf};

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Distill(a) => distill::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Bench(b) => bench::run(b),
        Command::Demo(a) => demo::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Reproduce(a) => reproduce::run(a),
    }
}

/// Opens the chosen device and says which it is on stderr.
fn open_device(common: &Common, quiet: bool) -> Result<Device> {
    let (device, note) = Device::open(common.device.parse::<DeviceChoice>()?)?;
    if let Some(note) = note {
        eprintln!("note: {note}");
    }
    if !quiet {
        eprintln!("device: {}", device.describe());
    }
    Ok(device)
}

fn load_data(args: &DataArgs) -> Result<Splits> {
    Ok(match &args.data {
        Some(dir) => data::load_dir(dir)?,
        None => data::embedded(),
    })
}

fn train_config(h: &Hyper) -> Result<TrainConfig> {
    let config = TrainConfig {
        epochs: h.epochs,
        batch: h.batch,
        lr: h.lr,
        schedule: Schedule::parse(&h.schedule)?,
        optimizer: OptimizerKind::parse(&h.optimizer, h.momentum, h.weight_decay, h.max_norm)?,
        dropout: Dropout { input: h.dropout_input, hidden: h.dropout },
        jitter: h.jitter,
        seed: h.seed,
    };
    config.validate()?;
    Ok(config)
}

/// A fresh trainer of `spec` under `method`, or with `--resume` the one saved at `out`.
fn trainer_for(
    spec: ModelSpec, method: Box<dyn Method>, device: &Device, h: &Hyper, out: &Path, progress: &mut Terminal,
) -> Result<Trainer> {
    let config = train_config(h)?;
    if h.resume && out.exists() {
        let ck = checkpoint::load(out, device, Some(&spec))?;
        let t = Trainer::resume(ck, method, config)?;
        progress.note(&format!("resuming {} from epoch {}", out.display(), t.epoch));
        return Ok(t);
    }
    Ok(Trainer::new(Model::new(spec, device, h.seed), method, config)?)
}

/// Refuses, before any work, outputs that would destroy what the user has: a checkpoint or log
/// already there unless resumed (`--resume`) or replaced (`--force`), an output that is one of
/// `inputs`, anything but a regular file, a log that is not this run's, a folder that cannot
/// be written.
fn check_outputs(h: &Hyper, files: &RunFiles, inputs: &[&Path]) -> Result<()> {
    let same = |a: &Path, b: &Path| a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
    if same(&files.checkpoint, &files.log) {
        anyhow::bail!("--log {} is the checkpoint itself; name another file", files.log.display());
    }
    for input in inputs {
        for (flag, output) in [("--out", &files.checkpoint), ("--log", &files.log)] {
            if same(input, output) {
                anyhow::bail!("{flag} {} is also an input of this run; write to another file", output.display());
            }
        }
    }
    for path in [&files.checkpoint, &files.log] {
        retort::files::check_regular(path)?;
    }
    if files.checkpoint.exists() {
        if !h.resume && !h.force {
            anyhow::bail!("{}: a checkpoint is already there; --resume continues it, --force replaces it", files.checkpoint.display());
        }
        // --force replaces a checkpoint, never another kind of file.
        if h.force && checkpoint::load(&files.checkpoint, &Device::cpu(), None).is_err() {
            anyhow::bail!("{}: not a Retort checkpoint; refusing to replace it, even with --force", files.checkpoint.display());
        }
    }
    if files.log.exists() {
        check_log(&files.log)?;
        if !h.force && !h.resume {
            anyhow::bail!("{}: a log is already there; --resume continues its run, --force replaces it", files.log.display());
        }
    }
    check_writable(files.checkpoint.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
}

/// Refuses a file to append epoch records to that holds anything else (a last line cut short
/// by a kill is allowed: the next record replaces it).
fn check_log(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    let not_a_log = |line: usize| anyhow::anyhow!("{}, line {line}: not an epoch record; --log must name this run's log", path.display());
    let text = std::str::from_utf8(&bytes).map_err(|_| not_a_log(1))?;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let record = serde_json::from_str::<retort::train::EpochRecord>(line.trim_end()).is_ok();
        // Only the last line may be cut short, and it still starts as a record does.
        let cut = !line.ends_with('\n') && line.starts_with('{');
        if !record && !cut {
            return Err(not_a_log(i + 1));
        }
    }
    Ok(())
}

/// The checkpoint at `out` and its log (`--log`, or the checkpoint's path + `.jsonl`).
fn run_files(h: &Hyper, out: &Path) -> RunFiles {
    let log = h.log.clone().unwrap_or_else(|| PathBuf::from(format!("{}.jsonl", out.display())));
    // --force replaces a log only once this run has a record to put in it (see check_outputs).
    let replace_log = h.force && log.exists();
    RunFiles { checkpoint: out.to_path_buf(), log, replace_log }
}

/// The closing line of a training run.
fn print_result(trainer: &Trainer, test: &retort::train::Predictions, seconds: f64, out: &Path) {
    println!(
        "{}: {} test errors of {} ({:.2}%), {seconds:.1}s; saved {}",
        trainer.model.spec,
        test.errors,
        test.len(),
        100.0 * (1.0 - test.accuracy()),
        out.display()
    );
}

/// Refuses an output folder that cannot be written, before any work.
pub(crate) fn check_writable(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create the report's folder", dir.display()))?;
    let probe = dir.join(format!(".retort-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").with_context(|| format!("{}: cannot write the report there", dir.display()))?;
    std::fs::remove_file(&probe).with_context(|| probe.display().to_string())?;
    Ok(())
}

/// `--temperatures`, or [`retort::study::TEMPERATURES`] when not given.
pub(crate) fn temperatures(list: Option<&str>) -> Result<Vec<f32>> {
    list.map_or(Ok(retort::study::TEMPERATURES.to_vec()), |l| parse_list("--temperatures", l))
}

/// A comma-separated list of numbers, such as `--temperatures 1,2,4`; temperatures must be
/// positive, other lists are checked where they are used.
pub(crate) fn parse_list(flag: &str, list: &str) -> Result<Vec<f32>> {
    list.split(',')
        .map(|item| {
            let v: f32 = item.trim().parse().with_context(|| format!("{flag}: `{item}` is not a number"))?;
            if flag == "--temperatures" && !(v > 0.0 && v.is_finite()) {
                anyhow::bail!("{flag}: {v} must be positive and finite");
            }
            Ok(v)
        })
        .collect()
}
