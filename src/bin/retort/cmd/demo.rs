//! `retort demo`: teacher, student on labels and distilled student on the embedded data.

use super::{check_writable, load_data, open_device};
use crate::args::{Common, DataArgs};
use crate::output::{Terminal, print_table};
use anyhow::{Context, Result};
use clap::Args;
use retort::demo::{self, DemoConfig};
use retort::nn::ModelSpec;
use retort::train::Progress;
use std::path::PathBuf;

#[derive(Args)]
pub struct DemoArgs {
    /// The teacher's architecture.
    #[arg(long, default_value = "mlp:784-1200-1200-10")]
    pub teacher: String,
    /// The students' architecture.
    #[arg(long, default_value = "mlp:784-800-800-10")]
    pub student: String,
    /// Epochs for each student.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Epochs for the teacher (dropout and jitter make it learn slower and generalise better).
    #[arg(long, default_value_t = 30)]
    pub teacher_epochs: usize,
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the report on the teacher and the distilled student.
    #[arg(long, default_value = "retort-demo")]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub common: Common,
}
pub fn run(a: DemoArgs) -> Result<()> {
    let device = open_device(&a.common, a.json)?;
    let splits = load_data(&a.data)?;
    let config = DemoConfig {
        teacher: ModelSpec::parse(&a.teacher)?,
        student: ModelSpec::parse(&a.student)?,
        teacher_epochs: a.teacher_epochs,
        epochs: a.epochs,
    };
    check_writable(&a.out)?;
    let mut progress = Terminal::new(a.json);
    progress.note(&format!("demo on {}: teacher {} epochs, students {} epochs", splits.source, a.teacher_epochs, a.epochs));
    let (record, models) = demo::run(&config, &device, &splits, &mut progress).context("the demo")?;
    let report = demo::report(&models, &record, &splits, &a.out)?;
    if a.json {
        eprintln!("report: {}", report.display());
        println!("{}", serde_json::to_string(&record)?);
        return Ok(());
    }
    let mut rows = vec![vec!["model".to_string(), "spec".into(), "params".into(), "test errors".into(), "seconds".into()]];
    for m in [&record.teacher, &record.student, &record.distilled] {
        rows.push(vec![
            m.label.clone(),
            m.spec.clone(),
            m.params.to_string(),
            format!("{} / {}", m.errors, m.n),
            format!("{:.1}", m.seconds),
        ]);
    }
    println!();
    print_table(&rows);
    println!(
        "\ndistillation T = {}, alpha = {}: the distilled student makes {} errors against {} on labels alone.",
        record.temperature, record.alpha, record.distilled.errors, record.student.errors
    );
    println!("what the teacher's soft targets carry, and how the student follows them: {}", report.display());
    Ok(())
}
