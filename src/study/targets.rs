//! What the teacher's soft targets carry: a few examples' distributions at each temperature,
//! the mean entropy against the temperature, and the "dark knowledge" matrix of which classes
//! the teacher thinks resemble which.

use super::softmax_row;
use crate::data::Dataset;
use crate::train::Predictions;

/// Why an example was picked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExampleKind {
    /// The teacher's highest top-1 probability at T = 1.
    MostConfident,
    /// Its lowest.
    LeastConfident,
    /// The highest probability on a second class.
    LikeAnotherClass,
}

impl ExampleKind {
    pub fn describe(self) -> &'static str {
        match self {
            ExampleKind::MostConfident => "most confident",
            ExampleKind::LeastConfident => "least confident",
            ExampleKind::LikeAnotherClass => "most like a second class",
        }
    }
}

/// One picked test example and the teacher's distribution over the classes at each temperature.
#[derive(Clone, Debug)]
pub struct Example {
    pub index: usize,
    pub kind: ExampleKind,
    pub label: u32,
    pub predicted: u32,
    /// The example's pixels, as stored.
    pub image: Vec<f32>,
    /// `probs[k][j]`: probability of class `j` at the `k`-th temperature.
    pub probs: Vec<Vec<f64>>,
}

/// The soft-target figure: its temperatures and examples.
#[derive(Clone, Debug)]
pub struct SoftTargets {
    pub temperatures: Vec<f32>,
    pub examples: Vec<Example>,
}

/// Picks `per_kind` examples of each [`ExampleKind`] (distinct examples) and their distributions.
pub fn soft_targets(teacher: &Predictions, data: &Dataset, temperatures: &[f32], per_kind: usize) -> SoftTargets {
    let top2 = |i: usize| {
        let mut p = softmax_row(teacher.row(i), 1.0);
        p.sort_by(|a, b| b.total_cmp(a));
        (p[0], p.get(1).copied().unwrap_or(0.0))
    };
    let scores: Vec<(f64, f64)> = (0..teacher.len()).map(top2).collect();
    let mut picked: Vec<usize> = Vec::new();
    let mut examples = Vec::new();
    let d = data.example_len();
    for kind in [ExampleKind::MostConfident, ExampleKind::LeastConfident, ExampleKind::LikeAnotherClass] {
        let mut order: Vec<usize> = (0..teacher.len()).collect();
        let key = |i: usize| match kind {
            ExampleKind::MostConfident => -scores[i].0,
            ExampleKind::LeastConfident => scores[i].0,
            ExampleKind::LikeAnotherClass => -scores[i].1,
        };
        // Ties by index, so the choice is the same on every run.
        order.sort_by(|&a, &b| key(a).total_cmp(&key(b)).then(a.cmp(&b)));
        let fresh: Vec<usize> = order.into_iter().filter(|i| !picked.contains(i)).take(per_kind).collect();
        for i in fresh {
            picked.push(i);
            examples.push(Example {
                index: i,
                kind,
                label: data.labels[i],
                predicted: teacher.predicted[i],
                image: data.images[i * d..(i + 1) * d].to_vec(),
                probs: temperatures.iter().map(|&t| softmax_row(teacher.row(i), t)).collect(),
            });
        }
    }
    SoftTargets { temperatures: temperatures.to_vec(), examples }
}

/// The teacher's mean entropy of `softmax(z / T)` (in nats) at each temperature, and the
/// effective number of classes `exp(entropy)` of that mean.
#[derive(Clone, Debug, PartialEq)]
pub struct EntropyCurve {
    pub temperatures: Vec<f32>,
    pub entropy: Vec<f64>,
    pub effective_classes: Vec<f64>,
}

pub fn entropy_curve(teacher: &Predictions, temperatures: &[f32]) -> EntropyCurve {
    let entropy: Vec<f64> = temperatures
        .iter()
        .map(|&t| {
            let total: f64 = (0..teacher.len())
                .map(|i| softmax_row(teacher.row(i), t).iter().filter(|&&p| p > 0.0).map(|&p| -p * p.ln()).sum::<f64>())
                .sum();
            total / teacher.len().max(1) as f64
        })
        .collect();
    EntropyCurve { temperatures: temperatures.to_vec(), effective_classes: entropy.iter().map(|h| h.exp()).collect(), entropy }
}

/// For each true class `i` (row), the teacher's mean probability on each class `j` at `t`,
/// `classes x classes`, with the diagonal left out (NaN): which classes resemble which. A class
/// with no example has a row of NaN.
pub fn dark_knowledge(teacher: &Predictions, labels: &[u32], t: f32) -> Vec<f64> {
    let c = teacher.classes;
    let (mut sums, mut counts) = (vec![0.0; c * c], vec![0usize; c]);
    for (i, &y) in labels.iter().enumerate() {
        let p = softmax_row(teacher.row(i), t);
        counts[y as usize] += 1;
        for j in 0..c {
            sums[y as usize * c + j] += p[j];
        }
    }
    (0..c * c).map(|e| if e / c == e % c || counts[e / c] == 0 { f64::NAN } else { sums[e] / counts[e / c] as f64 }).collect()
}
