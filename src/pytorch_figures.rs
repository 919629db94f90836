//! PyTorch's figures for the kernels `bench kernels` times, read from the JSON lines of
//! `scripts/pytorch_bench.py softmax kd matmul`, and matched to ours by what they compute.

use crate::error::{Error, Result};
use crate::kernel_bench::{KD_FUSED, KernelTiming, MATMUL, SOFTMAX};
use std::path::Path;

/// One line of `scripts/pytorch_bench.py`: a bench's name (`softmax 4096x1000`, `kd 128x10`,
/// `matmul 128x784x1200`) and its median time or its rate.
#[derive(Clone, Debug, PartialEq)]
pub struct PytorchFigure {
    pub bench: String,
    pub median_us: Option<f64>,
    pub gflops: Option<f64>,
}

/// A file of such lines, and where they were measured.
#[derive(Clone, Debug, PartialEq)]
pub struct PytorchFigures {
    /// `torch <version>, <device>`, from the first line.
    pub measured_by: String,
    pub figures: Vec<PytorchFigure>,
}

/// Reads `path`: one JSON object a line, each with a `bench` and a positive finite `median_us`
/// or `gflops`; blank lines are skipped. Any other line is an error naming it.
pub fn read_pytorch_figures(path: &Path) -> Result<PytorchFigures> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_pytorch_figures(&text, path)
}

/// [`read_pytorch_figures`] on `text`, read from `path` (named in its errors).
pub fn parse_pytorch_figures(text: &str, path: &Path) -> Result<PytorchFigures> {
    let bad = |line: usize, reason: String| Error::Figures { path: path.to_path_buf(), line, reason };
    let mut figures = Vec::new();
    let mut measured_by = None;
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
        let bench = v["bench"].as_str().ok_or_else(|| bad(i + 1, "no \"bench\" name".into()))?;
        let number = |key: &str| -> Result<Option<f64>> {
            match &v[key] {
                serde_json::Value::Null => Ok(None),
                n => match n.as_f64() {
                    Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
                    _ => Err(bad(i + 1, format!("\"{key}\" is {n}, not a positive number"))),
                },
            }
        };
        let (median_us, gflops) = (number("median_us")?, number("gflops")?);
        if median_us.is_none() && gflops.is_none() {
            return Err(bad(i + 1, "neither \"median_us\" nor \"gflops\"".into()));
        }
        measured_by.get_or_insert_with(|| {
            let field = |key: &str| v[key].as_str().unwrap_or("?").to_string();
            format!("torch {}, {}", field("torch"), field("device"))
        });
        figures.push(PytorchFigure { bench: bench.to_string(), median_us, gflops });
    }
    let measured_by = measured_by.ok_or_else(|| bad(1, "the file holds no figures".into()))?;
    Ok(PytorchFigures { measured_by, figures })
}

/// PyTorch's time for the work `k` did, in microseconds, where the file has it: softmax as
/// `torch.softmax(x / T, 1)`, the fused KD pass (loss and gradient) as PyTorch's loss forward
/// and backward, a matmul without transposes as `torch.mm`.
pub fn pytorch_us(figures: &PytorchFigures, k: &KernelTiming) -> Option<f64> {
    let shape = k.shape.split(", ").next()?;
    let bench = match k.kernel.as_str() {
        SOFTMAX => format!("softmax {shape}"),
        KD_FUSED => format!("kd {shape}"),
        MATMUL => format!("matmul {shape}"),
        _ => return None,
    };
    let f = figures.figures.iter().find(|f| f.bench == bench)?;
    match (f.median_us, f.gflops, k.gflops) {
        (Some(us), _, _) => Some(us),
        // The same flops at PyTorch's rate.
        (None, Some(theirs), Some(ours)) => Some(k.median_us * ours / theirs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<PytorchFigures> {
        let path = std::env::temp_dir().join(format!("retort-pytorch-figures-{name}-{}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let figures = read_pytorch_figures(&path);
        std::fs::remove_file(&path).unwrap();
        figures
    }

    #[test]
    fn reads_the_scripts_lines_and_refuses_any_other() {
        let good = "{\"bench\": \"kd 128x10\", \"device\": \"cuda\", \"torch\": \"2.15.0\", \"median_us\": 190.5}\n\n{\"bench\": \"matmul 8x8x8\", \"gflops\": 1.5}\n";
        let figures = read("good", good).unwrap();
        assert_eq!(figures.measured_by, "torch 2.15.0, cuda");
        assert_eq!(
            figures.figures,
            [
                PytorchFigure { bench: "kd 128x10".into(), median_us: Some(190.5), gflops: None },
                PytorchFigure { bench: "matmul 8x8x8".into(), median_us: None, gflops: Some(1.5) },
            ]
        );
        for (name, text, needle) in [
            ("empty", "\n", "line 1: not a line of scripts/pytorch_bench.py: the file holds no figures"),
            ("text", "softmax 1.0\n", "line 1"),
            ("nameless", "{\"median_us\": 1.0}\n", "no \"bench\" name"),
            ("timeless", "{\"bench\": \"kd 128x10\"}\n", "neither"),
            ("zero", "{\"bench\": \"kd 128x10\", \"median_us\": 0}\n", "not a positive number"),
            ("string", "{\"bench\": \"kd 128x10\", \"gflops\": \"fast\"}\n", "not a positive number"),
        ] {
            let err = read(name, text).unwrap_err().to_string();
            assert!(err.contains(needle), "{name}: {err}");
        }
    }
}
