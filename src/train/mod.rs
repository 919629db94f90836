//! The training loop, shared by every method: a [`Trainer`] (the student, the method and the
//! optimizer), epochs over a data set with the teacher's outputs when the method needs them,
//! evaluation that returns predictions ([`evaluate`]), typed records written as JSONL and read
//! back ([`records`]), and step benchmarks ([`bench_step`]).

mod bench;
mod eval;
pub mod records;
mod teacher;

pub use bench::{BenchOptions, BenchResult, bench_step};
pub use eval::{Predictions, evaluate, fidelity};
pub use records::{EpochRecord, EvalRecord, Fidelity, append_jsonl, drop_unsaved_epoch, read_jsonl};
pub use teacher::Teacher;

use crate::autograd::Graph;
use crate::backend::Device;
use crate::checkpoint::{self, Checkpoint};
use crate::data::{Dataset, Splits, shuffled};
use crate::error::{Error, Result};
use crate::kd::{Batch, LossParts, Method, TeacherOutputs};
use crate::nn::{Dropout, Model, ModelSpec, init_params};
use crate::optim::{Optimizer, OptimizerKind, Schedule};
use crate::tensor::{Labels, Tensor};
use retort_kernels::kd_parts::{CE, KL, NCKD, PARTS, TCKD};
use retort_kernels::rng::Rng;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

/// Training steps between reads of the running loss (each read waits for a GPU).
const LOSS_READ_EVERY: usize = 16;

/// Examples per evaluation batch.
pub const EVAL_BATCH: usize = 1000;
/// How to train: schedule, optimizer, regularisation, seed.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub schedule: Schedule,
    pub optimizer: OptimizerKind,
    pub dropout: Dropout,
    /// Random shifts of up to this many pixels each way (0: none).
    pub jitter: usize,
    pub seed: u64,
}

impl TrainConfig {
    /// The settings a resumed run must keep, by option name, as they are written in a
    /// checkpoint's metadata (`retort.setting.<name>`); `epochs` may grow.
    pub fn resumable_settings(&self) -> Vec<(&'static str, String)> {
        let mut settings = vec![
            ("batch", self.batch.to_string()),
            ("lr", self.lr.to_string()),
            ("schedule", format!("{:?}", self.schedule)),
            ("optimizer", self.optimizer.name().to_string()),
        ];
        let weight_decay = match self.optimizer {
            OptimizerKind::Sgd { momentum, weight_decay, max_norm } => {
                settings.push(("momentum", momentum.to_string()));
                settings.push(("max-norm", max_norm.map_or("none".into(), |m| m.to_string())));
                weight_decay
            }
            OptimizerKind::Adam { weight_decay, .. } => weight_decay,
        };
        settings.extend([
            ("weight-decay", weight_decay.to_string()),
            ("dropout-input", self.dropout.input.to_string()),
            ("dropout", self.dropout.hidden.to_string()),
            ("jitter", self.jitter.to_string()),
            ("seed", self.seed.to_string()),
        ]);
        settings
    }

    /// Refuses settings that cannot train.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::setting("epochs", self.epochs, "must be at least 1"));
        }
        if self.batch == 0 {
            return Err(Error::setting("batch", self.batch, "must be at least 1"));
        }
        // Any positive step is a setting someone may try; one that makes training diverge is
        // stopped by the guard, which names where.
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::setting("lr", self.lr, "must be positive and finite"));
        }
        for (name, p) in [("dropout-input", self.dropout.input), ("dropout", self.dropout.hidden)] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::setting(name, p, "must be in [0, 1)"));
            }
        }
        let weight_decay = match self.optimizer {
            OptimizerKind::Sgd { momentum, weight_decay, max_norm } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(Error::setting("momentum", momentum, "must be in [0, 1)"));
                }
                if let Some(m) = max_norm.filter(|m| !(*m > 0.0 && m.is_finite())) {
                    return Err(Error::setting("max-norm", m, "must be positive and finite"));
                }
                weight_decay
            }
            OptimizerKind::Adam { weight_decay, .. } => weight_decay,
        };
        if !(0.0..1.0).contains(&weight_decay) {
            return Err(Error::setting("weight-decay", weight_decay, "must be in [0, 1)"));
        }
        Ok(())
    }
}

