//! Step benchmarks: samples/s of training or distillation steps on synthetic data.

use super::{TrainConfig, Trainer, check_device_fits};
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::kd::{self, CrossEntropy, Hinton, Method, TeacherOutputs};
use crate::nn::{Dropout, Model, ModelSpec};
use crate::optim::{OptimizerKind, Schedule};
use crate::profile;
use crate::tensor::{Labels, Tensor};
use crate::train::records::{BenchRecord, GemmRecord, OpRecord, ProfileRecord};
use retort_kernels::rng::Rng;
use std::time::Instant;

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
    /// With the profile, on the CPU: each GEMM shape of the step, timed in it and alone.
    pub gemms: Vec<GemmInStep>,
}

/// A GEMM shape of a profiled step: its time per call inside the step and alone on random
/// operands, with caches warm and cold, measured in the same run, so a step that starves its
/// GEMMs (cold caches, thread hand-offs, packing) shows beside the machine's drift rather than
/// inside it, and a GEMM whose operands the step cannot keep in cache shows as such.
#[derive(Clone, Debug)]
pub struct GemmInStep {
    pub shape: profile::GemmShape,
    /// Calls per step.
    pub calls: usize,
    pub in_step_s: f64,
    /// Alone, its operands and output in cache from the call before.
    pub alone_s: f64,
    /// Alone, none of them in any cache.
    pub cold_s: f64,
}

/// Calls of each GEMM on cold caches, the median taken: each follows a write of twice the
/// last-level cache.
const COLD_CALLS: usize = 9;

/// How a step benchmark runs.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    /// About how long to time for.
    pub seconds: f64,
    /// Then as many steps again with each op timed ([`crate::profile`]).
    pub profile: bool,
    /// The training guard (see [`Trainer::guard`]), on as in training; off to measure its cost.
    pub guard: bool,
}

/// Times training steps of `student` on random data, distilling from `teacher` when given
/// (its forward pass counted in the step). Median over steps run for about `options.seconds`.
pub fn bench_step(
    device: &Device, teacher: Option<&ModelSpec>, student: &ModelSpec, batch: usize, dropout: Dropout, options: BenchOptions,
) -> Result<BenchResult> {
    let BenchOptions { seconds, profile, guard } = options;
    if let Some(t) = teacher.filter(|t| t.input_len() != student.input_len() || t.classes() != student.classes()) {
        return Err(Error::Spec { spec: t.to_string(), reason: format!("teacher and student {student} differ in inputs or classes") });
    }
    for spec in teacher.into_iter().chain([student]) {
        check_device_fits(spec, device, batch)?;
    }
    let config = TrainConfig {
        epochs: 1,
        batch,
        lr: 0.01,
        schedule: Schedule::Constant,
        optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
        dropout,
        jitter: 0,
        seed: 1,
    };
    let method: Box<dyn Method> = match teacher {
        Some(_) => Box::new(Hinton::new(kd::defaults::HINTON_TEMPERATURE, kd::defaults::HINTON_ALPHA)?),
        None => Box::new(CrossEntropy),
    };
    let mut trainer = Trainer::new(Model::new(student.clone(), device, 1), method, config)?;
    trainer.guard = guard;
    let teacher_model = teacher.map(|t| Model::new(t.clone(), device, 2));
    let mut rng = Rng::new(3);
    let x = Tensor::from_slice(device, &[batch, student.input_len()], &rng.vec(batch * student.input_len(), 0.0, 1.0));
    let labels = Labels::from_slice(device, &rng.labels(batch, student.classes()));
    // One step as the benchmark defines it: the teacher's forward pass on the batch
    // (never a precomputed table), then the student's training step.
    let mut distill_step = |seed: u64| -> Result<()> {
        let served = teacher_model.as_ref().map(|t| TeacherOutputs { logits: t.logits(&x), activations: Vec::new() });
        trainer.step(&x, &labels, served.as_ref(), 0.01, seed)?;
        Ok(())
    };
    // Steps are timed in groups that end in a device sync, so a GPU's queued work is counted
    // and the host is not made to wait after every step.
    const GROUP: usize = 4;
    let mut times = Vec::new();
    let start = Instant::now();
    for group in 0.. {
        let t0 = Instant::now();
        for i in 0..GROUP {
            distill_step((group * GROUP + i) as u64)?;
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
    let (profile, gemms) = if !profile {
        (None, Vec::new())
    } else {
        let steps = times.len() * GROUP;
        profile::start();
        let t0 = Instant::now();
        for i in 0..steps {
            distill_step(i as u64)?;
        }
        device.sync();
        let step_ms = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
        let per_step = |s: f64| s / steps as f64;
        let rows = profile::finish()
            .into_iter()
            .map(|r| profile::OpTime {
                calls: r.calls.div_ceil(steps),
                forward_s: per_step(r.forward_s),
                backward_s: per_step(r.backward_s),
                ..r
            })
            .collect();
        // Each GEMM shape alone right after, for a fraction of the time the step ran for.
        let (mut rng, mut flush) = (Rng::new(5), crate::kernel_bench::CacheFlush::new());
        let gemms = profile::take_gemms()
            .into_iter()
            .map(|g| {
                let alone_s = crate::kernel_bench::gemm_alone(device, &mut rng, g.shape, (seconds / 8.0).clamp(0.05, 0.5));
                let cold_s = crate::kernel_bench::gemm_cold(device, &mut rng, g.shape, COLD_CALLS, &mut flush);
                GemmInStep { shape: g.shape, calls: g.calls.div_ceil(steps), in_step_s: g.seconds / g.calls as f64, alone_s, cold_s }
            })
            .collect();
        (Some((rows, step_ms)), gemms)
    };
    Ok(BenchResult {
        samples_per_s,
        gflops: samples_per_s * flops as f64 / 1e9,
        median_step_ms: median * 1e3,
        steps: times.len() * GROUP,
        profile,
        gemms,
    })
}

impl BenchResult {
    /// The result as a record: `bench` is `train step` or `distill step`.
    pub fn record(
        &self, bench: &str, teacher: Option<&ModelSpec>, student: &ModelSpec, batch: usize, dropout: f32, device: &Device,
    ) -> BenchRecord {
        let profile = self.profile.as_ref().map(|(rows, step_ms)| ProfileRecord {
            step_ms: *step_ms,
            ops: rows
                .iter()
                .map(|o| OpRecord { op: o.op.clone(), calls: o.calls, forward_ms: o.forward_s * 1e3, backward_ms: o.backward_s * 1e3 })
                .collect(),
            gemms: self
                .gemms
                .iter()
                .map(|g| {
                    let profile::GemmShape { m, k, n, trans_a, trans_b } = g.shape;
                    let gflops = |s: f64| g.shape.flops() / s / 1e9;
                    GemmRecord {
                        m,
                        k,
                        n,
                        trans_a,
                        trans_b,
                        calls: g.calls,
                        in_step_gflops: gflops(g.in_step_s),
                        alone_gflops: gflops(g.alone_s),
                        cold_gflops: Some(gflops(g.cold_s)),
                    }
                })
                .collect(),
        });
        BenchRecord {
            bench: bench.into(),
            teacher: teacher.map(|t| t.to_string()),
            student: student.to_string(),
            batch,
            dropout,
            samples_per_s: self.samples_per_s,
            gflops: self.gflops,
            median_step_ms: self.median_step_ms,
            steps: self.steps,
            device: device.kind().into(),
            device_name: device.describe(),
            profile,
        }
    }
}
