//! Training and distillation: the trainer (one loop for both: the loss is cross-entropy on the
//! labels, or the KD loss against a teacher's logits), evaluation, and step benchmarks.

use crate::autograd::Graph;
use crate::backend::Device;
use crate::data::{Dataset, shuffled};
use crate::error::{Error, Result};
use crate::nn::{Dropout, Model, ModelSpec};
use crate::optim::{Optimizer, OptimizerKind, Schedule};
use crate::tensor::{Labels, Tensor};
use retort_kernels::testing::Rng;
use std::collections::HashMap;
use crate::profile;
use std::time::Instant;

/// Training steps between reads of the running loss (each read waits for a GPU).
const LOSS_READ_EVERY: usize = 16;

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
    /// Refuses settings that cannot train.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 {
            return Err(Error::setting("batch", self.batch, "must be at least 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::setting("lr", self.lr, "must be positive"));
        }
        for (name, p) in [("dropout-input", self.dropout.input), ("dropout", self.dropout.hidden)] {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::setting(name, p, "must be in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// The distillation settings: temperature and the weight of the soft term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KdConfig {
    pub temperature: f32,
    pub alpha: f32,
}

impl KdConfig {
    /// Checks `T > 0` and `alpha` in [0, 1].
    pub fn new(temperature: f32, alpha: f32) -> Result<Self> {
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(Error::setting("temperature", temperature, "must be positive and finite"));
        }
        if !(0.0..=1.0).contains(&alpha) {
            return Err(Error::setting("alpha", alpha, "must be in [0, 1]"));
        }
        Ok(KdConfig { temperature, alpha })
    }
}

/// A model being trained, its optimizer, and how far it got.
pub struct Trainer {
    pub model: Model,
    pub optimizer: Optimizer,
    pub config: TrainConfig,
    /// Epochs completed.
    pub epoch: usize,
}

/// What one epoch did.
#[derive(Clone, Debug)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f32,
    pub lr: f32,
    pub seconds: f64,
}

impl Trainer {
    pub fn new(model: Model, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        let optimizer = Optimizer::new(config.optimizer, &model.params);
        Ok(Trainer { model, optimizer, config, epoch: 0 })
    }

    /// Continues from a checkpoint written by [`Trainer::checkpoint_metadata`].
    pub fn resume(ck: crate::checkpoint::Checkpoint, config: TrainConfig) -> Result<Self> {
        let mut t = Trainer::new(ck.model, config)?;
        let get = |k: &str| ck.metadata.get(k).and_then(|v| v.parse::<u64>().ok());
        t.epoch = get("retort.epoch").unwrap_or(0) as usize;
        if !ck.optimizer_state.is_empty() {
            if ck.metadata.get("retort.optimizer").map(String::as_str) != Some(t.config.optimizer.name()) || ck.optimizer_state.len() != t.optimizer.state.len() {
                return Err(Error::setting("optimizer", t.config.optimizer.name(), "differs from the checkpoint's; resume with the same optimizer"));
            }
            t.optimizer.state = ck.optimizer_state;
            t.optimizer.step = get("retort.optimizer.step").unwrap_or(0) as u32;
        }
        Ok(t)
    }

    /// Metadata that lets [`Trainer::resume`] continue this run.
    pub fn checkpoint_metadata(&self) -> HashMap<String, String> {
        HashMap::from([
            ("retort.epoch".into(), self.epoch.to_string()),
            ("retort.optimizer".into(), self.config.optimizer.name().into()),
            ("retort.optimizer.step".into(), self.optimizer.step.to_string()),
            ("retort.seed".into(), self.config.seed.to_string()),
        ])
    }

