//! The subcommands: each parses and checks its settings, then drives the library.

use crate::args::{BenchCommand, Cli, Command, Common, DataArgs, DemoArgs, DistillArgs, EvalArgs, Hyper, TrainArgs};
use crate::report::{append_jsonl, decimal, epoch_bar, print_table};
use anyhow::{Context, Result, bail};
use retort::checkpoint;
use retort::data::{self, Splits};
use retort::distill::{EvalResult, KdConfig, Teacher, TrainConfig, Trainer, bench_step, evaluate};
use retort::nn::{Dropout, Model, ModelSpec};
use retort::optim::{OptimizerKind, Schedule};
use retort::{Device, DeviceChoice};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train(a),
        Command::Distill(a) => distill(a),
        Command::Eval(a) => eval(a),
        Command::Bench(b) => bench(b),
        Command::Demo(a) => demo(a),
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

/// A fresh trainer, or with `--resume` the one saved at `out`.
fn trainer_for(spec: ModelSpec, device: &Device, h: &Hyper, out: &Path) -> Result<Trainer> {
    let config = train_config(h)?;
    if h.resume && out.exists() {
        let ck = checkpoint::load(out, device, Some(&spec))?;
        let t = Trainer::resume(ck, config)?;
        eprintln!("resuming {} from epoch {}", out.display(), t.epoch);
        return Ok(t);
    }
    Ok(Trainer::new(Model::new(spec, device, h.seed), config)?)
}

/// Runs the remaining epochs: a progress bar per epoch, test errors after each, metrics to the
/// JSONL log and a checkpoint written atomically after each.
fn fit(
    trainer: &mut Trainer, splits: &Splits, teacher: Option<&Teacher>, out: Option<(&Path, &Path)>, label: &str, quiet: bool,
) -> Result<EvalResult> {
    let mut result = None;
    while trainer.epoch < trainer.config.epochs {
        let batches = splits.train.len().div_ceil(trainer.config.batch);
        let bar = epoch_bar(&format!("{label} {}/{}", trainer.epoch + 1, trainer.config.epochs), batches, quiet);
        let stats = trainer.train_epoch(&splits.train, teacher, |done, _, loss| {
            bar.set_position(done as u64);
            bar.set_message(format!("loss {loss:.4}"));
        })?;
        bar.finish_and_clear();
        let r = evaluate(&trainer.model, &splits.test, 1000)?;
        result = Some(r);
        if !quiet {
            eprintln!(
                "{label} epoch {:>3}/{}  loss {:.4}  lr {:.4}  test errors {:>5} ({:.2}%)  {:.1}s",
                stats.epoch,
                trainer.config.epochs,
                stats.loss,
                stats.lr,
                r.errors,
                100.0 * (1.0 - r.accuracy()),
                stats.seconds
            );
        }
        if let Some((ckpt, log)) = out {
            // The checkpoint first: a run killed between the two resumes from this epoch and
            // never logs an epoch twice.
            checkpoint::save(ckpt, &trainer.model, &trainer.optimizer.state, &trainer.checkpoint_metadata())?;
            append_jsonl(
                log,
                &json!({"model": label, "epoch": stats.epoch, "loss": decimal(stats.loss), "lr": decimal(stats.lr), "test_errors": r.errors, "test_n": r.n, "test_accuracy": r.accuracy(), "seconds": stats.seconds}),
            )?;
        }
    }
    // A resumed run with no epochs left is only evaluated.
    match result {
        Some(r) => Ok(r),
        None => Ok(evaluate(&trainer.model, &splits.test, 1000)?),
    }
}

/// The teacher for distilling with `config`: on unshifted images its logits of the training set
/// are computed once, up front, and read each epoch instead of running it on every batch.
fn teacher_for<'a>(model: &'a Model, kd: KdConfig, splits: &Splits, config: &TrainConfig, quiet: bool) -> Result<Teacher<'a>> {
    if config.jitter > 0 {
        return Ok(Teacher::live(model, kd));
    }
    let start = Instant::now();
    let bar = epoch_bar("teacher logits", splits.train.len().div_ceil(config.batch), quiet);
    let teacher = Teacher::precomputed(model, kd, &splits.train, config.batch, |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    if !quiet {
        eprintln!("teacher logits of the {} training examples computed once, in {:.1}s", splits.train.len(), start.elapsed().as_secs_f64());
    }
    Ok(teacher)
}

fn log_path(h: &Hyper, out: &Path) -> PathBuf {
    h.log.clone().unwrap_or_else(|| PathBuf::from(format!("{}.jsonl", out.display())))
}

fn train(a: TrainArgs) -> Result<()> {
    let spec = ModelSpec::parse(&a.model)?;
    let device = open_device(&a.run.common, false)?;
    let splits = load_data(&a.run.data)?;
    let mut trainer = trainer_for(spec, &device, &a.run.hyper, &a.run.out)?;
    eprintln!("training {} ({} parameters) on {}", trainer.model.spec, trainer.model.param_count(), splits.source);
    let start = Instant::now();
    let r = fit(&mut trainer, &splits, None, Some((&a.run.out, &log_path(&a.run.hyper, &a.run.out))), "train", false)?;
    println!(
        "{}: {} test errors of {} ({:.2}%), {:.1}s; saved {}",
        trainer.model.spec,
        r.errors,
        r.n,
        100.0 * (1.0 - r.accuracy()),
        start.elapsed().as_secs_f64(),
        a.run.out.display()
    );
    Ok(())
}

