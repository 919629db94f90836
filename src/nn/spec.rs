//! Model specs: `mlp:784-1200-1200-10` is an MLP with inputs of 784, two hidden ReLU layers of
//! 1200 and 10 output logits. `cnn:1x28x28-c32k5p2-pool2-c64k5p2-pool2-fc1024-10` is a CNN on
//! 1-channel 28x28 images: a convolution of 32 channels with 5x5 kernels and padding 2 (then
//! ReLU), a 2x2 max-pool, ..., a fully connected ReLU layer of 1024, and 10 logits.

use crate::error::{Error, Result};
use std::fmt;

/// An architecture, parsed from a spec string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// Layer widths, input first, classes last: Linear+ReLU between, Linear at the end.
    Mlp { sizes: Vec<usize> },
    /// Images of `input = [channels, height, width]` (stored channels innermost), the hidden
    /// layers in order, then a linear layer to `classes` logits.
    Cnn { input: [usize; 3], layers: Vec<CnnLayer>, classes: usize },
}

/// A hidden layer of a CNN spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CnnLayer {
    /// `c{channels}k{kernel}[p{padding}][s{stride}]`: a convolution, then ReLU.
    Conv { channels: usize, kernel: usize, padding: usize, stride: usize },
    /// `pool{size}`: max over `size x size` windows at stride `size`.
    Pool { size: usize },
    /// `fc{width}`: a fully connected layer, then ReLU.
    Fc { width: usize },
}

impl fmt::Display for CnnLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CnnLayer::Conv { channels, kernel, padding, stride } => {
                write!(f, "c{channels}k{kernel}")?;
                if padding > 0 {
                    write!(f, "p{padding}")?;
                }
                if stride != 1 {
                    write!(f, "s{stride}")?;
                }
                Ok(())
            }
            CnnLayer::Pool { size } => write!(f, "pool{size}"),
            CnnLayer::Fc { width } => write!(f, "fc{width}"),
        }
    }
}

