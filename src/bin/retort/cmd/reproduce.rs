//! `retort reproduce hinton-mnist`: section 3 of Hinton, Vinyals and Dean (2015), measured
//! figure beside the paper's.

use super::{check_writable, load_data, open_device, parse_list};
use crate::args::{Common, DataArgs};
use crate::output::Terminal;
use anyhow::{Result, bail};
use clap::Args;
use retort::report::write_reproduction;
use retort::study::reproduce::{Part, Recipe, reproduce, saved_results};
use retort::train::Progress;
use std::path::PathBuf;

#[derive(Args)]
pub struct ReproduceArgs {
    /// The experiment: hinton-mnist.
    pub experiment: String,
    /// Parts to run, comma-separated: main, omit3, sevens-eights, temperature (default: all).
    #[arg(long)]
    pub part: Option<String>,
    /// The folder of the checkpoints, part-*.json, REPORT.md and report.html; a teacher already
    /// trained there is reused.
    #[arg(long, default_value = "retort-hinton-mnist")]
    pub out: PathBuf,
    /// Recipe overrides (the defaults depend on the data: full MNIST or the embedded subset).
    #[arg(long)]
    pub teacher_epochs: Option<usize>,
    #[arg(long)]
    pub student_epochs: Option<usize>,
    #[arg(long)]
    pub temperature_epochs: Option<usize>,
    /// The temperature part's temperatures, comma-separated.
    #[arg(long)]
    pub temperatures: Option<String>,
    /// The temperature part's student widths, comma-separated.
    #[arg(long)]
    pub widths: Option<String>,
    /// The temperature part's seeds per (width, T).
    #[arg(long)]
    pub seeds: Option<u64>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(a: ReproduceArgs) -> Result<()> {
    if a.experiment != "hinton-mnist" {
        bail!("reproduce: unknown experiment `{}` (expected hinton-mnist)", a.experiment);
    }
    let parts = match &a.part {
        Some(list) => list.split(',').map(|p| Part::parse(p.trim())).collect::<retort::Result<Vec<_>>>()?,
        None => Part::ALL.to_vec(),
    };
    let full = a.data.data.is_some();
    let mut recipe = if full { Recipe::full_mnist() } else { Recipe::subset() };
    recipe.teacher_epochs = a.teacher_epochs.unwrap_or(recipe.teacher_epochs);
    recipe.student_epochs = a.student_epochs.unwrap_or(recipe.student_epochs);
    recipe.temperature_epochs = a.temperature_epochs.unwrap_or(recipe.temperature_epochs);
    recipe.seeds = a.seeds.unwrap_or(recipe.seeds);
    if let Some(list) = &a.temperatures {
        recipe.temperatures = parse_list("--temperatures", list)?;
    }
    if let Some(list) = &a.widths {
        recipe.widths = parse_list("--widths", list)?.into_iter().map(|w| w as usize).filter(|&w| w > 0).collect();
    }
    if recipe.teacher_epochs == 0
        || recipe.student_epochs == 0
        || recipe.temperature_epochs == 0
        || recipe.seeds == 0
        || recipe.widths.is_empty()
    {
        bail!("reproduce: epochs, seeds and widths must be at least 1");
    }
    check_writable(&a.out)?;
    let splits = load_data(&a.data)?;
    let device = open_device(&a.common, false)?;
    let mut progress = Terminal::new(false);
    if !full {
        progress.note("on the embedded subset, not full MNIST (--data DIR runs it on full MNIST)");
    }
    reproduce(&parts, &recipe, &splits, &device, &a.out, &mut progress)?;
    let files = write_reproduction(&a.out, &recipe, &splits.source, full, &saved_results(&a.out)?)?;
    println!("{}", std::fs::read_to_string(&files[0])?);
    println!("written: {}", files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", "));
    Ok(())
}