fn distill(a: DistillArgs) -> Result<()> {
    let kd = KdConfig::new(a.temperature, a.alpha)?;
    let spec = ModelSpec::parse(&a.student)?;
    let device = open_device(&a.run.common, false)?;
    let teacher = checkpoint::load(&a.teacher, &device, None)?.model;
    if teacher.spec.input_len() != spec.input_len() || teacher.spec.classes() != spec.classes() {
        bail!("teacher {} and student {} differ in inputs or classes", teacher.spec, spec);
    }
    let splits = load_data(&a.run.data)?;
    let mut trainer = trainer_for(spec, &device, &a.run.hyper, &a.run.out)?;
    eprintln!(
        "distilling {} into {} ({} parameters), T = {}, alpha = {}, on {}",
        teacher.spec,
        trainer.model.spec,
        trainer.model.param_count(),
        kd.temperature,
        kd.alpha,
        splits.source
    );
    let start = Instant::now();
    let teacher =
        if trainer.epoch < trainer.config.epochs { Some(teacher_for(&teacher, kd, &splits, &trainer.config, false)?) } else { None };
    let r = fit(&mut trainer, &splits, teacher.as_ref(), Some((&a.run.out, &log_path(&a.run.hyper, &a.run.out))), "distill", false)?;
    println!(
        "{}: {} test errors of {} ({:.2}%), {:.1}s; saved {}",
        trainer.model.spec,
        r.errors,
        r.n,
        100.0 * (1.0 - r.accuracy()),
        start.elapsed().as_secs_f64(),
        a.run.out.display()
    );
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    let device = open_device(&a.common, a.json)?;
    let model = checkpoint::load(&a.model, &device, None)?.model;
    let splits = load_data(&a.data)?;
    let r = evaluate(&model, &splits.test, a.batch)?;
    if a.json {
        println!(
            "{}",
            json!({"model": model.spec.to_string(), "errors": r.errors, "n": r.n, "accuracy": r.accuracy(), "device": device.kind()})
        );
    } else {
        println!("{}: {} test errors of {} ({:.2}% accuracy) on {}", model.spec, r.errors, r.n, 100.0 * r.accuracy(), splits.source);
    }
    Ok(())
}

fn bench(b: BenchCommand) -> Result<()> {
    let (teacher, student, dropout, args, what) = match b {
        BenchCommand::Kernels { max_dim, seconds, json, common } => return bench_kernels(max_dim, seconds, json, &common),
        BenchCommand::Step { teacher, student, bench } => {
            (Some(ModelSpec::parse(&teacher)?), ModelSpec::parse(&student)?, 0.0, bench, "distill step")
        }
        BenchCommand::Train { model, dropout, bench } => (None, ModelSpec::parse(&model)?, dropout, bench, "train step"),
    };
    if !(0.0..1.0).contains(&dropout) {
        bail!("dropout = {dropout}: must be in [0, 1)");
    }
    let device = open_device(&args.common, args.json)?;
    let r =
        bench_step(&device, teacher.as_ref(), &student, args.batch, Dropout { input: 0.0, hidden: dropout }, args.seconds, args.profile)?;
    if args.json {
        let profile = r.profile.as_ref().map(|(rows, step_ms)| {
            let ops: Vec<_> = rows
                .iter()
                .map(|o| json!({"op": o.op, "calls": o.calls, "forward_ms": o.forward_s * 1e3, "backward_ms": o.backward_s * 1e3}))
                .collect();
            json!({"step_ms": step_ms, "ops": ops})
        });
        println!(
            "{}",
            json!({"bench": what, "teacher": teacher.map(|t| t.to_string()), "student": student.to_string(), "batch": args.batch, "dropout": decimal(dropout), "samples_per_s": r.samples_per_s, "gflops": r.gflops, "median_step_ms": r.median_step_ms, "steps": r.steps, "device": device.kind(), "device_name": device.describe(), "profile": profile})
        );
    } else {
        let name = match &teacher {
            Some(t) => format!("{t} -> {student}"),
            None => student.to_string(),
        };
        println!(
            "{what} {name}, batch {}: {:.0} samples/s, {:.1} GFLOP/s, median step {:.2} ms over {} steps on {}",
            args.batch,
            r.samples_per_s,
            r.gflops,
            r.median_step_ms,
            r.steps,
            device.describe()
        );
        if let Some((rows, step_ms)) = &r.profile {
            print_profile(rows, *step_ms);
        }
    }
    Ok(())
}

