//! What the CLI shows: progress bars on stderr, epoch lines, JSONL metrics, tables.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::Path;

/// A bar over the batches of one epoch; hidden when stderr is not a terminal or `quiet`.
pub fn epoch_bar(label: &str, batches: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(batches as u64);
    bar.set_style(ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len} {msg} ({eta})").unwrap().progress_chars("=> "));
    bar.set_prefix(label.to_string());
    bar
}

/// Appends one JSON object as a line to `path`.
pub fn append_jsonl(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    writeln!(f, "{value}")?;
    Ok(())
}

/// An f32 setting or metric as the f64 with the same shortest decimal, so JSON shows
/// `0.9` and not `0.8999999761581421`.
pub fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// Prints rows with columns padded to their widest cell, the first row as a header.
pub fn print_table(rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| if c == 0 { format!("{cell:<w$}") } else { format!("{cell:>w$}") })
            .collect();
        println!("{}", line.join("  "));
        if i == 0 {
            println!("{}", widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  "));
        }
    }
}
