//! Evaluation: a model's logits and predicted classes on a data set, in batches on its device.

use super::records::Fidelity;
use super::{check_device_fits, check_fits};
use crate::backend::Device;
use crate::data::Dataset;
use crate::error::Result;
use crate::nn::Model;
use crate::tensor::Tensor;
use retort_kernels::kd_parts::{AGREE, KL_T1, NCKD, PARTS, TCKD, kd_parts};
use retort_kernels::reduce::argmax_rows;

/// A model's predictions on every example of a data set, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions {
    pub classes: usize,
    /// `examples x classes`, row-major.
    pub logits: Vec<f32>,
    /// The arg-max class of each example (the first on ties).
    pub predicted: Vec<u32>,
    /// Examples whose predicted class is not their label.
    pub errors: usize,
}

impl Predictions {
    /// The predictions of `logits` (`labels.len() x classes`) scored against `labels`.
    pub fn new(classes: usize, logits: Vec<f32>, labels: &[u32]) -> Self {
        let mut predicted = vec![0; labels.len()];
        argmax_rows(labels.len(), classes, &logits, &mut predicted);
        let errors = predicted.iter().zip(labels).filter(|(p, y)| p != y).count();
        Predictions { classes, logits, predicted, errors }
    }

    /// Examples predicted.
    pub fn len(&self) -> usize {
        self.predicted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.predicted.is_empty()
    }

    /// The share predicted right.
    pub fn accuracy(&self) -> f64 {
        1.0 - self.errors as f64 / self.len().max(1) as f64
    }

    /// The logits of example `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.logits[i * self.classes..(i + 1) * self.classes]
    }
}

/// `model`'s predictions on `data`, in batches of `batch`, on the model's device.
pub fn evaluate(model: &Model, data: &Dataset, batch: usize) -> Result<Predictions> {
    check_fits(&model.spec, data)?;
    let device = model.params[0].device().clone();
    check_device_fits(&model.spec, &device, batch)?;
    let classes = model.spec.classes();
    let mut logits = Vec::with_capacity(data.len() * classes);
    for (_, x) in batches_in_order(data, &device, batch) {
        logits.extend_from_slice(&model.logits(&x).to_vec());
    }
    Ok(Predictions::new(classes, logits, &data.labels))
}

/// How closely `student` follows `teacher` on the examples they both predicted (with `labels`):
/// agreement and KL at T = 1, TCKD and NCKD at `t`.
pub fn fidelity(student: &Predictions, teacher: &Predictions, labels: &[u32], t: f32) -> Fidelity {
    let (n, classes) = (student.len(), student.classes);
    assert!(teacher.len() == n && teacher.classes == classes && labels.len() == n, "fidelity: predictions of different data");
    let mut per_row = vec![0.0; n * PARTS];
    kd_parts(n, classes, &student.logits, &teacher.logits, labels, t, &mut per_row);
    let mean = |k: usize| (0..n).map(|i| per_row[i * PARTS + k] as f64).sum::<f64>() / n.max(1) as f64;
    Fidelity { agreement: mean(AGREE), kl_t1: mean(KL_T1), tckd: mean(TCKD), nckd: mean(NCKD) }
}

/// `data`'s examples in order, `batch` at a time (the last batch may be short), each with its
/// range of examples and its images uploaded to `device`: evaluation and teacher passes.
pub(crate) fn batches_in_order<'a>(
    data: &'a Dataset, device: &'a Device, batch: usize,
) -> impl Iterator<Item = (std::ops::Range<usize>, Tensor)> + 'a {
    let (d, batch) = (data.example_len(), batch.max(1));
    (0..data.len()).step_by(batch).map(move |start| {
        let rows = start..(start + batch).min(data.len());
        let x = Tensor::from_slice(device, &[rows.len(), d], &data.images[rows.start * d..rows.end * d]);
        (rows, x)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::ModelSpec;
    use retort_kernels::rng::Rng;

    #[test]
    fn predictions_are_the_argmax_of_each_batch_logits() {
        let device = Device::cpu();
        let mut rng = Rng::new(3);
        let data = Dataset { images: rng.vec(23 * 16, 0.0, 1.0), labels: rng.labels(23, 3), example_dims: vec![4, 4] };
        let model = Model::new(ModelSpec::parse("mlp:16-8-3").unwrap(), &device, 1);
        let p = evaluate(&model, &data, 5).unwrap();
        let whole = model.logits(&Tensor::from_slice(&device, &[23, 16], &data.images)).to_vec();
        assert_eq!(p.len(), 23);
        for i in 0..23 {
            let row = &whole[i * 3..(i + 1) * 3];
            let best = (0..3).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            assert_eq!(p.predicted[i] as usize, best, "example {i}");
            assert!(p.row(i).iter().zip(row).all(|(a, b)| (a - b).abs() < 1e-5));
        }
        assert_eq!(p.errors, (0..23).filter(|&i| p.predicted[i] != data.labels[i]).count());
    }

    /// Agreement and KL at 1 against a direct computation from the two models' logits.
    #[test]
    fn fidelity_against_a_direct_computation() {
        let device = Device::cpu();
        let mut rng = Rng::new(4);
        let data = Dataset { images: rng.vec(40 * 16, 0.0, 1.0), labels: rng.labels(40, 5), example_dims: vec![4, 4] };
        let (teacher, student) = (ModelSpec::parse("mlp:16-12-5").unwrap(), ModelSpec::parse("mlp:16-5").unwrap());
        let t = evaluate(&Model::new(teacher, &device, 1), &data, 7).unwrap();
        let s = evaluate(&Model::new(student, &device, 2), &data, 7).unwrap();
        let f = fidelity(&s, &t, &data.labels, 4.0);
        let agree = (0..40).filter(|&i| s.predicted[i] == t.predicted[i]).count() as f64 / 40.0;
        let kl = |i: usize| {
            let (zs, zt) = (s.row(i), t.row(i));
            let lse = |z: &[f32]| z.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
            let (ls, lt) = (lse(zs), lse(zt));
            (0..5).map(|j| (zt[j] as f64 - lt).exp() * ((zt[j] as f64 - lt) - (zs[j] as f64 - ls))).sum::<f64>()
        };
        let kl_t1 = (0..40).map(kl).sum::<f64>() / 40.0;
        assert_eq!(f.agreement, agree);
        assert!(agree > 0.0 && agree < 1.0, "a test that can tell: agreement {agree}");
        assert!((f.kl_t1 - kl_t1).abs() < 1e-6 * kl_t1.max(1.0), "{} against {kl_t1}", f.kl_t1);
        assert_eq!(fidelity(&t, &t, &data.labels, 4.0), Fidelity { agreement: 1.0, kl_t1: 0.0, tckd: 0.0, nckd: 0.0 });
    }
}
