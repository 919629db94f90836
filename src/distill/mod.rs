//! Training and distillation: the trainer (one loop for both: the loss is cross-entropy on the
//! labels, or the KD loss against a teacher's logits), the teacher's logits ([`Teacher`]),
//! evaluation, and step benchmarks ([`bench_step`]).

mod bench;
mod teacher;

pub use bench::{BenchResult, bench_step};
pub use teacher::Teacher;

use crate::autograd::Graph;
use crate::backend::Device;
use crate::data::{Dataset, shuffled};
use crate::error::{Error, Result};
use crate::nn::{Dropout, Model, ModelSpec};
use crate::optim::{Optimizer, OptimizerKind, Schedule};
use crate::tensor::{Labels, Tensor};
use retort_kernels::testing::Rng;
use std::collections::HashMap;
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
            if ck.metadata.get("retort.optimizer").map(String::as_str) != Some(t.config.optimizer.name())
                || ck.optimizer_state.len() != t.optimizer.state.len()
            {
                return Err(Error::setting(
                    "optimizer",
                    t.config.optimizer.name(),
                    "differs from the checkpoint's; resume with the same optimizer",
                ));
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
    pub fn train_epoch(
        &mut self, data: &Dataset, teacher: Option<&Teacher>, mut on_batch: impl FnMut(usize, usize, f32),
    ) -> Result<EpochStats> {
        let device = self.model.params[0].device().clone();
        check_fits(&self.model.spec, data)?;
        check_device_fits(&self.model.spec, &device, self.config.batch)?;
        if let Some(t) = teacher {
            check_fits(&t.model.spec, data)?;
            check_device_fits(&t.model.spec, &device, self.config.batch)?;
            t.check_table(data)?;
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
            let teacher_logits = teacher.map(|t| (t.logits(&x, idx, cfg.jitter > 0), t.kd));
            let loss = self.step(&x, &labels, teacher_logits, lr, step_seed);
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

    /// One update on a batch: forward, the KD loss against the teacher's logits for the batch
    /// when given (else cross-entropy), backward, optimizer step, handed to the device without
    /// waiting. Returns the batch's loss, still on the device.
    pub fn step(&mut self, x: &Tensor, labels: &Labels, teacher_logits: Option<(Tensor, KdConfig)>, lr: f32, seed: u64) -> Tensor {
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
    for (rows, x) in batches_in_order(data, &device, batch) {
        let labels = Labels::from_slice(&device, &data.labels[rows.clone()]);
        let logits = model.logits(&x);
        device.count_correct(rows.len(), model.spec.classes(), logits.storage(), labels.storage(), &mut count);
    }
    let correct = device.download(&count)[0] as usize;
    Ok(EvalResult { errors: data.len() - correct, n: data.len() })
}

/// `data`'s examples in order, `batch` at a time (the last batch may be short), each with its
/// range of examples and its images uploaded to `device`: evaluation and teacher passes.
fn batches_in_order<'a>(
    data: &'a Dataset, device: &'a Device, batch: usize,
) -> impl Iterator<Item = (std::ops::Range<usize>, Tensor)> + 'a {
    let (d, batch) = (data.example_len(), batch.max(1));
    (0..data.len()).step_by(batch).map(move |start| {
        let rows = start..(start + batch).min(data.len());
        let x = Tensor::from_slice(device, &[rows.len(), d], &data.images[rows.start * d..rows.end * d]);
        (rows, x)
    })
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
