//! A grid of distillations: every (temperature, alpha, seed) of one student from one teacher,
//! the teacher's logits computed once and shared. alpha = 0 is the student on the labels alone,
//! where T plays no part: it runs once per seed, the baseline. Each finished run is appended to
//! `runs.jsonl` in the sweep's folder, so a sweep stopped at any point and started again with
//! the same settings redoes no finished run; `sweep.json` holds the settings, and a sweep started
//! on a folder with other settings is refused, naming the one that differs.

use crate::data::Splits;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::kd::{CrossEntropy, Hinton, Method};
use crate::nn::{Model, ModelSpec};
use crate::train::records::append_jsonl;
use crate::train::{EVAL_BATCH, Predictions, Progress, Teacher, TrainConfig, Trainer, evaluate, fidelity, fit};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// What a sweep runs: its grid and how each run trains. Saved as `sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepSettings {
    /// The teacher's spec and where its checkpoint was read from.
    pub teacher: String,
    pub teacher_checkpoint: String,
    pub student: String,
    pub data: String,
    pub temperatures: Vec<f32>,
    pub alphas: Vec<f32>,
    /// Seeds 1 to `seeds` (added to `train.seed`).
    pub seeds: u64,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub base_seed: u64,
}

impl SweepSettings {
    /// Refuses an empty or invalid grid.
    pub fn validate(&self) -> Result<()> {
        if self.temperatures.is_empty() || self.alphas.is_empty() {
            return Err(Error::setting("temperatures", "", "a sweep needs at least one temperature and one alpha"));
        }
        for &t in &self.temperatures {
            if !(t > 0.0 && t.is_finite()) {
                return Err(Error::setting("temperatures", t, "must be positive and finite"));
            }
        }
        for &a in &self.alphas {
            if !(0.0..=1.0).contains(&a) {
                return Err(Error::setting("alphas", a, "must be in [0, 1]"));
            }
        }
        if self.seeds == 0 {
            return Err(Error::setting("seeds", self.seeds, "must be at least 1"));
        }
        Ok(())
    }

    /// The runs of the grid, in order: the baselines (alpha = 0, once per seed), then every
    /// (alpha, T, seed).
    pub fn runs(&self) -> Vec<RunKey> {
        let sorted = |v: &[f32]| {
            let mut v = v.to_vec();
            v.sort_by(f32::total_cmp);
            v
        };
        let temperatures: Vec<Option<f32>> = sorted(&self.temperatures).into_iter().map(Some).collect();
        let mut runs = Vec::new();
        for alpha in sorted(&self.alphas) {
            // T plays no part at alpha = 0.
            for &temperature in if alpha == 0.0 { &[None][..] } else { &temperatures } {
                runs.extend((1..=self.seeds).map(|seed| RunKey { temperature, alpha, seed }));
            }
        }
        runs
    }

    /// The name of the first setting that differs from `other`'s.
    pub fn first_difference(&self, other: &SweepSettings) -> Option<String> {
        let (a, b) = (serde_json::to_value(self).expect("settings serialize"), serde_json::to_value(other).expect("settings serialize"));
        a.as_object()?.iter().find(|(name, value)| b.get(name.as_str()) != Some(*value)).map(|(name, _)| name.clone())
    }
}

/// One run of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunKey {
    /// `None` for the baseline on the labels.
    pub temperature: Option<f32>,
    pub alpha: f32,
    pub seed: u64,
}

/// A finished run, one line of `runs.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepRun {
    pub temperature: Option<f32>,
    pub alpha: f32,
    pub seed: u64,
    pub test_errors: usize,
    pub test_n: usize,
    /// Against the teacher on the test set: top-1 agreement and the mean KL at T = 1.
    pub agreement: f64,
    pub kl_t1: f64,
    /// The last epoch's weighted soft and hard terms (the baseline's soft term is 0).
    pub soft_loss: f64,
    pub hard_loss: f64,
    pub seconds: f64,
}

