//! The gradient of Hinton's loss on the student's logits, split per example into its hard part
//! `(1 - alpha)(softmax(z_s) - onehot(y))` and its soft part `alpha T (softmax(z_s / T) -
//! softmax(z_t / T))`: how large each is, and where the soft part goes. Its share on the true
//! class rescales the example; the rest carries the relations between classes.

use super::softmax_row;
use crate::train::Predictions;

/// Per example: the L2 norms of both parts, and the share of the soft part's L1 mass on the true
/// class (the rest is on the other classes).
#[derive(Clone, Debug, PartialEq)]
pub struct GradientSplit {
    pub temperature: f32,
    pub alpha: f32,
    pub hard_norm: Vec<f64>,
    pub soft_norm: Vec<f64>,
    pub soft_true_share: Vec<f64>,
}

pub fn gradient_split(student: &Predictions, teacher: &Predictions, labels: &[u32], t: f32, alpha: f32) -> GradientSplit {
    let (a, tt) = (alpha as f64, t as f64);
    let mut out = GradientSplit { temperature: t, alpha, hard_norm: Vec::new(), soft_norm: Vec::new(), soft_true_share: Vec::new() };
    for (i, &y) in labels.iter().enumerate() {
        let y = y as usize;
        let p1 = softmax_row(student.row(i), 1.0);
        let (ps, pt) = (softmax_row(student.row(i), t), softmax_row(teacher.row(i), t));
        let hard: Vec<f64> = p1.iter().enumerate().map(|(j, &p)| (1.0 - a) * (p - (j == y) as u32 as f64)).collect();
        let soft: Vec<f64> = ps.iter().zip(&pt).map(|(s, t)| a * tt * (s - t)).collect();
        let norm = |g: &[f64]| g.iter().map(|v| v * v).sum::<f64>().sqrt();
        let mass: f64 = soft.iter().map(|v| v.abs()).sum();
        out.hard_norm.push(norm(&hard));
        out.soft_norm.push(norm(&soft));
        out.soft_true_share.push(if mass > 0.0 { soft[y].abs() / mass } else { f64::NAN });
    }
    out
}
