//! Hinton, Vinyals and Dean (2015), section 3, on MNIST: each figure measured beside the paper's.
//!
//! Four parts, each runnable alone, all sharing one teacher trained once per folder:
//! - `main`: the teacher, the student on labels, the student distilled at T = 20;
//! - `omit3`: the student distilled on a transfer set with every 3 left out, before and after
//!   raising the bias of class 3 by one offset;
//! - `sevens-eights`: the student distilled on the 7s and 8s alone, before and after lowering the
//!   biases of 7 and 8 by one offset;
//! - `temperature`: narrow and wide students across T, several seeds each.
//!
//! The offsets are fitted on the training set (never the test set): the offset, on a grid of
//! step 0.1, that leaves the fewest errors on the whole training set, the smallest on ties.

use super::sweep::mean_std;
use crate::checkpoint;
use crate::data::{Dataset, Splits};
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::kd::{CrossEntropy, Hinton, Method};
use crate::nn::{Dropout, Model, ModelSpec};
use crate::optim::{OptimizerKind, Schedule};
use crate::tensor::Tensor;
use crate::train::{EVAL_BATCH, Predictions, Progress, RunFiles, Teacher, TrainConfig, Trainer, evaluate, fit, teacher_for};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// One part of the reproduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    Main,
    Omit3,
    SevensEights,
    Temperature,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Main, Part::Omit3, Part::SevensEights, Part::Temperature];

    pub fn name(self) -> &'static str {
        match self {
            Part::Main => "main",
            Part::Omit3 => "omit3",
            Part::SevensEights => "sevens-eights",
            Part::Temperature => "temperature",
        }
    }

    pub fn parse(s: &str) -> Result<Part> {
        Part::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| Error::setting("part", s, "expected main, omit3, sevens-eights or temperature"))
    }
}

/// How long everything trains: the paper trained far longer than 2 cores allow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub teacher: String,
    pub student: String,
    pub teacher_epochs: usize,
    pub student_epochs: usize,
    /// Epochs of each run of the temperature part, and its students' hidden widths.
    pub temperature_epochs: usize,
    pub widths: Vec<usize>,
    pub temperatures: Vec<f32>,
    pub seeds: u64,
    /// The distillation's T and weight of the soft term (main, omit3, sevens-eights).
    pub temperature: f32,
    pub alpha: f32,
}

impl Recipe {
    /// On full MNIST: about 15 minutes on 2 cores.
    pub fn full_mnist() -> Self {
        Recipe {
            teacher: "mlp:784-1200-1200-10".into(),
            student: "mlp:784-800-800-10".into(),
            teacher_epochs: 40,
            student_epochs: 40,
            temperature_epochs: 20,
            widths: vec![30, 300],
            temperatures: vec![1.0, 2.0, 2.5, 3.0, 4.0, 8.0, 20.0],
            seeds: 2,
            temperature: 20.0,
            alpha: 0.9,
        }
    }

    /// On the embedded subset: a few minutes.
    pub fn subset() -> Self {
        Recipe { teacher_epochs: 20, student_epochs: 15, temperature_epochs: 6, ..Recipe::full_mnist() }
    }

    fn train_config(&self, epochs: usize, seed: u64, teacher: bool) -> TrainConfig {
        TrainConfig {
            epochs,
            batch: 128,
            lr: 0.05,
            schedule: Schedule::Cosine { warmup_epochs: 1.0 },
            optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
            // The teacher as in the paper: dropout and +-2 pixel jitter.
            dropout: if teacher { Dropout { input: 0.1, hidden: 0.3 } } else { Dropout::default() },
            jitter: if teacher { 2 } else { 0 },
            seed,
        }
    }
}

/// A figure measured beside the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub what: String,
    /// `None` where nothing could be measured (a gap to close that is not there).
    pub measured: Option<f64>,
    pub paper: Option<f64>,
    pub unit: String,
}

/// What one part measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartResult {
    pub part: Part,
    pub figures: Vec<Figure>,
    /// The temperature part's runs: width, T, seed, test errors.
    pub runs: Vec<(usize, f32, u64, usize)>,
    pub seconds: f64,
}

fn figure(what: &str, measured: f64, paper: Option<f64>, unit: &str) -> Figure {
    Figure { what: what.into(), measured: Some(measured).filter(|m| m.is_finite()), paper, unit: unit.into() }
}