/// A student being trained: its model, the method whose loss it follows (and the method's own
/// parameters), the optimizer over both, and how far it got.
pub struct Trainer {
    pub model: Model,
    pub method: Box<dyn Method>,
    /// The method's parameters, in [`Method::param_shapes`] order.
    pub method_params: Vec<Tensor>,
    pub optimizer: Optimizer,
    pub config: TrainConfig,
    /// Epochs completed.
    pub epoch: usize,
    /// Stop at the first non-finite loss (see [`Trainer::step`]); on unless turned off to
    /// measure what it costs.
    pub guard: bool,
    /// The fingerprint of the training set ([`Dataset::fingerprint`]) this model trains on:
    /// set by the first epoch, or by the checkpoint a run resumes.
    pub data: Option<String>,
}

/// What one epoch did.
#[derive(Clone, Debug)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f32,
    pub lr: f32,
    pub seconds: f64,
    /// With a teacher: the mean parts of the KD loss over the epoch's batches, at the method's T.
    pub parts: Option<LossParts>,
}

/// What a training step leaves on the device: the batch's loss and the student's logits.
pub struct StepOutput {
    pub loss: Tensor,
    pub logits: Tensor,
}

/// Checkpoint names of a method's parameters: `method.<name>`.
const METHOD_PREFIX: &str = "method.";

impl Trainer {
    /// A fresh run of `model` under `method`; the method's parameters start from `config.seed`.
    pub fn new(model: Model, method: Box<dyn Method>, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        model.check_taps(&method.needs().student_activations)?;
        let device = model.params[0].device().clone();
        let method_params = init_params(&method.param_shapes(), &device, config.seed ^ 0x6d65_7468);
        let all: Vec<Tensor> = model.params.iter().chain(&method_params).cloned().collect();
        let optimizer = Optimizer::new(config.optimizer, &all);
        Ok(Trainer { model, method, method_params, optimizer, config, epoch: 0, guard: true, data: None })
    }

    /// Continues from a checkpoint written after an epoch of this run.
    pub fn resume(ck: Checkpoint, method: Box<dyn Method>, config: TrainConfig) -> Result<Self> {
        let mut t = Trainer::new(ck.model, method, config)?;
        let get = |k: &str| ck.metadata.get(k).and_then(|v| v.parse::<u64>().ok());
        t.epoch = get("retort.epoch").unwrap_or(0) as usize;
        // A resumed run is the same run: any setting changed would make it another, silently.
        let method_settings = t.method.settings().into_iter().map(|(k, v)| (k, format!("method.{k}"), v.to_string()));
        let settings = t.config.resumable_settings().into_iter().map(|(k, v)| (k, format!("setting.{k}"), v));
        for (name, key, value) in settings.chain(method_settings) {
            if let Some(saved) = ck.metadata.get(&format!("retort.{key}")).filter(|s| **s != value) {
                return Err(Error::setting(
                    name,
                    value,
                    format!("differs from the checkpoint's {saved}; a resumed run keeps its settings"),
                ));
            }
        }
        if let Some(saved) = ck.metadata.get("retort.method").filter(|m| *m != t.method.name()) {
            return Err(Error::setting("method", t.method.name(), format!("differs from the checkpoint's {saved}")));
        }
        t.data = ck.metadata.get("retort.data").cloned();
        for ((name, shape), p) in t.method.param_shapes().iter().zip(&mut t.method_params) {
            let saved = ck.extra.iter().find(|(n, _)| *n == format!("{METHOD_PREFIX}{name}"));
            match saved {
                Some((_, v)) if v.shape() == shape.as_slice() => *p = v.clone(),
                _ => {
                    return Err(Error::setting(
                        "method",
                        t.method.name(),
                        format!("its parameter `{name}` {shape:?} is not in the checkpoint"),
                    ));
                }
            }
        }
        if !ck.optimizer_state.is_empty() {
            if ck.metadata.get("retort.optimizer").map(String::as_str) != Some(t.config.optimizer.name())
                || ck.optimizer_state.len() != t.optimizer.state.len()
            {
                return Err(Error::setting(
                    "optimizer",
                    t.config.optimizer.name(),
                    "differs from the checkpoint's; resume with the same optimizer",
                ));
            }
            for (i, (saved, fresh)) in ck.optimizer_state.iter().zip(&t.optimizer.state).enumerate() {
                if saved.shape() != fresh.shape() {
                    let reason = format!("the checkpoint's state {i} has shape {:?}, its parameter {:?}", saved.shape(), fresh.shape());
                    return Err(Error::setting("optimizer", t.config.optimizer.name(), reason));
                }
            }
            t.optimizer.state = ck.optimizer_state;
            t.optimizer.step = get("retort.optimizer.step").unwrap_or(0) as u32;
        }
        Ok(t)
    }

