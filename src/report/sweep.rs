//! The `sweep` report: test error and agreement over the (T, alpha) grid, mean and deviation
//! over seeds, beside `summary.csv`.

use super::csv::{Csv, num};
use super::html::Page;
use super::plot::{self, Labels};
use crate::error::Result;
use crate::files::write_atomic;
use crate::study::sweep::{SweepCell, SweepRun, SweepSettings, summarize};
use std::path::{Path, PathBuf};

/// Writes `dir/summary.csv` and `dir/report.html` for `runs`, each whole; returns their paths.
pub fn write_sweep(dir: &Path, settings: &SweepSettings, runs: &[SweepRun]) -> Result<Vec<PathBuf>> {
    let cells = summarize(runs);
    let mut csv = Csv::new(&[
        "temperature",
        "alpha",
        "runs",
        "mean_test_errors",
        "std_test_errors",
        "mean_agreement",
        "std_agreement",
        "mean_kl_t1",
        "std_kl_t1",
    ]);
    for c in &cells {
        csv.row(vec![
            c.temperature.map_or(String::new(), |t| t.to_string()),
            c.alpha.to_string(),
            c.runs.to_string(),
            num(c.mean_errors),
            num(c.std_errors),
            num(c.mean_agreement),
            num(c.std_agreement),
            num(c.mean_kl_t1),
            num(c.std_kl_t1),
        ]);
    }
    let (summary, report) = (dir.join("summary.csv"), dir.join("report.html"));
    write_atomic(&summary, csv.finish().as_bytes())?;
    write_atomic(&report, page(settings, runs, &cells)?.as_bytes())?;
    Ok(vec![summary, report])
}

/// A named line: its `(T, value)` points.
type Series = (String, Vec<(f64, f64)>);

fn page(settings: &SweepSettings, runs: &[SweepRun], cells: &[SweepCell]) -> Result<String> {
    const TITLE: &str = "Temperature and alpha";
    let mut page = Page::new(TITLE);
    let total = settings.runs().len();
    let n = runs.first().map_or(0, |r| r.test_n);
    page.facts(&[
        ("teacher", format!("{} ({})", settings.teacher, settings.teacher_checkpoint)),
        ("student", settings.student.clone()),
        ("data", format!("{} ({n} test examples)", settings.data)),
        (
            "grid",
            format!(
                "T in {:?}, alpha in {:?}, {} seeds: {total} runs ({} finished)",
                settings.temperatures,
                settings.alphas,
                settings.seeds,
                runs.len()
            ),
        ),
        ("each run", format!("{} epochs, batch {}, lr {} (SGD, momentum 0.9, cosine)", settings.epochs, settings.batch, settings.lr)),
        ("time", format!("{:.0} s of training in all", runs.iter().map(|r| r.seconds).sum::<f64>())),
    ]);
    let baseline = cells.iter().find(|c| c.temperature.is_none());
    let alphas: Vec<f32> = settings.alphas.iter().copied().filter(|&a| a > 0.0).collect();
    let temps = &settings.temperatures;
    let cell = |t: f32, a: f32| cells.iter().find(|c| c.temperature == Some(t) && c.alpha == a);

    // The heat map: a row per alpha, the baseline's row repeated across T.
    let mut rows = Vec::new();
    let mut values = Vec::new();
    if let Some(b) = baseline {
        rows.push("0 (labels)".to_string());
        values.extend(temps.iter().map(|_| b.mean_errors));
    }
    for &a in &alphas {
        rows.push(a.to_string());
        values.extend(temps.iter().map(|&t| cell(t, a).map_or(f64::NAN, |c| c.mean_errors)));
    }
    let cols: Vec<String> = temps.iter().map(|t| t.to_string()).collect();
    let heat = plot::heat_map(
        Labels { title: "Mean test errors over seeds", x: "temperature T", y: "alpha" },
        &rows,
        &cols,
        &values,
        1,
        (640, 120 + 48 * rows.len() as u32),
    )?;

    // Error and agreement against T, a line per alpha, the baseline flat.
    let against_t = |mean: &dyn Fn(&SweepCell) -> (f64, f64)| {
        let mut series = Vec::new();
        let mut errors = Vec::new();
        if let Some(b) = baseline {
            let (m, d) = mean(b);
            series.push(("alpha 0 (labels)".to_string(), temps.iter().map(|&t| (t as f64, m)).collect::<Vec<_>>()));
            errors.push(temps.iter().map(|_| d).collect::<Vec<_>>());
        }
        for &a in &alphas {
            let points: Vec<(f64, (f64, f64))> = temps.iter().filter_map(|&t| cell(t, a).map(|c| (t as f64, mean(c)))).collect();
            series.push((format!("alpha {a}"), points.iter().map(|&(t, (m, _))| (t, m)).collect()));
            errors.push(points.iter().map(|&(_, (_, d))| d).collect());
        }
        (series, errors)
    };
    let log_x = temps.len() > 1;
    // Each series a little to the side of the others, so their error bars do not hide each other.
    let spread = |series: Vec<Series>| -> Vec<Series> {
        let mid = (series.len() as f64 - 1.0) / 2.0;
        let shift = |k: usize| 1.04f64.powf(k as f64 - mid);
        series
            .into_iter()
            .enumerate()
            .map(|(k, (name, points))| (name, points.into_iter().map(|(t, m)| (t * shift(k), m)).collect()))
            .collect()
    };
    let plot_against_t = |title: &str, y: &str, mean: &dyn Fn(&SweepCell) -> (f64, f64)| {
        let (series, errors) = against_t(mean);
        plot::lines_with_error_bars(Labels { title, x: "temperature T", y }, &spread(series), &errors, log_x, (640, 360))
    };
    let error_plot = plot_against_t("Test errors against T (mean ± sd over seeds)", "test errors", &|c| (c.mean_errors, c.std_errors))?;
    let agreement_plot =
        plot_against_t("Agreement with the teacher against T", "agreement (%)", &|c| (100.0 * c.mean_agreement, 100.0 * c.std_agreement))?;
    page.section(
        "grid",
        "Test error over the grid",
        "Each cell is the mean over seeds of the student's test errors, distilled at that temperature with that weight on the soft term; alpha = 0 is the student on the labels alone (T plays no part), the baseline.",
        &[heat],
        &["summary.csv", "runs.jsonl"],
    );
    page.section(
        "against-t",
        "Against the temperature",
        "The same means with one standard deviation over seeds either way, and the share of test examples where student and teacher pick the same class.",
        &[error_plot, agreement_plot],
        &["summary.csv"],
    );
    Ok(page.finish(TITLE))
}