impl SweepRun {
    pub fn key(&self) -> RunKey {
        RunKey { temperature: self.temperature, alpha: self.alpha, seed: self.seed }
    }
}

/// The finished runs in `dir`'s log; a last line cut short by a kill is dropped from the file.
pub fn finished_runs(dir: &Path) -> Result<Vec<SweepRun>> {
    let path = dir.join("runs.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let mut runs = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<SweepRun>(line) {
            Ok(r) => runs.push(r),
            // Only the last line may be cut short: rewrite the log without it.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {
                let whole: String = lines[..i].iter().map(|l| format!("{l}\n")).collect();
                write_atomic(&path, whole.as_bytes())?;
            }
            Err(e) => return Err(Error::Log { path: path.clone(), line: i + 1, reason: e.to_string() }),
        }
    }
    Ok(runs)
}

/// Runs every run of `settings` not yet in `dir`, appending each to `dir/runs.jsonl`, with
/// `teacher` served from a table of its logits computed once. `progress` sees one stretch over
/// the whole sweep (in batches) and a note per finished run. Returns every finished run.
pub fn sweep(
    settings: &SweepSettings, teacher: &Model, splits: &Splits, config: &TrainConfig, dir: &Path, progress: &mut dyn Progress,
) -> Result<Vec<SweepRun>> {
    settings.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let saved = dir.join("sweep.json");
    match std::fs::read(&saved) {
        Ok(bytes) => {
            let before: SweepSettings = serde_json::from_slice(&bytes).map_err(|e| Error::Log {
                path: saved.clone(),
                line: 1,
                reason: format!("not a sweep's settings: {e}"),
            })?;
            if let Some(field) = settings.first_difference(&before) {
                return Err(Error::setting(
                    field_name(&field),
                    describe(settings, &field),
                    format!(
                        "differs from the sweep in {} ({}); use another --out, or the same settings to resume it",
                        dir.display(),
                        describe(&before, &field)
                    ),
                ));
            }
        }
        Err(_) => write_atomic(&saved, serde_json::to_string_pretty(settings).expect("settings serialize").as_bytes())?,
    }
    let mut runs = finished_runs(dir)?;
    let todo: Vec<RunKey> = settings.runs().into_iter().filter(|k| !runs.iter().any(|r| r.key() == *k)).collect();
    if todo.is_empty() {
        return Ok(runs);
    }
    let student = ModelSpec::parse(&settings.student)?;
    let table = Teacher::precomputed(teacher, &splits.train, config.batch, |_, _| {})?;
    let teacher_test = evaluate(teacher, &splits.test, EVAL_BATCH)?;
    let batches = splits.train.len().div_ceil(config.batch) * config.epochs;
    progress.start("sweep", todo.len() * batches);
    for (i, key) in todo.iter().enumerate() {
        let run = run_one(
            key,
            &student,
            &table,
            &teacher_test,
            splits,
            config,
            &mut Offset { outer: &mut *progress, offset: i * batches, epochs_done: 0, per_epoch: 0 },
        )?;
        append_jsonl(&dir.join("runs.jsonl"), &run)?;
        progress.note(&format!(
            "run {}/{}: T = {}, alpha = {}, seed {}: {} test errors, agreement {:.2}%, {:.1}s",
            i + 1,
            todo.len(),
            run.temperature.map_or("-".to_string(), |t| t.to_string()),
            run.alpha,
            run.seed,
            run.test_errors,
            100.0 * run.agreement,
            run.seconds
        ));
        runs.push(run);
    }
    progress.finish();
    Ok(runs)
}