    /// One pass over `data`, with the KD loss against `teacher` when given, else cross-entropy.
    /// `on_batch(done, total, loss)` reports progress.
    pub fn train_epoch(&mut self, data: &Dataset, teacher: Option<(&Model, KdConfig)>, mut on_batch: impl FnMut(usize, usize, f32)) -> Result<EpochStats> {
        let device = self.model.params[0].device().clone();
        check_fits(&self.model.spec, data)?;
        check_device_fits(&self.model.spec, &device, self.config.batch)?;
        if let Some((t, _)) = teacher {
            check_fits(&t.spec, data)?;
            check_device_fits(&t.spec, &device, self.config.batch)?;
        }
        let start = Instant::now();
        let cfg = self.config.clone();
        let order = shuffled(data.len(), cfg.seed, self.epoch as u64);
        let batches = data.len().div_ceil(cfg.batch);
        let mut rng = Rng::new(cfg.seed ^ (self.epoch as u64 + 1).wrapping_mul(0x5851_f42d_4c95_7f2d));
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        // The loss stays on the device, summed there; it is read back every few steps for the
        // progress report, so a GPU step never waits on the host.
        let mut loss_sum = Tensor::zeros(&device, &[1]);
        let (mut mean_loss, mut seen, mut lr) = (0.0f32, 0usize, cfg.lr);
        for (b, idx) in order.chunks(cfg.batch).enumerate() {
            lr = cfg.schedule.lr(cfg.lr, self.epoch as f32 + b as f32 / batches as f32, cfg.epochs as f32);
            data.gather(idx, cfg.jitter, &mut rng, &mut xs, &mut ys);
            let x = Tensor::from_slice(&device, &[idx.len(), data.example_len()], &xs);
            let labels = Labels::from_slice(&device, &ys);
            let step_seed = cfg.seed.wrapping_add((self.optimizer.step as u64 + 1).wrapping_mul(0x9e37_79b9));
            let loss = self.step(&x, &labels, teacher, lr, step_seed);
            device.axpy(idx.len() as f32, loss.storage(), loss_sum.storage_mut());
            seen += idx.len();
            if (b + 1) % LOSS_READ_EVERY == 0 || b + 1 == batches {
                mean_loss = loss_sum.item() / seen as f32;
            }
            on_batch(b + 1, batches, mean_loss);
        }
        self.epoch += 1;
        Ok(EpochStats { epoch: self.epoch, loss: mean_loss, lr, seconds: start.elapsed().as_secs_f64() })
    }

    /// One update on a batch: forward (the teacher's too, without a tape), backward, optimizer
    /// step, handed to the device without waiting. Returns the batch's loss, still on the device.
    pub fn step(&mut self, x: &Tensor, labels: &Labels, teacher: Option<(&Model, KdConfig)>, lr: f32, seed: u64) -> Tensor {
        let teacher_logits = teacher.map(|(t, kd)| (t.logits(x), kd));
        let mut g = Graph::new(x.device(), true, seed);
        let xv = g.constant(x.clone());
        let (logits, params) = self.model.forward(&mut g, xv, self.config.dropout);
        let loss = match teacher_logits {
            Some((zt, kd)) => {
                let zt = g.constant(zt);
                g.kd_loss(logits, zt, labels, kd.temperature, kd.alpha)
            }
            None => g.cross_entropy(logits, labels),
        };
        let grads = g.backward(loss);
        let value = g.value(loss).clone();
        drop(g);
        crate::profile::scope(x.device(), "optimizer update", || self.optimizer.step(&mut self.model.params, &params, &grads, lr));
        x.device().flush();
        value
    }
}

/// Test-set result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalResult {
    pub errors: usize,
    pub n: usize,
}

impl EvalResult {
    pub fn accuracy(&self) -> f64 {
        1.0 - self.errors as f64 / self.n.max(1) as f64
    }
}

/// Counts misclassified examples of `data`, in batches of `batch`, on the model's device.
pub fn evaluate(model: &Model, data: &Dataset, batch: usize) -> Result<EvalResult> {
    check_fits(&model.spec, data)?;
    let device = model.params[0].device().clone();
    check_device_fits(&model.spec, &device, batch)?;
    let mut count = device.zeros(1);
    let d = data.example_len();
    for start in (0..data.len()).step_by(batch.max(1)) {
        let end = (start + batch).min(data.len());
        let x = Tensor::from_slice(&device, &[end - start, d], &data.images[start * d..end * d]);
        let labels = Labels::from_slice(&device, &data.labels[start..end]);
        let logits = model.logits(&x);
        device.count_correct(end - start, model.spec.classes(), logits.storage(), labels.storage(), &mut count);
    }
    let correct = device.download(&count)[0] as usize;
    Ok(EvalResult { errors: data.len() - correct, n: data.len() })
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
        return Err(Error::Spec { spec: spec.to_string(), reason: format!("takes inputs of {} values, the data's examples are {:?} = {}", spec.input_len(), data.example_dims, data.example_len()) });
    }
    if data.classes() > spec.classes() {
        return Err(Error::Spec { spec: spec.to_string(), reason: format!("has {} classes, the data has labels up to {}", spec.classes(), data.classes() - 1) });
    }
    Ok(())
}