    /// Every trained tensor by name: the model's (`fc0.weight`...), then the method's (`method.*`).
    pub fn named_params(&self) -> Vec<(String, &Tensor)> {
        let method = self.method.param_shapes().into_iter().map(|(n, _)| format!("{METHOD_PREFIX}{n}")).zip(&self.method_params);
        self.model.named_params().into_iter().chain(method).collect()
    }

    /// Metadata that lets [`Trainer::resume`] continue this run.
    pub fn checkpoint_metadata(&self) -> HashMap<String, String> {
        let mut meta = HashMap::from([
            ("retort.epoch".into(), self.epoch.to_string()),
            ("retort.optimizer".into(), self.config.optimizer.name().into()),
            ("retort.optimizer.step".into(), self.optimizer.step.to_string()),
            ("retort.seed".into(), self.config.seed.to_string()),
            ("retort.method".into(), self.method.name().into()),
        ]);
        for (k, v) in self.config.resumable_settings() {
            meta.insert(format!("retort.setting.{k}"), v);
        }
        if let Some(data) = &self.data {
            meta.insert("retort.data".into(), data.clone());
        }
        for (k, v) in self.method.settings() {
            meta.insert(format!("retort.method.{k}"), v.to_string());
        }
        meta
    }

    /// Saves the model, the method's parameters and the optimizer's state to `path`, atomically.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        // Never a checkpoint of a diverged model: the user's last good one stays.
        if let Some(name) = self.non_finite_param() {
            let what = format!("parameter {name} holds a NaN or an infinity");
            return Err(Error::Diverged { epoch: self.epoch, step: self.optimizer.step, what });
        }
        checkpoint::save(path, &self.model.spec, &self.named_params(), &self.optimizer.state, &self.checkpoint_metadata())
    }

    /// The name of the first parameter (the model's, then the method's) holding a NaN or an
    /// infinity.
    fn non_finite_param(&self) -> Option<String> {
        self.named_params().into_iter().find(|(_, t)| t.to_vec().iter().any(|v| !v.is_finite())).map(|(n, _)| n)
    }

    /// One pass over `data`, the teacher serving each batch when the method needs it.
    /// `on_batch(done, total, loss)` reports progress.
    pub fn train_epoch(
        &mut self, data: &Dataset, teacher: Option<&Teacher>, mut on_batch: impl FnMut(usize, usize, f32),
    ) -> Result<EpochStats> {
        let device = self.model.params[0].device().clone();
        check_fits(&self.model.spec, data)?;
        check_device_fits(&self.model.spec, &device, self.config.batch)?;
        let fingerprint = data.fingerprint();
        match &self.data {
            Some(trained_on) if *trained_on != fingerprint => {
                let reason = format!("differs from the set this model was trained on ({trained_on}); a resumed run keeps its data");
                return Err(Error::setting("training data", fingerprint, reason));
            }
            _ => self.data = Some(fingerprint),
        }
        if let &[height, width, ..] = &data.example_dims[..]
            && self.config.jitter >= height.min(width)
        {
            return Err(Error::setting("jitter", self.config.jitter, format!("must be below the images' {height}x{width}")));
        }
        let teacher = match (self.method.needs().teacher_logits, teacher) {
            (false, _) => None,
            (true, Some(t)) => {
                check_fits(&t.model.spec, data)?;
                check_device_fits(&t.model.spec, &device, self.config.batch)?;
                t.check_table(data)?;
                Some(t)
            }
            (true, None) => return Err(Error::setting("method", self.method.name(), "needs a teacher")),
        };
        let start = Instant::now();
        let cfg = self.config.clone();
        let order = shuffled(data.len(), cfg.seed, self.epoch as u64);
        let batches = data.len().div_ceil(cfg.batch);
        let mut rng = Rng::new(cfg.seed ^ (self.epoch as u64 + 1).wrapping_mul(0x5851_f42d_4c95_7f2d));
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        // The loss stays on the device, summed there; it is read back every few steps for the
        // progress report, so a GPU step never waits on the host.
        let mut loss_sum = Tensor::zeros(&device, &[1]);
        // The loss's parts, summed on the device from the logits each step leaves behind.
        let temperature = self.method.temperature().filter(|_| teacher.is_some());
        let mut parts_sum = temperature.map(|_| Tensor::zeros(&device, &[PARTS]));
        let (mut mean_loss, mut seen, mut lr) = (0.0f32, 0usize, cfg.lr);
        for (b, idx) in order.chunks(cfg.batch).enumerate() {
            lr = cfg.schedule.lr(cfg.lr, self.epoch as f32 + b as f32 / batches as f32, cfg.epochs as f32);
            data.gather(idx, cfg.jitter, &mut rng, &mut xs, &mut ys);
            let x = Tensor::from_slice(&device, &[idx.len(), data.example_len()], &xs);
            let labels = Labels::from_slice(&device, &ys);
            let step_seed = cfg.seed.wrapping_add((self.optimizer.step as u64 + 1).wrapping_mul(0x9e37_79b9));
            let served = teacher.map(|t| t.outputs(&x, idx, cfg.jitter > 0));
            let out = self.step_with_parts(&x, &labels, served.as_ref(), lr, step_seed, &mut parts_sum)?;
            device.axpy(idx.len() as f32, out.loss.storage(), loss_sum.storage_mut());
            seen += idx.len();
            if (b + 1) % LOSS_READ_EVERY == 0 || b + 1 == batches {
                mean_loss = loss_sum.item() / seen as f32;
                // A GPU's loss is read only here (every step would wait on the device): the step
                // is known to within these batches.
                if !mean_loss.is_finite() {
                    let what = format!("the loss became {mean_loss} within the last {} batches", (b % LOSS_READ_EVERY) + 1);
                    return Err(Error::Diverged { epoch: self.epoch + 1, step: self.optimizer.step, what });
                }
            }
            on_batch(b + 1, batches, mean_loss);
        }
        let parts = parts_sum.map(|sum| {
            let mean: Vec<f64> = sum.to_vec().iter().map(|&v| v as f64 / seen.max(1) as f64).collect();
            LossParts { kl: mean[KL], ce: mean[CE], tckd: mean[TCKD], nckd: mean[NCKD] }
        });
        self.epoch += 1;
        Ok(EpochStats { epoch: self.epoch, loss: mean_loss, lr, seconds: start.elapsed().as_secs_f64(), parts })
    }

    /// One update on a batch: forward, the method's loss (against the teacher's outputs for the
    /// batch when it needs them), backward, optimizer step, handed to the device without
    /// waiting. Returns the batch's loss and the student's logits, still on the device.
    pub fn step(&mut self, x: &Tensor, labels: &Labels, teacher: Option<&TeacherOutputs>, lr: f32, seed: u64) -> Result<StepOutput> {
        self.step_with_parts(x, labels, teacher, lr, seed, &mut None)
    }

    /// [`Trainer::step`], adding the batch's parts of the loss and fidelity figures at the
    /// method's temperature to `parts_sum` (`PARTS` values) when given: from the loss's own pass
    /// where the method's loss computes them (Hinton), else from one more pass over the logits.
    pub fn step_with_parts(
        &mut self, x: &Tensor, labels: &Labels, teacher: Option<&TeacherOutputs>, lr: f32, seed: u64, parts_sum: &mut Option<Tensor>,
    ) -> Result<StepOutput> {
        let mut g = Graph::new(x.device(), true, seed);
        if let Some(sums) = parts_sum.take() {
            g.collect_parts(sums);
        }
        let xv = g.constant(x.clone());
        let needs = self.method.needs();
        let (student, params) = self.model.forward(&mut g, xv, self.config.dropout, &needs.student_activations);
        let method_params: Vec<_> = self.method_params.iter().map(|p| g.param(p)).collect();
        let loss = self.method.loss(&mut g, &Batch { student: &student, teacher, labels, params: &method_params });
        // The guard: on the CPU the loss is read every step (one value, no wait); a non-finite
        // one stops the step before its update, naming the first op that made a NaN or an inf.
        if self.guard && x.device().is_cpu() && !g.value(loss).item().is_finite() {
            let what = match self.non_finite_param() {
                Some(name) => format!("the loss is {}; parameter {name} already held a NaN or an infinity", g.value(loss).item()),
                None => format!(
                    "the loss is {}; the first NaN or infinity came from {}",
                    g.value(loss).item(),
                    g.first_non_finite().unwrap_or_else(|| "the loss itself".into())
                ),
            };
            return Err(Error::Diverged { epoch: self.epoch + 1, step: self.optimizer.step + 1, what });
        }
        let grads = g.backward(loss);
        let out = StepOutput { loss: g.value(loss).clone(), logits: g.value(student.logits).clone() };
        if let Some((mut sums, filled)) = g.take_parts() {
            if let (false, Some(t), Some(teacher)) = (filled, self.method.temperature(), teacher) {
                let (rows, cols) = out.logits.rows_cols();
                let mut loss = Tensor::empty(x.device(), &[1]);
                let (zs, zt) = (out.logits.storage(), teacher.logits.storage());
                x.device().kd_loss(rows, cols, zs, zt, labels.storage(), t, 1.0, loss.storage_mut(), None, Some(sums.storage_mut()));
            }
            *parts_sum = Some(sums);
        }
        drop(g);
        // The model's and the method's parameters, one set for the optimizer.
        let n = self.model.params.len();
        let mut all = std::mem::take(&mut self.model.params);
        all.append(&mut self.method_params);
        let vars: Vec<_> = params.into_iter().chain(method_params).collect();
        crate::profile::scope(x.device(), "optimizer update", || self.optimizer.step(&mut all, &vars, &grads, lr));
        self.method_params = all.split_off(n);
        self.model.params = all;
        x.device().flush();
        Ok(out)
    }
}