/// Runs `parts` in `dir` (each part's result saved as `dir/part-NAME.json`), reusing a teacher
/// already trained there.
pub fn reproduce(
    parts: &[Part], recipe: &Recipe, splits: &Splits, device: &crate::Device, dir: &Path, progress: &mut dyn Progress,
) -> Result<Vec<PartResult>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let teacher = teacher(recipe, splits, device, dir, progress)?;
    let teacher_test = evaluate(&teacher, &splits.test, EVAL_BATCH)?;
    let mut results = Vec::new();
    for &part in parts {
        let start = Instant::now();
        progress.note(&format!("part {}", part.name()));
        let (figures, runs) = match part {
            Part::Main => (main(recipe, &teacher, &teacher_test, splits, device, dir, progress)?, Vec::new()),
            Part::Omit3 => (omit3(recipe, &teacher, splits, device, dir, progress)?, Vec::new()),
            Part::SevensEights => (sevens_eights(recipe, &teacher, splits, device, dir, progress)?, Vec::new()),
            Part::Temperature => (Vec::new(), temperature(recipe, &teacher, splits, device, progress)?),
        };
        let result = PartResult { part, figures, runs, seconds: start.elapsed().as_secs_f64() };
        write_atomic(
            &dir.join(format!("part-{}.json", part.name())),
            serde_json::to_string_pretty(&result).expect("results serialize").as_bytes(),
        )?;
        results.push(result);
    }
    Ok(results)
}

/// The results of every part run so far in `dir`.
pub fn saved_results(dir: &Path) -> Result<Vec<PartResult>> {
    let mut out = Vec::new();
    for part in Part::ALL {
        let path = dir.join(format!("part-{}.json", part.name()));
        if let Ok(bytes) = std::fs::read(&path) {
            out.push(serde_json::from_slice(&bytes).map_err(|e| Error::Log { path: path.clone(), line: 1, reason: e.to_string() })?);
        }
    }
    Ok(out)
}

/// The folder's teacher: loaded when an earlier run trained it, else trained now and saved.
fn teacher(recipe: &Recipe, splits: &Splits, device: &crate::Device, dir: &Path, progress: &mut dyn Progress) -> Result<Model> {
    let path = dir.join("teacher.safetensors");
    let spec = ModelSpec::parse(&recipe.teacher)?;
    if path.exists() {
        let ck = checkpoint::load(&path, device, Some(&spec))?;
        if ck.metadata.get("retort.epoch").and_then(|e| e.parse::<usize>().ok()) == Some(recipe.teacher_epochs) {
            progress.note(&format!("the teacher of {} (trained before)", path.display()));
            return Ok(ck.model);
        }
    }
    let config = recipe.train_config(recipe.teacher_epochs, 1, true);
    let mut trainer = Trainer::new(Model::new(spec, device, 1), Box::new(CrossEntropy), config)?;
    let files = RunFiles { checkpoint: path.clone(), log: dir.join("teacher.safetensors.jsonl"), replace_log: false };
    let _ = std::fs::remove_file(&files.log);
    fit(&mut trainer, splits, None, Some(&files), "teacher", progress)?;
    Ok(trainer.model)
}

/// A student of `spec` trained on `train` by `method` (with the teacher when it needs one),
/// tested on the test set, saved as `dir/name.safetensors` when `dir` is given.
#[allow(clippy::too_many_arguments)]
fn student(
    spec: &str, method: Box<dyn Method>, teacher: &Model, train: &Dataset, splits: &Splits, config: TrainConfig, device: &crate::Device,
    save: Option<(&Path, &str)>, progress: &mut dyn Progress,
) -> Result<(Model, Predictions)> {
    let transfer = Splits { train: train.clone(), test: splits.test.clone(), source: splits.source.clone() };
    let served = if method.needs().teacher_logits { Some(teacher_for(teacher, method.as_ref(), train, &config, progress)?) } else { None };
    let mut trainer = Trainer::new(Model::new(ModelSpec::parse(spec)?, device, config.seed), method, config)?;
    let label = save.map_or("student", |(_, n)| n);
    let done = fit(&mut trainer, &transfer, served.as_ref(), None, label, progress)?;
    if let Some((dir, name)) = save {
        trainer.save(&dir.join(format!("{name}.safetensors")))?;
    }
    Ok((trainer.model, done.test))
}