/// The per-step op times, the most expensive first, with what the tape does not see.
fn print_profile(rows: &[retort::profile::OpTime], step_ms: f64) {
    println!("\nper step, {step_ms:.2} ms with each op timed:");
    let ms = |s: f64| format!("{:.3}", s * 1e3);
    let share = |s: f64| format!("{:.1}%", 100.0 * s * 1e3 / step_ms);
    let mut table = vec![["op [output shape]", "calls", "forward ms", "backward ms", "share"].map(String::from).to_vec()];
    table.extend(
        rows.iter().map(|o| vec![o.op.clone(), o.calls.to_string(), ms(o.forward_s), ms(o.backward_s), share(o.forward_s + o.backward_s)]),
    );
    let other = step_ms / 1e3 - rows.iter().map(|o| o.forward_s + o.backward_s).sum::<f64>();
    table.push(vec!["(outside the ops)".into(), String::new(), ms(other), String::new(), share(other)]);
    print_table(&table);
}

fn bench_kernels(max_dim: usize, seconds: f64, json: bool, common: &Common) -> Result<()> {
    let device = open_device(common, json)?;
    let timings = retort::kernel_bench::bench_kernels(&device, max_dim, seconds)?;
    if json {
        let kernels: Vec<_> = timings
            .iter()
            .map(|k| json!({"kernel": k.kernel, "shape": k.shape, "median_us": k.median_us, "gflops": k.gflops, "gbps": k.gbps}))
            .collect();
        println!("{}", json!({"device": device.kind(), "device_name": device.describe(), "timer": device.timer(), "kernels": kernels}));
        return Ok(());
    }
    let mut rows = vec![vec!["kernel".to_string(), "shape".into(), "median".into(), "rate".into()]];
    for k in &timings {
        let rate = match (k.gflops, k.gbps) {
            (Some(g), _) => format!("{g:.1} GFLOP/s"),
            (_, Some(b)) => format!("{b:.1} GB/s"),
            _ => String::new(),
        };
        rows.push(vec![k.kernel.clone(), k.shape.clone(), format!("{:.1} us", k.median_us), rate]);
    }
    print_table(&rows);
    println!("on {}, timed by {}", device.describe(), device.timer());
    Ok(())
}

/// The demo's recipe: Hinton et al.'s MNIST setup scaled to the embedded subset.
fn demo(a: DemoArgs) -> Result<()> {
    let device = open_device(&a.common, a.json)?;
    let splits = load_data(&a.data)?;
    let quiet = a.json;
    let teacher_spec = ModelSpec::parse(&a.teacher)?;
    let student_spec = ModelSpec::parse(&a.student)?;
    let kd = KdConfig::new(20.0, 0.9)?;
    let base = TrainConfig {
        epochs: a.epochs,
        batch: 128,
        lr: 0.05,
        schedule: Schedule::Cosine { warmup_epochs: 1.0 },
        optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
        dropout: Dropout::default(),
        jitter: 0,
        seed: 1,
    };
    if !quiet {
        eprintln!("demo on {}: teacher {} epochs, students {} epochs", splits.source, a.teacher_epochs, a.epochs);
    }
    let mut rows = vec![vec!["model".to_string(), "spec".into(), "params".into(), "test errors".into(), "seconds".into()]];
    let mut run = |label: &str, spec: &ModelSpec, config: TrainConfig, teacher: Option<&Model>| -> Result<(Model, EvalResult, f64)> {
        let start = Instant::now();
        let teacher = teacher.map(|t| teacher_for(t, kd, &splits, &config, quiet)).transpose()?;
        let mut t = Trainer::new(Model::new(spec.clone(), &device, config.seed), config)?;
        let r = fit(&mut t, &splits, teacher.as_ref(), None, label, quiet)?;
        let secs = start.elapsed().as_secs_f64();
        rows.push(vec![
            label.into(),
            spec.to_string(),
            t.model.param_count().to_string(),
            format!("{} / {}", r.errors, r.n),
            format!("{secs:.1}"),
        ]);
        Ok((t.model, r, secs))
    };
    let teacher_cfg = TrainConfig { epochs: a.teacher_epochs, dropout: Dropout { input: 0.2, hidden: 0.5 }, jitter: 2, ..base.clone() };
    let (teacher, tr, ts) = run("teacher", &teacher_spec, teacher_cfg, None).context("training the teacher")?;
    let (_, sr, ss) = run("student (labels)", &student_spec, base.clone(), None).context("training the student")?;
    let (_, dr, ds) = run("student (distilled)", &student_spec, base, Some(&teacher)).context("distilling the student")?;
    if a.json {
        println!(
            "{}",
            json!({"teacher_errors": tr.errors, "student_errors": sr.errors, "distilled_errors": dr.errors, "n": tr.n, "seconds": ts + ss + ds, "teacher_seconds": ts, "student_seconds": ss, "distilled_seconds": ds, "temperature": decimal(kd.temperature), "alpha": decimal(kd.alpha), "epochs": a.epochs, "teacher_epochs": a.teacher_epochs, "device": device.kind()})
        );
    } else {
        println!();
        print_table(&rows);
        println!(
            "\ndistillation T = {}, alpha = {}: the distilled student makes {} errors against {} on labels alone.",
            kd.temperature, kd.alpha, dr.errors, sr.errors
        );
    }
    Ok(())
}