fn run_one(
    key: &RunKey, student: &ModelSpec, teacher: &Teacher, teacher_test: &Predictions, splits: &Splits, config: &TrainConfig,
    progress: &mut dyn Progress,
) -> Result<SweepRun> {
    let start = Instant::now();
    let method: Box<dyn Method> = match key.temperature {
        Some(t) => Box::new(Hinton::new(t, key.alpha)?),
        None => Box::new(CrossEntropy),
    };
    let config = TrainConfig { seed: config.seed.wrapping_add(key.seed), ..config.clone() };
    let mut trainer = Trainer::new(Model::new(student.clone(), &teacher.model.params[0].device().clone(), config.seed), method, config)?;
    let served = key.temperature.map(|_| teacher);
    let done = fit(&mut trainer, splits, served, None, "sweep", progress)?;
    let last = done.records.last();
    let f = fidelity(&done.test, teacher_test, &splits.test.labels, 1.0);
    Ok(SweepRun {
        temperature: key.temperature,
        alpha: key.alpha,
        seed: key.seed,
        test_errors: done.test.errors,
        test_n: done.test.len(),
        agreement: f.agreement,
        kl_t1: f.kl_t1,
        soft_loss: last.and_then(|r| r.soft_loss).unwrap_or(0.0),
        hard_loss: last.and_then(|r| r.hard_loss).unwrap_or(last.map_or(0.0, |r| r.loss as f64)),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// A run's progress as part of the sweep's one stretch: its epochs' batches after the runs
/// before it.
struct Offset<'a> {
    outer: &'a mut dyn Progress,
    /// Batches of the sweep before this run.
    offset: usize,
    epochs_done: usize,
    per_epoch: usize,
}

impl Progress for Offset<'_> {
    fn start(&mut self, _label: &str, total: usize) {
        self.per_epoch = total;
    }
    fn batch(&mut self, done: usize, loss: f32) {
        self.outer.batch(self.offset + self.epochs_done * self.per_epoch + done, loss);
    }
    fn finish(&mut self) {
        self.epochs_done += 1;
    }
}

/// The command line's name of a setting.
fn field_name(field: &str) -> &str {
    match field {
        "teacher_checkpoint" => "teacher",
        "base_seed" => "seed",
        other => other,
    }
}

fn describe(s: &SweepSettings, field: &str) -> String {
    serde_json::to_value(s).expect("settings serialize")[field].to_string()
}

/// Mean and sample standard deviation over seeds of one cell of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepCell {
    pub temperature: Option<f32>,
    pub alpha: f32,
    pub runs: usize,
    pub mean_errors: f64,
    pub std_errors: f64,
    pub mean_agreement: f64,
    pub std_agreement: f64,
    pub mean_kl_t1: f64,
    pub std_kl_t1: f64,
}

/// The cells of `runs`, in the grid's order; a cell with one run has a deviation of 0.
pub fn summarize(runs: &[SweepRun]) -> Vec<SweepCell> {
    let mut keys: Vec<(Option<f32>, f32)> = Vec::new();
    for r in runs {
        if !keys.contains(&(r.temperature, r.alpha)) {
            keys.push((r.temperature, r.alpha));
        }
    }
    keys.sort_by(|a, b| (a.1, a.0.unwrap_or(0.0)).partial_cmp(&(b.1, b.0.unwrap_or(0.0))).unwrap());
    keys.into_iter()
        .map(|(temperature, alpha)| {
            let cell: Vec<&SweepRun> = runs.iter().filter(|r| r.temperature == temperature && r.alpha == alpha).collect();
            let stats = |f: &dyn Fn(&SweepRun) -> f64| mean_std(&cell.iter().map(|r| f(r)).collect::<Vec<_>>());
            let (mean_errors, std_errors) = stats(&|r| r.test_errors as f64);
            let (mean_agreement, std_agreement) = stats(&|r| r.agreement);
            let (mean_kl_t1, std_kl_t1) = stats(&|r| r.kl_t1);
            SweepCell {
                temperature,
                alpha,
                runs: cell.len(),
                mean_errors,
                std_errors,
                mean_agreement,
                std_agreement,
                mean_kl_t1,
                std_kl_t1,
            }
        })
        .collect()
}

/// The mean and the sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n.max(1.0);
    if values.len() < 2 {
        return (mean, 0.0);
    }
    (mean, (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt())
}
