//! Student against teacher, class by class: test errors of each, the disagreement matrix, and
//! the mean logit difference by true class and logit.

use crate::train::Predictions;

/// The class-by-class comparison of a student with its teacher on one data set.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassComparison {
    /// Examples of each true class.
    pub class_counts: Vec<usize>,
    /// Errors of each true class: the teacher's, the student's.
    pub teacher_errors: Vec<usize>,
    pub student_errors: Vec<usize>,
    /// `classes x classes`: examples where the teacher picks row `i` and the student column `j`,
    /// `i != j` (the diagonal, where they agree, is 0).
    pub disagreement: Vec<usize>,
    /// `classes x classes`: for true class `i`, the mean `|z_s[j] - z_t[j]|` of logit `j`.
    pub logit_gap: Vec<f64>,
}

pub fn compare(student: &Predictions, teacher: &Predictions, labels: &[u32]) -> ClassComparison {
    let c = teacher.classes;
    assert!(
        student.classes == c && student.len() == teacher.len() && labels.len() == teacher.len(),
        "compare: predictions of different data"
    );
    let mut out = ClassComparison {
        class_counts: vec![0; c],
        teacher_errors: vec![0; c],
        student_errors: vec![0; c],
        disagreement: vec![0; c * c],
        logit_gap: vec![0.0; c * c],
    };
    for (i, &y) in labels.iter().enumerate() {
        let (y, ps, pt) = (y as usize, student.predicted[i] as usize, teacher.predicted[i] as usize);
        out.class_counts[y] += 1;
        out.teacher_errors[y] += (pt != y) as usize;
        out.student_errors[y] += (ps != y) as usize;
        if ps != pt {
            out.disagreement[pt * c + ps] += 1;
        }
        for (j, (zs, zt)) in student.row(i).iter().zip(teacher.row(i)).enumerate() {
            out.logit_gap[y * c + j] += (zs - zt).abs() as f64;
        }
    }
    for (e, gap) in out.logit_gap.iter_mut().enumerate() {
        *gap = if out.class_counts[e / c] == 0 { f64::NAN } else { *gap / out.class_counts[e / c] as f64 };
    }
    out
}