/// One layer of a CNN with the shape it sees: what the model's forward pass and the parameter
/// list both walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlannedLayer {
    /// A convolution or a pool over `[height, width, channels]` images.
    Conv {
        input: [usize; 3],
        kernel: usize,
        padding: usize,
        stride: usize,
        out_channels: usize,
    },
    Pool {
        input: [usize; 3],
        size: usize,
    },
    /// A linear layer; `relu` on all but the last.
    Linear {
        inputs: usize,
        outputs: usize,
        relu: bool,
    },
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
                let spec = ModelSpec::Mlp { sizes };
                spec.check_size().map_err(err)?;
                Ok(spec)
            }
            "cnn" => {
                let spec = parse_cnn(body).map_err(err)?;
                spec.plan().map_err(err)?;
                spec.check_size().map_err(err)?;
                Ok(spec)
            }
            other => Err(err(format!("unknown model kind `{other}`: expected mlp or cnn"))),
        }
    }

    /// Values per input example.
    pub fn input_len(&self) -> usize {
        match self {
            ModelSpec::Mlp { sizes } => sizes[0],
            ModelSpec::Cnn { input, .. } => input.iter().product(),
        }
    }

    /// Number of output classes.
    pub fn classes(&self) -> usize {
        match self {
            ModelSpec::Mlp { sizes } => *sizes.last().unwrap(),
            ModelSpec::Cnn { classes, .. } => *classes,
        }
    }

    /// The layers with the shapes they see, in order. Parsing checked that every layer fits.
    pub fn layers(&self) -> Vec<PlannedLayer> {
        match self {
            ModelSpec::Mlp { sizes } => sizes
                .windows(2)
                .enumerate()
                .map(|(i, w)| PlannedLayer::Linear { inputs: w[0], outputs: w[1], relu: i + 2 < sizes.len() })
                .collect(),
            ModelSpec::Cnn { .. } => self.plan().expect("a parsed CNN spec plans"),
        }
    }

    /// Each layer's name, in order: `convN`, `poolN` and `fcN` (from 0), the last `fcN` the
    /// logits. A method asks for hidden activations by these names.
    pub fn layer_names(&self) -> Vec<String> {
        let (mut convs, mut pools, mut fcs) = (0, 0, 0);
        let next = |counter: &mut usize, kind: &str| {
            *counter += 1;
            format!("{kind}{}", *counter - 1)
        };
        self.layers()
            .iter()
            .map(|layer| match layer {
                PlannedLayer::Conv { .. } => next(&mut convs, "conv"),
                PlannedLayer::Pool { .. } => next(&mut pools, "pool"),
                PlannedLayer::Linear { .. } => next(&mut fcs, "fc"),
            })
            .collect()
    }

    /// Parameter tensors: names and shapes, in a fixed order: `convN.weight`
    /// (`[kernel^2 * in_channels, out_channels]`), `convN.bias`, `fcN.weight` (`[in, out]`), `fcN.bias`.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (mut convs, mut fcs) = (0, 0);
        let mut shapes = Vec::new();
        for layer in self.layers() {
            match layer {
                PlannedLayer::Conv { input, kernel, out_channels, .. } => {
                    shapes.push((format!("conv{convs}.weight"), vec![kernel * kernel * input[2], out_channels]));
                    shapes.push((format!("conv{convs}.bias"), vec![out_channels]));
                    convs += 1;
                }
                PlannedLayer::Pool { .. } => {}
                PlannedLayer::Linear { inputs, outputs, .. } => {
                    shapes.push((format!("fc{fcs}.weight"), vec![inputs, outputs]));
                    shapes.push((format!("fc{fcs}.bias"), vec![outputs]));
                    fcs += 1;
                }
            }
        }
        shapes
    }

    /// Multiply-adds of each layer's forward pass, per example.
    fn layer_macs(&self) -> Vec<usize> {
        self.layers()
            .iter()
            .map(|l| match *l {
                PlannedLayer::Conv { input, kernel, padding, stride, out_channels } => {
                    let [h, w, c] = input;
                    let (oh, ow) = ((h + 2 * padding - kernel) / stride + 1, (w + 2 * padding - kernel) / stride + 1);
                    oh * ow * out_channels * kernel * kernel * c
                }
                PlannedLayer::Pool { .. } => 0,
                PlannedLayer::Linear { inputs, outputs, .. } => inputs * outputs,
            })
            .collect()
    }

    /// The most values any one activation (a column matrix included) takes at `batch` rows:
    /// what a device must hold in one buffer.
    pub fn max_activation_len(&self, batch: usize) -> usize {
        self.layers()
            .iter()
            .map(|l| match *l {
                PlannedLayer::Conv { input: [h, w, c], kernel, padding, stride, out_channels } => {
                    let positions = ((h + 2 * padding - kernel) / stride + 1) * ((w + 2 * padding - kernel) / stride + 1);
                    (h * w * c).max(positions * kernel * kernel * c).max(positions * out_channels)
                }
                PlannedLayer::Pool { input: [h, w, c], .. } => h * w * c,
                PlannedLayer::Linear { inputs, outputs, .. } => inputs.max(outputs),
            })
            .max()
            .unwrap_or(0)
            .saturating_mul(batch)
    }

    /// Multiply-adds of one forward pass per example.
    pub fn forward_macs(&self) -> usize {
        self.layer_macs().iter().sum()
    }

    /// FLOPs of one training step per example: forward, backward (no input gradient for the
    /// first layer), counting a multiply-add as two.
    pub fn train_flops(&self) -> usize {
        let macs = self.layer_macs();
        2 * (3 * macs.iter().sum::<usize>() - macs[0])
    }

    /// Walks a CNN's layers from its input shape, refusing any that does not fit.
    fn plan(&self) -> std::result::Result<Vec<PlannedLayer>, String> {
        let ModelSpec::Cnn { input, layers, classes } = self else { return Ok(self.layers()) };
        let [c, h, w] = *input;
        let too_large = |what: &str| format!("{what} does not fit in memory's address space");
        let volume = |d: [usize; 3]| d.iter().try_fold(1usize, |a, &x| a.checked_mul(x));
        // `image` is [height, width, channels] until the first fully connected layer.
        let (mut image, mut flat) = (Some([h, w, c]), volume([h, w, c]).ok_or_else(|| too_large("the input"))?);
        let mut plan = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let at = |what: String| format!("layer {} `{layer}`: {what}", i + 1);
            match *layer {
                CnnLayer::Conv { channels, kernel, padding, stride } => {
                    let Some([h, w, c]) = image else { return Err(at("a convolution after a fully connected layer".into())) };
                    let padded = |d: usize| padding.checked_mul(2).and_then(|p| p.checked_add(d));
                    let (Some(ph), Some(pw)) = (padded(h), padded(w)) else { return Err(at(too_large("the padded input"))) };
                    if kernel > ph || kernel > pw {
                        return Err(at(format!("a {kernel}x{kernel} kernel does not fit its {h}x{w}x{c} input with padding {padding}")));
                    }
                    plan.push(PlannedLayer::Conv { input: [h, w, c], kernel, padding, stride, out_channels: channels });
                    let out = [(ph - kernel) / stride + 1, (pw - kernel) / stride + 1, channels];
                    (image, flat) = (Some(out), volume(out).ok_or_else(|| at(too_large("its output")))?);
                }
                CnnLayer::Pool { size } => {
                    let Some([h, w, c]) = image else { return Err(at("a pool after a fully connected layer".into())) };
                    if size > h || size > w {
                        return Err(at(format!("a {size}x{size} window does not fit its {h}x{w}x{c} input")));
                    }
                    plan.push(PlannedLayer::Pool { input: [h, w, c], size });
                    let out = [h / size, w / size, c];
                    (image, flat) = (Some(out), volume(out).ok_or_else(|| at(too_large("its output")))?);
                }
                CnnLayer::Fc { width } => {
                    plan.push(PlannedLayer::Linear { inputs: flat, outputs: width, relu: true });
                    (image, flat) = (None, width);
                }
            }
        }
        plan.push(PlannedLayer::Linear { inputs: flat, outputs: *classes, relu: false });
        Ok(plan)
    }
}