fn main(
    recipe: &Recipe, teacher: &Model, teacher_test: &Predictions, splits: &Splits, device: &crate::Device, dir: &Path,
    progress: &mut dyn Progress,
) -> Result<Vec<Figure>> {
    let config = recipe.train_config(recipe.student_epochs, 2, false);
    let (_, labels) = student(
        &recipe.student,
        Box::new(CrossEntropy),
        teacher,
        &splits.train,
        splits,
        config.clone(),
        device,
        Some((dir, "student")),
        progress,
    )?;
    let hinton = Box::new(Hinton::new(recipe.temperature, recipe.alpha)?);
    let (_, distilled) =
        student(&recipe.student, hinton, teacher, &splits.train, splits, config, device, Some((dir, "distilled")), progress)?;
    let gap = labels.errors as f64 - teacher_test.errors as f64;
    let closed = if gap > 0.0 { 100.0 * (labels.errors as f64 - distilled.errors as f64) / gap } else { f64::NAN };
    Ok(vec![
        figure("teacher, 784-1200-1200-10: test errors", teacher_test.errors as f64, Some(67.0), "errors"),
        figure("student on labels, 784-800-800-10: test errors", labels.errors as f64, Some(146.0), "errors"),
        figure("student distilled at T = 20: test errors", distilled.errors as f64, Some(74.0), "errors"),
        figure("share of the teacher-student gap closed", closed, Some(100.0 * (146.0 - 74.0) / (146.0 - 67.0)), "%"),
    ])
}

fn omit3(
    recipe: &Recipe, teacher: &Model, splits: &Splits, device: &crate::Device, dir: &Path, progress: &mut dyn Progress,
) -> Result<Vec<Figure>> {
    let transfer = splits.train.select(|y| y != 3);
    let config = recipe.train_config(recipe.student_epochs, 3, false);
    let hinton = Box::new(Hinton::new(recipe.temperature, recipe.alpha)?);
    let (model, test) = student(&recipe.student, hinton, teacher, &transfer, splits, config, device, Some((dir, "omit3")), progress)?;
    let train = evaluate(&model, &splits.train, EVAL_BATCH)?;
    let offset = fit_offset(&train, &splits.train.labels, &[3], 1.0, 10.0);
    let fixed = shift_biases(&model, &[3], offset);
    checkpoint::save(&dir.join("omit3_fixed.safetensors"), &fixed.spec, &fixed.named_params(), &[], &Default::default())?;
    let after = evaluate(&fixed, &splits.test, EVAL_BATCH)?;
    let threes = splits.test.labels.iter().filter(|&&y| y == 3).count();
    let wrong3 = |p: &Predictions| (0..p.len()).filter(|&i| splits.test.labels[i] == 3 && p.predicted[i] != 3).count() as f64;
    Ok(vec![
        figure("test errors, 3s never seen", test.errors as f64, Some(206.0), "errors"),
        figure(&format!("test 3s wrong (of {threes}; paper: of 1,010)"), wrong3(&test), Some(133.0), "errors"),
        figure("offset added to the bias of class 3, fitted on the training set", offset, Some(3.5), ""),
        figure("test errors after the offset", after.errors as f64, Some(109.0), "errors"),
        figure("test 3s wrong after the offset", wrong3(&after), Some(14.0), "errors"),
    ])
}

fn sevens_eights(
    recipe: &Recipe, teacher: &Model, splits: &Splits, device: &crate::Device, dir: &Path, progress: &mut dyn Progress,
) -> Result<Vec<Figure>> {
    let transfer = splits.train.select(|y| y == 7 || y == 8);
    let config = recipe.train_config(recipe.student_epochs, 4, false);
    let hinton = Box::new(Hinton::new(recipe.temperature, recipe.alpha)?);
    let (model, test) =
        student(&recipe.student, hinton, teacher, &transfer, splits, config, device, Some((dir, "sevens_eights")), progress)?;
    let train = evaluate(&model, &splits.train, EVAL_BATCH)?;
    let offset = fit_offset(&train, &splits.train.labels, &[7, 8], -1.0, 20.0);
    let fixed = shift_biases(&model, &[7, 8], -offset);
    checkpoint::save(&dir.join("sevens_eights_fixed.safetensors"), &fixed.spec, &fixed.named_params(), &[], &Default::default())?;
    let after = evaluate(&fixed, &splits.test, EVAL_BATCH)?;
    let pct = |p: &Predictions| 100.0 * p.errors as f64 / p.len() as f64;
    Ok(vec![
        figure("test error, trained on 7s and 8s only", pct(&test), Some(47.3), "%"),
        figure("offset taken from the biases of 7 and 8, fitted on the training set", offset, Some(7.6), ""),
        figure("test error after the offset", pct(&after), Some(13.2), "%"),
    ])
}

fn temperature(
    recipe: &Recipe, teacher: &Model, splits: &Splits, device: &crate::Device, progress: &mut dyn Progress,
) -> Result<Vec<(usize, f32, u64, usize)>> {
    let table = Teacher::precomputed(teacher, &splits.train, 128, |_, _| {})?;
    let mut runs = Vec::new();
    for &width in &recipe.widths {
        let spec = format!("mlp:784-{width}-{width}-10");
        for &t in &recipe.temperatures {
            for seed in 1..=recipe.seeds {
                let config = recipe.train_config(recipe.temperature_epochs, 10 + seed, false);
                let mut trainer = Trainer::new(
                    Model::new(ModelSpec::parse(&spec)?, device, config.seed),
                    Box::new(Hinton::new(t, recipe.alpha)?),
                    config,
                )?;
                let done = fit(&mut trainer, splits, Some(&table), None, &format!("{width} units, T = {t}"), progress)?;
                progress.note(&format!("{spec} at T = {t}, seed {seed}: {} test errors", done.test.errors));
                runs.push((width, t, seed, done.test.errors));
            }
        }
    }
    Ok(runs)
}

