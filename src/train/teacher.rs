//! The teacher's side of distillation: its logits for each batch, from a forward pass or from a
//! table of the whole training set computed once.
//!
//! On unshifted images the teacher (no dropout at inference) gives every example the same
//! logits every epoch, so running it on each batch repeats one pass over the data set per epoch:
//! most of a distillation step when the teacher is larger than the student. Jittered images are
//! new each epoch and need the forward pass.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::kd::TeacherOutputs;
use crate::nn::Model;
use crate::tensor::Tensor;

/// A trained model that serves its outputs for each batch: logits, and the hidden activations a
/// method asked for. It knows nothing of the loss they feed.
pub struct Teacher<'a> {
    pub model: &'a Model,
    /// Layers whose activations each batch needs.
    taps: Vec<String>,
    table: Option<LogitTable>,
}

/// The teacher's logits of every example of one data set, row `i` for example `i`.
struct LogitTable {
    classes: usize,
    logits: Vec<f32>,
}

impl LogitTable {
    fn examples(&self) -> usize {
        self.logits.len() / self.classes
    }
}

impl<'a> Teacher<'a> {
    /// A teacher that runs its forward pass on every batch, keeping the activations of the
    /// layers named in `taps`.
    pub fn live(model: &'a Model, taps: &[String]) -> Result<Self> {
        model.check_taps(taps)?;
        Ok(Teacher { model, taps: taps.to_vec(), table: None })
    }

    /// A teacher whose logits for every example of `data` are computed now, in batches of
    /// `batch` (`on_batch(done, total)` reports progress), and read from then on for batches of
    /// `data`'s unshifted images. Batches with jitter still run the forward pass.
    pub fn precomputed(model: &'a Model, data: &Dataset, batch: usize, mut on_batch: impl FnMut(usize, usize)) -> Result<Self> {
        super::check_fits(&model.spec, data)?;
        let device = model.params[0].device().clone();
        let batch = batch.max(1);
        super::check_device_fits(&model.spec, &device, batch)?;
        let classes = model.spec.classes();
        let mut logits = Vec::with_capacity(data.len() * classes);
        let total = data.len().div_ceil(batch);
        for (b, (_, x)) in super::eval::batches_in_order(data, &device, batch).enumerate() {
            logits.extend_from_slice(&model.logits(&x).to_vec());
            on_batch(b + 1, total);
        }
        Ok(Teacher { model, taps: Vec::new(), table: Some(LogitTable { classes, logits }) })
    }

    /// The table as predictions of `data`, when it was computed on it.
    pub(crate) fn table_predictions(&self, data: &Dataset) -> Option<super::Predictions> {
        let t = self.table.as_ref().filter(|t| t.examples() == data.len())?;
        Some(super::Predictions::new(t.classes, t.logits.clone(), &data.labels))
    }

    /// Refuses a table computed on a data set of another size than `data`.
    pub(crate) fn check_table(&self, data: &Dataset) -> Result<()> {
        match &self.table {
            Some(t) if t.examples() != data.len() => Err(Error::setting(
                "teacher logits",
                format!("a table of {} examples", t.examples()),
                format!("were computed on another data set than this one of {} examples", data.len()),
            )),
            _ => Ok(()),
        }
    }