/// Where a run writes: a checkpoint after every epoch, and the epochs' records as JSONL.
#[derive(Clone, Debug)]
pub struct RunFiles {
    pub checkpoint: PathBuf,
    pub log: PathBuf,
    /// The log there belongs to an earlier run (`--force`): this run's first record replaces it,
    /// atomically, so a run that fails before finishing an epoch leaves it as it was.
    pub replace_log: bool,
}

/// What the loop reports as it goes; every method does nothing by default.
pub trait Progress {
    /// A new stretch of `total` batches, called `label`.
    fn start(&mut self, _label: &str, _total: usize) {}
    /// `done` batches of the stretch, the running loss.
    fn batch(&mut self, _done: usize, _loss: f32) {}
    /// The stretch is over.
    fn finish(&mut self) {}
    /// An epoch ended, evaluated.
    fn epoch(&mut self, _record: &EpochRecord) {}
    /// A line worth saying (the teacher's table, a resumed run).
    fn note(&mut self, _line: &str) {}
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// What [`fit`] did: an epoch record for each epoch it ran, and the final model's predictions
/// on the test set.
pub struct Fit {
    pub records: Vec<EpochRecord>,
    pub test: Predictions,
}

/// Runs the trainer's remaining epochs on `splits`: after each, the test set is evaluated, and
/// with `files` a checkpoint is written atomically and the epoch's record appended to the log.
pub fn fit(
    trainer: &mut Trainer, splits: &Splits, teacher: Option<&Teacher>, files: Option<&RunFiles>, label: &str, progress: &mut dyn Progress,
) -> Result<Fit> {
    for (name, set) in [("training set", &splits.train), ("test set", &splits.test)] {
        if set.is_empty() {
            return Err(Error::setting("data", format!("an empty {name}"), "has nothing to train or test on"));
        }
    }
    let mut records = Vec::new();
    let mut test = None;
    // The teacher's test predictions, once: each epoch's student is compared with them.
    let temperature = trainer.method.temperature().filter(|_| teacher.is_some());
    let teacher_test = match (teacher, temperature) {
        (Some(t), Some(_)) if trainer.epoch < trainer.config.epochs => Some(evaluate(t.model, &splits.test, EVAL_BATCH)?),
        _ => None,
    };
    if let Some(files) = files.filter(|f| !f.replace_log) {
        drop_unsaved_epoch(&files.log, trainer.epoch)?;
    }
    while trainer.epoch < trainer.config.epochs {
        let batches = splits.train.len().div_ceil(trainer.config.batch);
        progress.start(&format!("{label} {}/{}", trainer.epoch + 1, trainer.config.epochs), batches);
        let stats = trainer.train_epoch(&splits.train, teacher, |done, _, loss| progress.batch(done, loss))?;
        progress.finish();
        let p = evaluate(&trainer.model, &splits.test, EVAL_BATCH)?;
        let on_test = teacher_test.as_ref().map(|t| fidelity(&p, t, &splits.test.labels, 1.0));
        let weighed = stats.parts.map(|parts| trainer.method.weigh(&parts));
        let mut record = EpochRecord {
            model: label.into(),
            spec: trainer.model.spec.to_string(),
            method: trainer.method.name().into(),
            epoch: stats.epoch,
            epochs: trainer.config.epochs,
            loss: stats.loss,
            lr: stats.lr,
            test_errors: p.errors,
            test_n: p.len(),
            test_accuracy: p.accuracy(),
            seconds: stats.seconds,
            agreement: on_test.map(|f| f.agreement),
            kl_t1: on_test.map(|f| f.kl_t1),
            soft_loss: weighed.map(|w| w.0),
            hard_loss: weighed.map(|w| w.1),
            tckd: stats.parts.map(|p| p.tckd),
            nckd: stats.parts.map(|p| p.nckd),
            train: None,
        };
        if let (Some(t), Some(temp), true) = (teacher, temperature, trainer.epoch == trainer.config.epochs) {
            record.train = Some(train_fidelity(trainer, t, &splits.train, temp)?);
        }
        if let Some(files) = files {
            // The record first: a run killed between the two left it without its checkpoint,
            // and resumes by dropping it (`drop_unsaved_epoch`, above) and training the epoch
            // again. The checkpoint first would lose the record instead.
            if files.replace_log && records.is_empty() {
                let line = serde_json::to_string(&record).expect("records serialize") + "\n";
                crate::files::write_atomic(&files.log, line.as_bytes())?;
            } else {
                append_jsonl(&files.log, &record)?;
            }
            trainer.save(&files.checkpoint)?;
        }
        progress.epoch(&record);
        records.push(record);
        test = Some(p);
    }
    // A resumed run with no epochs left is only evaluated.
    let test = match test {
        Some(p) => p,
        None => evaluate(&trainer.model, &splits.test, EVAL_BATCH)?,
    };
    Ok(Fit { records, test })
}

/// The student's fidelity to `teacher` on the whole training set, unshifted, at `t`.
fn train_fidelity(trainer: &Trainer, teacher: &Teacher, train: &Dataset, t: f32) -> Result<Fidelity> {
    let student = evaluate(&trainer.model, train, EVAL_BATCH)?;
    let teacher = match teacher.table_predictions(train) {
        Some(p) => p,
        None => evaluate(teacher.model, train, EVAL_BATCH)?,
    };
    Ok(fidelity(&student, &teacher, &train.labels, t))
}

/// The teacher `method` reads from `model` during a run of `config`: on unshifted images, when
/// the method needs only logits, they are computed once for the whole training set and read
/// each epoch instead of running the teacher on every batch.
pub fn teacher_for<'a>(
    model: &'a Model, method: &dyn Method, train: &Dataset, config: &TrainConfig, progress: &mut dyn Progress,
) -> Result<Teacher<'a>> {
    let needs = method.needs();
    if config.jitter > 0 || !needs.teacher_activations.is_empty() {
        return Teacher::live(model, &needs.teacher_activations);
    }
    let start = Instant::now();
    progress.start("teacher logits", train.len().div_ceil(config.batch));
    let teacher = Teacher::precomputed(model, train, config.batch, |done, _| progress.batch(done, 0.0))?;
    progress.finish();
    progress.note(&format!(
        "teacher logits of the {} training examples computed once, in {:.1}s",
        train.len(),
        start.elapsed().as_secs_f64()
    ));
    Ok(teacher)
}

