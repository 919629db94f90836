//! Model specs: `mlp:784-1200-1200-10` is an MLP with inputs of 784, two hidden ReLU layers of
//! 1200 and 10 output logits.

use crate::error::{Error, Result};
use std::fmt;

/// An architecture, parsed from a spec string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// Layer widths, input first, classes last: Linear+ReLU between, Linear at the end.
    Mlp { sizes: Vec<usize> },
}

impl ModelSpec {
    /// Parses a spec such as `mlp:784-800-800-10`.
    pub fn parse(spec: &str) -> Result<Self> {
        let err = |reason: String| Error::Spec { spec: spec.to_string(), reason };
        let (kind, body) = spec.split_once(':').ok_or_else(|| err("expected `kind:layers`, such as mlp:784-800-800-10".into()))?;
        match kind {
            "mlp" => {
                let sizes = body
                    .split('-')
                    .map(|s| s.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| err(format!("`{s}` is not a positive layer width"))))
                    .collect::<Result<Vec<_>>>()?;
                if sizes.len() < 2 {
                    return Err(err("an MLP needs at least an input and an output width".into()));
                }
                Ok(ModelSpec::Mlp { sizes })
            }
            "cnn" => Err(err("CNN specs are not supported by this build yet".into())),
            other => Err(err(format!("unknown model kind `{other}`: expected mlp"))),
        }
    }

    /// Values per input example.
    pub fn input_len(&self) -> usize {
        match self {
            ModelSpec::Mlp { sizes } => sizes[0],
        }
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        match self {
            ModelSpec::Mlp { sizes } => *sizes.last().unwrap(),
        }
    }

    /// Parameter tensors: names and shapes, in a fixed order.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            ModelSpec::Mlp { sizes } => sizes
                .windows(2)
                .enumerate()
                .flat_map(|(i, w)| [(format!("fc{i}.weight"), vec![w[0], w[1]]), (format!("fc{i}.bias"), vec![w[1]])])
                .collect(),
        }
    }

    /// Multiply-adds of one forward pass per example.
    pub fn forward_macs(&self) -> usize {
        match self {
            ModelSpec::Mlp { sizes } => sizes.windows(2).map(|w| w[0] * w[1]).sum(),
        }
    }

    /// FLOPs of one training step per example: forward, backward (no input gradient for the
    /// first layer), counting a multiply-add as two.
    pub fn train_flops(&self) -> usize {
        match self {
            ModelSpec::Mlp { sizes } => {
                let first = sizes[0] * sizes[1];
                2 * (3 * self.forward_macs() - first)
            }
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Mlp { sizes } => write!(f, "mlp:{}", sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_round_trips() {
        let s = ModelSpec::parse("mlp:784-1200-1200-10").unwrap();
        assert_eq!(s, ModelSpec::Mlp { sizes: vec![784, 1200, 1200, 10] });
        assert_eq!(s.to_string(), "mlp:784-1200-1200-10");
        assert_eq!(s.param_shapes().len(), 6);
        assert_eq!(s.forward_macs(), 784 * 1200 + 1200 * 1200 + 1200 * 10);
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, needle) in [("mlp:784", "at least"), ("mlp:784-x-10", "`x`"), ("mlp:784-0-10", "`0`"), ("rnn:3-4", "unknown model kind"), ("784-10", "kind:layers")] {
            let e = ModelSpec::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
