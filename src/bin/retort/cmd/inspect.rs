//! `retort inspect`: a teacher's soft targets and a student's fidelity, as one HTML report.

use super::{check_writable, load_data, open_device, temperatures};
use crate::args::{Common, DataArgs};
use anyhow::{Context, Result};
use clap::Args;
use retort::checkpoint;
use retort::kd::defaults;
use retort::report::{ModelInfo, ReportHeader, write_inspection};
use retort::study::{InspectConfig, inspect};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct InspectArgs {
    /// The teacher's checkpoint.
    #[arg(long)]
    pub teacher: PathBuf,
    /// A student's checkpoint, to compare with the teacher.
    #[arg(long)]
    pub student: Option<PathBuf>,
    /// Temperatures of the soft-target and entropy figures, comma-separated (1,2,4,8,20).
    #[arg(long)]
    pub temperatures: Option<String>,
    /// The temperature of the dark-knowledge matrix and of the gradient split.
    #[arg(long, default_value_t = defaults::HINTON_TEMPERATURE, allow_negative_numbers = true)]
    pub temperature: f32,
    /// The soft term's weight in the gradient split, in [0, 1].
    #[arg(long, default_value_t = defaults::HINTON_ALPHA, allow_negative_numbers = true)]
    pub alpha: f32,
    /// Test examples of each kind in the soft-target figure.
    #[arg(long, default_value_t = 2)]
    pub examples: usize,
    /// The report's folder: report.html and a CSV file for each figure.
    #[arg(long, default_value = "retort-inspect")]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(a: InspectArgs) -> Result<()> {
    let config = InspectConfig {
        temperatures: temperatures(a.temperatures.as_deref())?,
        temperature: a.temperature,
        alpha: a.alpha,
        examples_per_kind: a.examples,
    };
    config.validate()?;
    check_writable(&a.out)?;
    let device = open_device(&a.common, false)?;
    let teacher = checkpoint::load(&a.teacher, &device, None)?.model;
    let student = a.student.as_ref().map(|p| checkpoint::load(p, &device, None)).transpose()?.map(|c| c.model);
    let splits = load_data(&a.data)?;
    eprintln!("inspecting {} on the {} test examples of {}", teacher.spec, splits.test.len(), splits.source);
    let inspection = inspect(&teacher, student.as_ref(), &splits.test, &config)?;
    let info = |path: &Path, spec: String, params: usize| -> Result<ModelInfo> {
        let bytes = std::fs::metadata(path).with_context(|| path.display().to_string())?.len();
        Ok(ModelInfo { spec, params, checkpoint: Some((path.to_path_buf(), bytes)) })
    };
    let header = ReportHeader {
        teacher: info(&a.teacher, teacher.spec.to_string(), teacher.param_count())?,
        student: match (&a.student, &student) {
            (Some(p), Some(s)) => Some(info(p, s.spec.to_string(), s.param_count())?),
            _ => None,
        },
        data: splits.source.clone(),
    };
    let files = write_inspection(&a.out, &inspection, &header)?;
    println!("{} ({} files, measured in {:.1}s)", a.out.join("report.html").display(), files.len(), inspection.seconds);
    Ok(())
}