/// The offset `o` in `[0, max]`, step 0.1, for which adding `sign * o` to the logits of
/// `classes` leaves the fewest errors on `labels`; the smallest on ties.
pub fn fit_offset(p: &Predictions, labels: &[u32], classes: &[usize], sign: f32, max: f32) -> f64 {
    let errors = |o: f32| {
        (0..p.len())
            .filter(|&i| {
                let z = p.row(i);
                let shifted = |j: usize| if classes.contains(&j) { z[j] + sign * o } else { z[j] };
                let best = (0..p.classes).fold(0, |b, j| if shifted(j) > shifted(b) { j } else { b });
                best as u32 != labels[i]
            })
            .count()
    };
    let steps = (max * 10.0).round() as usize;
    let best = (0..=steps).map(|k| k as f32 / 10.0).min_by_key(|&o| errors(o)).unwrap_or(0.0);
    best as f64
}

/// `model` with `offset` added to the output biases of `classes`.
pub fn shift_biases(model: &Model, classes: &[usize], offset: f64) -> Model {
    let mut fixed = model.clone();
    let bias = fixed.params.last_mut().expect("a model has parameters");
    let mut values = bias.to_vec();
    for &c in classes {
        values[c] += offset as f32;
    }
    *bias = Tensor::from_slice(bias.device(), &[values.len()], &values);
    fixed
}

/// The mean and deviation of the temperature part's errors per (width, T).
pub fn temperature_cells(runs: &[(usize, f32, u64, usize)]) -> Vec<(usize, f32, f64, f64)> {
    let mut keys: Vec<(usize, f32)> = Vec::new();
    for &(w, t, _, _) in runs {
        if !keys.contains(&(w, t)) {
            keys.push((w, t));
        }
    }
    keys.into_iter()
        .map(|(w, t)| {
            let errors: Vec<f64> = runs.iter().filter(|r| r.0 == w && r.1 == t).map(|r| r.3 as f64).collect();
            let (m, d) = mean_std(&errors);
            (w, t, m, d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;

    /// Offsets that help: a class whose logit sits 2 below where it should, and classes whose
    /// logits sit 3 too high; the fitted offset restores them, and the shifted model agrees.
    #[test]
    fn fitted_offsets_undo_a_bias() {
        let labels: Vec<u32> = (0..40).map(|i| (i % 4) as u32).collect();
        let logits = |shift: &dyn Fn(usize) -> f32| -> Vec<f32> {
            labels
                .iter()
                .flat_map(|&y| (0..4).map(move |j| if j == y as usize { 1.0 } else { 0.0 }).map(|v: f32| v).collect::<Vec<_>>())
                .enumerate()
                .map(|(e, v)| v + shift(e % 4))
                .collect()
        };
        let predictions = |z: Vec<f32>| Predictions::new(4, z, &labels);
        let low3 = predictions(logits(&|j| if j == 3 { -2.0 } else { 0.0 }));
        assert_eq!(low3.errors, 10);
        let o = fit_offset(&low3, &labels, &[3], 1.0, 10.0);
        assert!(o > 1.0 && o < 3.0, "offset {o}");
        let high = predictions(logits(&|j| if j >= 2 { 3.0 } else { 0.0 }));
        let o = fit_offset(&high, &labels, &[2, 3], -1.0, 10.0);
        // At 2 the lowered logits tie with the true ones, and ties go to the first class.
        assert!((2.0..4.0).contains(&o), "offset {o}");
        // Shifting a model's output bias moves its logits of those classes by the offset alone.
        let device = Device::cpu();
        let model = Model::new(ModelSpec::parse("mlp:4-3-4").unwrap(), &device, 1);
        let fixed = shift_biases(&model, &[1, 2], 0.5);
        let x = Tensor::from_slice(&device, &[1, 4], &[0.1, 0.2, 0.3, 0.4]);
        let (a, b) = (model.logits(&x).to_vec(), fixed.logits(&x).to_vec());
        for j in 0..4 {
            let want = if j == 1 || j == 2 { 0.5 } else { 0.0 };
            assert!((b[j] - a[j] - want).abs() < 1e-6, "class {j}: {} -> {}", a[j], b[j]);
        }
    }
}