impl ModelSpec {
    /// Refuses a model whose parameters, or whose activations for one example, would pass the
    /// size limit ([`crate::limits`]) or overflow: counted with checked arithmetic before any of
    /// it is allocated.
    fn check_size(&self) -> std::result::Result<(), String> {
        let limit = crate::limits::max_bytes();
        let overflow = || "its size overflows 64 bits".to_string();
        let (mut params, mut widest) = (0u64, 0u64);
        for layer in self.layers() {
            let (weights, outputs) = match layer {
                PlannedLayer::Linear { inputs, outputs, .. } => ((inputs as u64).checked_mul(outputs as u64), outputs as u64),
                PlannedLayer::Conv { input: [h, w, c], kernel, padding, stride, out_channels } => {
                    let out = |d: usize| ((d + 2 * padding - kernel) / stride + 1) as u64;
                    let window = (kernel as u64).checked_mul(kernel as u64).and_then(|k| k.checked_mul(c as u64));
                    let outputs = out(h).checked_mul(out(w)).and_then(|v| v.checked_mul(out_channels as u64)).ok_or_else(overflow)?;
                    (window.and_then(|k| k.checked_mul(out_channels as u64)), outputs)
                }
                PlannedLayer::Pool { input: [h, w, c], size } => (Some(0), ((h / size) * (w / size) * c) as u64),
            };
            let biases = match layer {
                PlannedLayer::Pool { .. } => 0,
                PlannedLayer::Linear { outputs, .. } => outputs as u64,
                PlannedLayer::Conv { out_channels, .. } => out_channels as u64,
            };
            params = weights.and_then(|w| w.checked_add(biases)).and_then(|p| p.checked_add(params)).ok_or_else(overflow)?;
            widest = widest.max(outputs);
        }
        let bytes = params.checked_mul(4).ok_or_else(overflow)?;
        if bytes > limit {
            return Err(format!(
                "{params} parameters take {}, over the {} limit ({})",
                crate::limits::describe(bytes),
                crate::limits::describe(limit),
                crate::limits::HOW_TO_RAISE
            ));
        }
        if widest.saturating_mul(4) > limit {
            return Err(format!("a layer's {widest} outputs per example pass the {} limit", crate::limits::describe(limit)));
        }
        Ok(())
    }
}

/// Parses the body of a `cnn:` spec; [`ModelSpec::plan`] then checks the shapes.
fn parse_cnn(body: &str) -> std::result::Result<ModelSpec, String> {
    let tokens: Vec<&str> = body.split('-').collect();
    let dims: Vec<usize> = tokens[0]
        .split('x')
        .map(|d| d.parse::<usize>().ok().filter(|&n| n > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| format!("the input `{}` is not channels x height x width, such as 1x28x28", tokens[0]))?;
    let [c, h, w] = dims[..] else { return Err(format!("the input `{}` is not channels x height x width, such as 1x28x28", tokens[0])) };
    if tokens.len() < 2 {
        return Err("a CNN needs at least an input and a number of classes, such as cnn:1x28x28-c8k5-10".into());
    }
    let classes = tokens[tokens.len() - 1]
        .parse::<usize>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("the last layer `{}` must be the number of classes", tokens[tokens.len() - 1]))?;
    let layers = tokens[1..tokens.len() - 1]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            parse_layer(t).ok_or_else(|| {
                format!(
                    "layer {} `{t}`: unknown layer: expected c<channels>k<kernel>[p<padding>][s<stride>], pool<size> or fc<width>",
                    i + 1
                )
            })
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(ModelSpec::Cnn { input: [c, h, w], layers, classes })
}