    /// The teacher's outputs for the batch `x` of examples `indices` of the data set the table
    /// was computed on; `shifted`: whether `x`'s images were jittered, so the table cannot serve.
    pub fn outputs(&self, x: &Tensor, indices: &[usize], shifted: bool) -> TeacherOutputs {
        match &self.table {
            Some(t) if !shifted => {
                let mut rows = Vec::with_capacity(indices.len() * t.classes);
                for &i in indices {
                    rows.extend_from_slice(&t.logits[i * t.classes..(i + 1) * t.classes]);
                }
                TeacherOutputs { logits: Tensor::from_slice(x.device(), &[indices.len(), t.classes], &rows), activations: Vec::new() }
            }
            _ => {
                let (logits, activations) = self.model.outputs(x, &self.taps);
                TeacherOutputs { logits, activations }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::ModelSpec;
    use retort_kernels::testing::{Rng, Tolerance, assert_close, f64s};

    fn data(n: usize) -> Dataset {
        let mut rng = Rng::new(4);
        Dataset { images: rng.vec(n * 16, 0.0, 1.0), labels: rng.labels(n, 3), example_dims: vec![4, 4] }
    }

    /// A teacher model on the CPU for 4x4 images of 3 classes, and `n` examples.
    fn setup(n: usize) -> (Device, Model, Dataset) {
        let device = Device::cpu();
        let model = Model::new(ModelSpec::parse("mlp:16-12-3").unwrap(), &device, 1);
        (device, model, data(n))
    }

    #[test]
    fn table_rows_are_the_forward_pass_of_their_examples() {
        let (device, model, data) = setup(23);
        // A table in batches of 5 (the last one short), read back in a shuffled batch.
        let mut reported = Vec::new();
        let teacher = Teacher::precomputed(&model, &data, 5, |done, total| reported.push((done, total))).unwrap();
        assert_eq!(reported.last(), Some(&(5, 5)));
        let indices = [22, 0, 7, 7, 13];
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        data.gather(&indices, 0, &mut Rng::new(0), &mut images, &mut labels);
        let x = Tensor::from_slice(&device, &[indices.len(), 16], &images);
        let want = model.logits(&x).to_vec();
        assert_close("table logits", &teacher.outputs(&x, &indices, false).logits.to_vec(), &f64s(&want), Tolerance::FORWARD);
        // Shifted images bypass the table: logits of these (here: different) images.
        let other = Tensor::from_slice(&device, &[indices.len(), 16], &vec![0.5; indices.len() * 16]);
        assert_eq!(
            teacher.outputs(&other, &indices, true).logits.to_vec(),
            model.logits(&other).to_vec(),
            "a shifted batch runs the teacher"
        );
        assert!(teacher.check_table(&data).is_ok());
        let err = teacher.check_table(&self::data(24)).unwrap_err().to_string();
        assert!(err.contains("23 examples") && err.contains("24 examples"), "{err}");
    }

    /// An epoch against the table trains the student as an epoch against the live teacher does,
    /// with and without jitter (where the table must step aside).
    #[test]
    fn epochs_with_the_table_train_like_epochs_with_the_live_teacher() {
        use crate::kd::Hinton;
        use crate::nn::Dropout;
        use crate::optim::{OptimizerKind, Schedule};
        use crate::train::{TrainConfig, Trainer};
        let (device, teacher, data) = setup(37);
        for jitter in [0, 1] {
            let config = TrainConfig {
                epochs: 2,
                batch: 8,
                lr: 0.1,
                schedule: Schedule::Constant,
                optimizer: OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None },
                dropout: Dropout::default(),
                jitter,
                seed: 5,
            };
            let train = |t: &Teacher| {
                let student = Model::new(ModelSpec::parse("mlp:16-5-3").unwrap(), &device, 2);
                let mut trainer = Trainer::new(student, Box::new(Hinton::new(3.0, 0.8).unwrap()), config.clone()).unwrap();
                for _ in 0..2 {
                    trainer.train_epoch(&data, Some(t), |_, _, _| {}).unwrap();
                }
                trainer.model.params.iter().flat_map(|p| p.to_vec()).collect::<Vec<f32>>()
            };
            let live = train(&Teacher::live(&teacher, &[]).unwrap());
            let table = train(&Teacher::precomputed(&teacher, &data, 7, |_, _| {}).unwrap());
            assert_close(
                &format!("student after 2 epochs, jitter {jitter}: table against live"),
                &table,
                &f64s(&live),
                Tolerance::END_TO_END,
            );
        }
    }
}