/// A step benchmark's result.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub samples_per_s: f64,
    pub gflops: f64,
    pub median_step_ms: f64,
    /// Steps timed (after warm-up).
    pub steps: usize,
    /// Per step, where the time went (when asked for): op by op, in [`profile::OpTime`]s
    /// averaged over the profiled steps, and the profiled steps' mean time in ms.
    pub profile: Option<(Vec<profile::OpTime>, f64)>,
}

/// Times training steps of `student` on random data, distilling from `teacher` when given
/// (its forward pass counted in the step). Median over steps run for about `seconds`; then, if
/// `profile`, as many steps again with each op timed ([`crate::profile`]).
pub fn bench_step(device: &Device, teacher: Option<&ModelSpec>, student: &ModelSpec, batch: usize, dropout: Dropout, seconds: f64, profile: bool) -> Result<BenchResult> {
    if let Some(t) = teacher.filter(|t| t.input_len() != student.input_len() || t.classes() != student.classes()) {
        return Err(Error::Spec { spec: t.to_string(), reason: format!("teacher and student {student} differ in inputs or classes") });
    }
    for spec in teacher.into_iter().chain([student]) {
        check_device_fits(spec, device, batch)?;
    }
    let config = TrainConfig { epochs: 1, batch, lr: 0.01, schedule: Schedule::Constant, optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None }, dropout, jitter: 0, seed: 1 };
    let mut trainer = Trainer::new(Model::new(student.clone(), device, 1), config)?;
    let teacher_model = teacher.map(|t| Model::new(t.clone(), device, 2));
    let kd = KdConfig::new(20.0, 0.9)?;
    let mut rng = Rng::new(3);
    let x = Tensor::from_slice(device, &[batch, student.input_len()], &rng.vec(batch * student.input_len(), 0.0, 1.0));
    let labels = Labels::from_slice(device, &rng.labels(batch, student.classes()));
    // Steps are timed in groups that end in a device sync, so a GPU's queued work is counted
    // and the host is not made to wait after every step.
    const GROUP: usize = 4;
    let mut times = Vec::new();
    let start = Instant::now();
    for group in 0.. {
        let t0 = Instant::now();
        for i in 0..GROUP {
            trainer.step(&x, &labels, teacher_model.as_ref().map(|t| (t, kd)), 0.01, (group * GROUP + i) as u64);
        }
        device.sync();
        if group >= 1 {
            times.push(t0.elapsed().as_secs_f64() / GROUP as f64);
        }
        if group >= 3 && start.elapsed().as_secs_f64() > seconds {
            break;
        }
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let flops = student.train_flops() + teacher.map_or(0, |t| 2 * t.forward_macs());
    let samples_per_s = batch as f64 / median;
    let profile = profile.then(|| {
        let steps = times.len() * GROUP;
        profile::start();
        let t0 = Instant::now();
        for i in 0..steps {
            trainer.step(&x, &labels, teacher_model.as_ref().map(|t| (t, kd)), 0.01, i as u64);
        }
        device.sync();
        let step_ms = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
        let per_step = |s: f64| s / steps as f64;
        let rows = profile::finish().into_iter().map(|r| profile::OpTime { calls: r.calls.div_ceil(steps), forward_s: per_step(r.forward_s), backward_s: per_step(r.backward_s), ..r }).collect();
        (rows, step_ms)
    });
    Ok(BenchResult { samples_per_s, gflops: samples_per_s * flops as f64 / 1e9, median_step_ms: median * 1e3, steps: times.len() * GROUP, profile })
}