fn parse_layer(token: &str) -> Option<CnnLayer> {
    let positive = |s: &str| s.parse::<usize>().ok().filter(|&n| n > 0);
    if let Some(n) = token.strip_prefix("pool") {
        return positive(n).map(|size| CnnLayer::Pool { size });
    }
    if let Some(n) = token.strip_prefix("fc") {
        return positive(n).map(|width| CnnLayer::Fc { width });
    }
    // c<channels>k<kernel>[p<padding>][s<stride>], in that order.
    let rest = token.strip_prefix('c')?;
    let (channels, rest) = rest.split_once('k')?;
    let (kernel, rest) = rest.split_at(rest.find(['p', 's']).unwrap_or(rest.len()));
    let (padding, rest) = match rest.strip_prefix('p') {
        Some(r) => {
            let (p, r) = r.split_at(r.find('s').unwrap_or(r.len()));
            (p.parse::<usize>().ok()?, r)
        }
        None => (0, rest),
    };
    let stride = match rest.strip_prefix('s') {
        Some(s) => positive(s)?,
        None if rest.is_empty() => 1,
        None => return None,
    };
    Some(CnnLayer::Conv { channels: positive(channels)?, kernel: positive(kernel)?, padding, stride })
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Mlp { sizes } => write!(f, "mlp:{}", sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-")),
            ModelSpec::Cnn { input: [c, h, w], layers, classes } => {
                write!(f, "cnn:{c}x{h}x{w}")?;
                for l in layers {
                    write!(f, "-{l}")?;
                }
                write!(f, "-{classes}")
            }
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
    fn cnn_specs_parse_plan_and_round_trip() {
        let teacher = ModelSpec::parse("cnn:1x28x28-c32k5p2-pool2-c64k5p2-pool2-fc1024-10").unwrap();
        assert_eq!(teacher.to_string(), "cnn:1x28x28-c32k5p2-pool2-c64k5p2-pool2-fc1024-10");
        assert_eq!(teacher.input_len(), 784);
        assert_eq!(teacher.classes(), 10);
        let shapes: Vec<Vec<usize>> = teacher.param_shapes().into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            shapes,
            vec![vec![25, 32], vec![32], vec![800, 64], vec![64], vec![7 * 7 * 64, 1024], vec![1024], vec![1024, 10], vec![10]]
        );
        assert_eq!(teacher.forward_macs(), 28 * 28 * 32 * 25 + 14 * 14 * 64 * 800 + 3136 * 1024 + 10240);
        let student = ModelSpec::parse("cnn:1x28x28-c8k5p2-pool2-c16k5p2-pool2-fc128-10").unwrap();
        let count = |s: &ModelSpec| s.param_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum::<usize>();
        assert!(10 * count(&student) <= count(&teacher), "the student has a tenth of the teacher's parameters at most");
        let strided = ModelSpec::parse("cnn:3x9x7-c4k3s2-c5k2p1s3-7").unwrap();
        assert_eq!(strided.to_string(), "cnn:3x9x7-c4k3s2-c5k2p1s3-7");
        assert_eq!(strided.layers()[1], PlannedLayer::Conv { input: [4, 3, 4], kernel: 2, padding: 1, stride: 3, out_channels: 5 });
    }

    #[test]
    fn bad_cnn_specs_name_the_layer_and_the_shapes() {
        for (spec, needles) in [
            ("cnn:1x28x28-c8k5-pool2-c16k13-10", &["layer 3 `c16k13`", "13x13 kernel", "12x12x8"][..]),
            ("cnn:1x4x4-pool5-10", &["layer 1 `pool5`", "4x4x1"]),
            ("cnn:1x28x28-c8k5-conv3-10", &["layer 2 `conv3`", "unknown layer"]),
            ("cnn:1x28x28-fc10-c8k3-10", &["layer 2 `c8k3`", "after a fully connected"]),
            ("cnn:28x28-c8k5-10", &["channels x height x width"]),
            ("cnn:1x28x28-c8k5-pool2", &["number of classes"]),
            ("cnn:1x28x28-c0k5-10", &["layer 1 `c0k5`"]),
        ] {
            let e = ModelSpec::parse(spec).unwrap_err().to_string();
            for n in needles {
                assert!(e.contains(n), "{spec}: `{e}` lacks `{n}`");
            }
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (spec, needle) in [
            ("mlp:784", "at least"),
            ("mlp:784-x-10", "`x`"),
            ("mlp:784-0-10", "`0`"),
            ("rnn:3-4", "unknown model kind"),
            ("784-10", "kind:layers"),
        ] {
            let e = ModelSpec::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }
}
