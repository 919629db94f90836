//! Distillation methods behind one trait: what a method needs from teacher and student, the
//! parameters it owns, and the loss it builds on the tape. The training loop knows only
//! [`Method`]; a new method is a file here.

mod ce;
mod dkd;
mod hinton;

pub use ce::CrossEntropy;
pub use dkd::Dkd;
pub use hinton::Hinton;

use crate::autograd::{Graph, Var};
use crate::error::{Error, Result};
use crate::nn::Outputs;
use crate::tensor::{Labels, Tensor};

/// The defaults of every method, in one place.
pub mod defaults {
    /// Hinton et al. (2015) on MNIST.
    pub const HINTON_TEMPERATURE: f32 = 20.0;
    pub const HINTON_ALPHA: f32 = 0.9;
    /// Zhao et al. (2022): T = 4, alpha 1 on TCKD, beta 8 on NCKD.
    pub const DKD_TEMPERATURE: f32 = 4.0;
    pub const DKD_ALPHA: f32 = 1.0;
    pub const DKD_BETA: f32 = 8.0;
}

/// What a method reads from the two models on each batch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Needs {
    /// The teacher's logits.
    pub teacher_logits: bool,
    /// Hidden activations of the student, by layer name (`fc1`, `conv2`, `pool1`).
    pub student_activations: Vec<String>,
    /// Hidden activations of the teacher, by layer name.
    pub teacher_activations: Vec<String>,
}

/// What the teacher gives for one batch: constants, no gradient flows to them.
#[derive(Clone)]
pub struct TeacherOutputs {
    pub logits: Tensor,
    pub activations: Vec<(String, Tensor)>,
}

/// Everything a method's loss may use for one batch.
pub struct Batch<'a> {
    /// The student's forward pass on the tape: logits and the activations the method asked for.
    pub student: &'a Outputs,
    /// The teacher's outputs, when the method needs them.
    pub teacher: Option<&'a TeacherOutputs>,
    pub labels: &'a Labels,
    /// The method's own parameters on the tape, in [`Method::param_shapes`] order.
    pub params: &'a [Var],
}

/// A distillation method (or plain training on the labels).
pub trait Method: Send + Sync {
    /// `ce`, `hinton`, `dkd`: the name `--method` takes.
    fn name(&self) -> &'static str;
    /// Its settings by name, for logs and checkpoints.
    fn settings(&self) -> Vec<(&'static str, f32)>;
    /// What it reads from the teacher and the student.
    fn needs(&self) -> Needs;
    /// Parameters of its own (a hint regressor...), by name, trained with the student's.
    fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        Vec::new()
    }
    /// The batch's loss, a one-element node.
    fn loss(&self, g: &mut Graph, batch: &Batch) -> Var;
    /// The temperature of its soft targets, at which the loss's parts are logged; `None` for a
    /// method without a teacher.
    fn temperature(&self) -> Option<f32> {
        None
    }
    /// The objective's two terms as weighted in training, `(soft, hard)`, from the mean parts of
    /// the KD loss over some batches.
    fn weigh(&self, parts: &LossParts) -> (f64, f64);
}

/// Mean parts of the KD loss over some rows, at the method's temperature (see
/// `retort_kernels::kd_parts`): `KL = tckd + (1 - pt_y) nckd`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossParts {
    pub kl: f64,
    /// Cross-entropy on the labels, at temperature 1.
    pub ce: f64,
    pub tckd: f64,
    pub nckd: f64,
}

/// The teacher's logits as a tape constant; a method that needs them and gets none is misused.
fn teacher_logits(g: &mut Graph, batch: &Batch, method: &str) -> Var {
    let teacher = batch.teacher.unwrap_or_else(|| panic!("{method}: needs the teacher's logits"));
    g.constant(teacher.logits.clone())
}

/// The settings `--method` and its flags give; `None` takes the method's default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MethodSettings {
    pub temperature: Option<f32>,
    pub alpha: Option<f32>,
    pub beta: Option<f32>,
}

/// The method called `name`, with `settings` checked.
pub fn method(name: &str, settings: MethodSettings) -> Result<Box<dyn Method>> {
    let refuse = |flag: &'static str, value: Option<f32>| match value {
        Some(v) => Err(Error::setting(flag, v, format!("is not a setting of --method {name}"))),
        None => Ok(()),
    };
    match name {
        "ce" => {
            refuse("temperature", settings.temperature)?;
            refuse("alpha", settings.alpha)?;
            refuse("beta", settings.beta)?;
            Ok(Box::new(CrossEntropy))
        }
        "hinton" => {
            refuse("beta", settings.beta)?;
            let t = settings.temperature.unwrap_or(defaults::HINTON_TEMPERATURE);
            Ok(Box::new(Hinton::new(t, settings.alpha.unwrap_or(defaults::HINTON_ALPHA))?))
        }
        "dkd" => {
            let t = settings.temperature.unwrap_or(defaults::DKD_TEMPERATURE);
            let (alpha, beta) = (settings.alpha.unwrap_or(defaults::DKD_ALPHA), settings.beta.unwrap_or(defaults::DKD_BETA));
            Ok(Box::new(Dkd::new(t, alpha, beta)?))
        }
        _ => Err(Error::setting("method", name, "expected ce, hinton or dkd")),
    }
}

/// Refuses a temperature that is not positive and finite.
/// Refuses a temperature outside [0.01, 10000]: below, softmax(z / T) is one-hot in f32 for any
/// logit gap; above, it is uniform, and T^2 overflows the loss's scale.
fn check_temperature(t: f32) -> Result<()> {
    if !(0.01..=1e4).contains(&t) {
        return Err(Error::setting("temperature", t, "must be in [0.01, 10000]"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_take_their_defaults_and_refuse_foreign_settings() {
        let none = MethodSettings::default();
        assert_eq!(method("hinton", none).unwrap().settings(), vec![("temperature", 20.0), ("alpha", 0.9)]);
        assert_eq!(method("dkd", none).unwrap().settings(), vec![("temperature", 4.0), ("alpha", 1.0), ("beta", 8.0)]);
        assert!(!method("ce", none).unwrap().needs().teacher_logits);
        let e = method("hinton", MethodSettings { beta: Some(2.0), ..none }).err().unwrap().to_string();
        assert!(e.contains("beta") && e.contains("hinton"), "{e}");
        let e = method("dkd", MethodSettings { temperature: Some(0.0), ..none }).err().unwrap().to_string();
        assert!(e.contains("temperature"), "{e}");
        assert!(method("fitnets", none).err().unwrap().to_string().contains("expected ce, hinton or dkd"));
    }
}
