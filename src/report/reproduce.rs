//! The reproduction's reports: `REPORT.md` (measured | paper | difference, part by part) and
//! `report.html` with the same tables and the temperature plot.

use super::html::{Page, escape};
use super::plot::{self, Labels};
use crate::error::Result;
use crate::files::write_atomic;
use crate::study::reproduce::{Figure, Part, PartResult, Recipe, temperature_cells};
use std::path::{Path, PathBuf};

/// Writes `dir/REPORT.md` and `dir/report.html` from every part's `results`; `data` says what
/// data they ran on. Returns their paths.
pub fn write_reproduction(dir: &Path, recipe: &Recipe, data: &str, full: bool, results: &[PartResult]) -> Result<Vec<PathBuf>> {
    let (md, html) = (dir.join("REPORT.md"), dir.join("report.html"));
    write_atomic(&md, markdown(recipe, data, full, results).as_bytes())?;
    write_atomic(&html, page(recipe, data, full, results)?.as_bytes())?;
    Ok(vec![md, html])
}

const TITLE: &str = "Hinton, Vinyals and Dean (2015), section 3, on MNIST";

fn preamble(recipe: &Recipe, data: &str, full: bool) -> Vec<String> {
    let mut lines = Vec::new();
    if !full {
        lines.push(format!("**On the embedded subset ({data}), not full MNIST: the paper's figures are for 60,000 training and 10,000 test images; compare shares, not counts.**"));
    } else {
        lines.push(format!("Data: {data}."));
    }
    lines.push(format!(
        "Recipe: teacher {} with dropout 0.3 (inputs 0.1) and +-2 pixel jitter, {} epochs; students {}, {} epochs; the temperature part's students {} epochs each; SGD 0.05 with momentum 0.9, batch 128, cosine schedule with a one-epoch warm-up; distillation at T = {}, alpha = {}. The paper trained for far longer (and with max-norm constraints), which is where most of the differences below come from.",
        recipe.teacher, recipe.teacher_epochs, recipe.student, recipe.student_epochs, recipe.temperature_epochs, recipe.temperature, recipe.alpha
    ));
    lines.push("Offsets are fitted on the training set, never the test set: the offset on a grid of step 0.1 that leaves the fewest errors on the whole training set (the smallest on ties).".into());
    lines
}

fn part_title(part: Part) -> &'static str {
    match part {
        Part::Main => "1. The main table",
        Part::Omit3 => "2. A transfer set without the 3s",
        Part::SevensEights => "3. A transfer set of 7s and 8s only",
        Part::Temperature => "4. Temperature against student size",
    }
}

fn cell(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "-".into();
    }
    let digits = if unit == "errors" && v.fract() == 0.0 { 0 } else { 1 };
    format!("{v:.digits$}{}", if unit == "%" { "%" } else { "" })
}

/// The paper's figure and measured minus paper, as the tables show them.
fn paper_and_difference(f: &Figure) -> (String, String) {
    match (f.paper, f.measured) {
        (Some(p), Some(m)) => (cell(p, &f.unit), cell(m - p, &f.unit)),
        (Some(p), None) => (cell(p, &f.unit), "-".into()),
        (None, _) => ("-".into(), "-".into()),
    }
}

fn markdown(recipe: &Recipe, data: &str, full: bool, results: &[PartResult]) -> String {
    let mut md = format!("# {TITLE}\n\n");
    for line in preamble(recipe, data, full) {
        md += &format!("{line}\n\n");
    }
    for r in results {
        md += &format!("## {} ({:.0} s)\n\n", part_title(r.part), r.seconds);
        if r.part == Part::Temperature {
            md += "| student | T | mean test errors | sd over seeds | seeds |\n| --- | --- | --- | --- | --- |\n";
            for (w, t, m, d) in temperature_cells(&r.runs) {
                md += &format!("| 784-{w}-{w}-10 | {t} | {m:.1} | {d:.1} | {} |\n", r.runs.iter().filter(|x| x.0 == w && x.1 == t).count());
            }
            md += "\nPaper: with 300 or more units, every T above 8 gives about the same; with 30 units, T from 2.5 to 4 works best.\n\n";
            continue;
        }
        md += "| figure | measured | paper | difference |\n| --- | --- | --- | --- |\n";
        for f in &r.figures {
            let (paper, diff) = paper_and_difference(f);
            md += &format!("| {} | {} | {paper} | {diff} |\n", f.what, cell(f.measured.unwrap_or(f64::NAN), &f.unit));
        }
        md += "\n";
    }
    md
}

fn page(recipe: &Recipe, data: &str, full: bool, results: &[PartResult]) -> Result<String> {
    let mut page = Page::new(TITLE);
    for line in preamble(recipe, data, full) {
        page.note(&line.replace("**", ""));
    }
    for r in results {
        let id = r.part.name();
        if r.part == Part::Temperature {
            let cells = temperature_cells(&r.runs);
            let mut series = Vec::new();
            let mut errors = Vec::new();
            for &w in &recipe.widths {
                let mine: Vec<_> = cells.iter().filter(|c| c.0 == w).collect();
                series.push((format!("784-{w}-{w}-10"), mine.iter().map(|c| (c.1 as f64, c.2)).collect::<Vec<_>>()));
                errors.push(mine.iter().map(|c| c.3).collect::<Vec<_>>());
            }
            let figure = plot::lines_with_error_bars(
                Labels { title: "Test errors against T (mean ± sd over seeds)", x: "temperature T", y: "test errors" },
                &series,
                &errors,
                true,
                (680, 380),
            )?;
            page.section(id, part_title(r.part), "Each student width distilled at each T; the paper: with 300 or more units every T above 8 gives about the same, with 30 units T from 2.5 to 4 works best.", &[figure], &["part-temperature.json"]);
            continue;
        }
        let mut table = String::from("<table class=\"facts\"><tr><th>figure</th><th>measured</th><th>paper</th><th>difference</th></tr>");
        for f in &r.figures {
            let (paper, diff) = paper_and_difference(f);
            table += &format!(
                "<tr><td>{}</td><td>{}</td><td>{paper}</td><td>{diff}</td></tr>",
                escape(&f.what),
                cell(f.measured.unwrap_or(f64::NAN), &f.unit)
            );
        }
        table += "</table>";
        page.section(id, part_title(r.part), &format!("Measured in {:.0} s.", r.seconds), &[table], &[&format!("part-{id}.json")]);
    }
    Ok(page.finish(TITLE))
}