/// Refuses a model whose weights or activations at `batch` rows exceed what `device` binds in
/// one buffer: a clear error up front instead of a kernel that cannot run.
pub fn check_device_fits(spec: &ModelSpec, device: &Device, batch: usize) -> Result<()> {
    for (name, shape) in spec.param_shapes() {
        device.check_len(&format!("{spec}: {name} {shape:?}"), shape.iter().product())?;
    }
    device.check_len(&format!("{spec}: its largest activation at batch {batch}"), spec.max_activation_len(batch))
}

/// Refuses a data set whose examples or labels do not fit the model.
pub fn check_fits(spec: &ModelSpec, data: &Dataset) -> Result<()> {
    if data.example_len() != spec.input_len() {
        return Err(Error::Spec {
            spec: spec.to_string(),
            reason: format!(
                "takes inputs of {} values, the data's examples are {:?} = {}",
                spec.input_len(),
                data.example_dims,
                data.example_len()
            ),
        });
    }
    if data.classes() > spec.classes() {
        return Err(Error::Spec {
            spec: spec.to_string(),
            reason: format!("has {} classes, the data has labels up to {}", spec.classes(), data.classes() - 1),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kd::{CrossEntropy, Dkd};
    use crate::nn::ModelSpec;

    fn splits() -> Splits {
        let mut rng = Rng::new(12);
        let set =
            |n: usize, rng: &mut Rng| Dataset { images: rng.vec(n * 16, 0.0, 1.0), labels: rng.labels(n, 3), example_dims: vec![4, 4] };
        Splits { train: set(40, &mut rng), test: set(17, &mut rng), source: "random 4x4 images".into() }
    }

    fn config() -> TrainConfig {
        TrainConfig {
            epochs: 2,
            batch: 8,
            lr: 0.1,
            schedule: Schedule::Cosine { warmup_epochs: 1.0 },
            optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
            dropout: Dropout::default(),
            jitter: 0,
            seed: 3,
        }
    }

    /// A fresh folder of this process named after `name`, and a run's files in it, no log yet.
    fn run_files(name: &str) -> (std::path::PathBuf, RunFiles) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let files = RunFiles { checkpoint: dir.join("m.safetensors"), log: dir.join("m.jsonl"), replace_log: false };
        let _ = std::fs::remove_file(&files.log);
        (dir, files)
    }

    /// Two epochs through the library write a checkpoint and a JSONL log; the library's reader
    /// gives back exactly the records the loop returned, and the last one matches the model.
    #[test]
    fn the_log_reads_back_as_the_records_the_loop_returned() {
        let device = Device::cpu();
        let (dir, files) = run_files("retort-train-log");
        let (splits, teacher_model) = (splits(), Model::new(ModelSpec::parse("mlp:16-12-3").unwrap(), &device, 1));
        let method = Box::new(Dkd::new(4.0, 1.0, 8.0).unwrap());
        let mut trainer = Trainer::new(Model::new(ModelSpec::parse("mlp:16-6-3").unwrap(), &device, 2), method, config()).unwrap();
        let teacher = teacher_for(&teacher_model, trainer.method.as_ref(), &splits.train, &trainer.config, &mut Silent).unwrap();
        let done = fit(&mut trainer, &splits, Some(&teacher), Some(&files), "distill", &mut Silent).unwrap();
        let read: Vec<EpochRecord> = read_jsonl(&files.log).unwrap();
        assert_eq!(read, done.records);
        assert_eq!(read.iter().map(|r| r.epoch).collect::<Vec<_>>(), vec![1, 2]);
        let last = read.last().unwrap();
        assert_eq!((last.method.as_str(), last.spec.as_str(), last.test_n), ("dkd", "mlp:16-6-3", 17));
        assert_eq!(last.test_errors, done.test.errors);
        assert!(read.iter().all(|r| r.loss.is_finite() && r.loss > 0.0 && r.seconds >= 0.0));
        // DKD's two terms add up to the loss it trained on (to the f32 sums of each).
        for r in &read {
            let (soft, hard) = (r.soft_loss.unwrap(), r.hard_loss.unwrap());
            assert!((soft + hard - r.loss as f64).abs() < 1e-3 * r.loss as f64, "{soft} + {hard} against {}", r.loss);
        }
        assert_eq!(
            read[1].train.unwrap().agreement,
            fidelity(
                &evaluate(&trainer.model, &splits.train, 9).unwrap(),
                &evaluate(&teacher_model, &splits.train, 9).unwrap(),
                &splits.train.labels,
                4.0
            )
            .agreement
        );
        // The checkpoint holds the final model and resumes at epoch 2 with the same predictions.
        let ck = checkpoint::load(&files.checkpoint, &device, None).unwrap();
        assert_eq!(ck.metadata["retort.method"], "dkd");
        let resumed = Trainer::resume(ck, Box::new(Dkd::new(4.0, 1.0, 8.0).unwrap()), config()).unwrap();
        assert_eq!(resumed.epoch, 2);
        assert_eq!(evaluate(&resumed.model, &splits.test, 5).unwrap(), done.test);
        // A line that is no record is an error naming the file and the line.
        std::fs::write(&files.log, "{\"model\": 1}\n").unwrap();
        let e = read_jsonl::<EpochRecord>(&files.log).unwrap_err().to_string();
        assert!(e.contains("m.jsonl, line 1"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A run killed after an epoch's record but before its checkpoint resumes from the epoch
    /// before, trains the epoch again, and logs it once: the same log as a run never killed.
    #[test]
    fn a_record_without_its_checkpoint_is_logged_once_on_resume() {
        let device = Device::cpu();
        let (dir, files) = run_files("retort-train-unsaved");
        let splits = splits();
        let fresh =
            || Trainer::new(Model::new(ModelSpec::parse("mlp:16-6-3").unwrap(), &device, 2), Box::new(CrossEntropy), config()).unwrap();
        let whole = fit(&mut fresh(), &splits, None, None, "train", &mut Silent).unwrap();
        // The kill: epoch 1's checkpoint and both records written, epoch 2's checkpoint not.
        let mut first = fresh();
        first.train_epoch(&splits.train, None, |_, _, _| {}).unwrap();
        first.save(&files.checkpoint).unwrap();
        for record in &whole.records {
            append_jsonl(&files.log, record).unwrap();
        }
        let ck = checkpoint::load(&files.checkpoint, &device, None).unwrap();
        let mut resumed = Trainer::resume(ck, Box::new(CrossEntropy), config()).unwrap();
        assert_eq!(resumed.epoch, 1);
        fit(&mut resumed, &splits, None, Some(&files), "train", &mut Silent).unwrap();
        let logged: Vec<EpochRecord> = read_jsonl(&files.log).unwrap();
        assert_eq!(logged.iter().map(|r| r.epoch).collect::<Vec<_>>(), vec![1, 2]);
        let errors = |r: &[EpochRecord]| r.iter().map(|r| (r.test_errors, r.loss)).collect::<Vec<_>>();
        assert_eq!(errors(&logged), errors(&whole.records));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_method_that_needs_a_teacher_refuses_to_train_without_one() {
        let device = Device::cpu();
        let student = Model::new(ModelSpec::parse("mlp:16-6-3").unwrap(), &device, 2);
        let mut trainer = Trainer::new(student, Box::new(Dkd::new(4.0, 1.0, 8.0).unwrap()), config()).unwrap();
        let e = trainer.train_epoch(&splits().train, None, |_, _, _| {}).err().unwrap().to_string();
        assert!(e.contains("needs a teacher"), "{e}");
        let student = Model::new(ModelSpec::parse("mlp:16-6-3").unwrap(), &device, 2);
        assert!(Trainer::new(student, Box::new(CrossEntropy), config()).unwrap().train_epoch(&splits().train, None, |_, _, _| {}).is_ok());
    }
}
