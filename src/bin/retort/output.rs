//! What the CLI shows: progress bars on a terminal, plain lines elsewhere, epoch lines, tables.

use indicatif::{ProgressBar, ProgressStyle};
use retort::train::{EpochRecord, Progress};
use std::io::IsTerminal;

/// The training loop's progress on stderr: a bar per stretch of batches on a terminal; on
/// anything else (CI, a log file) no bars, only the epoch and note lines. `quiet` shows nothing.
pub struct Terminal {
    bar: Option<ProgressBar>,
    quiet: bool,
    bars: bool,
}

impl Terminal {
    pub fn new(quiet: bool) -> Self {
        Terminal { bar: None, quiet, bars: !quiet && std::io::stderr().is_terminal() }
    }
}

impl Progress for Terminal {
    fn start(&mut self, label: &str, total: usize) {
        if !self.bars {
            return;
        }
        let bar = ProgressBar::new(total as u64);
        let style = ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} {msg} ({eta})").expect("a valid template");
        bar.set_style(style.progress_chars("=> "));
        bar.set_prefix(label.to_string());
        self.bar = Some(bar);
    }
    fn batch(&mut self, done: usize, loss: f32) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            if loss != 0.0 {
                bar.set_message(format!("loss {loss:.4}"));
            }
        }
    }
    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
    fn epoch(&mut self, r: &EpochRecord) {
        if self.quiet {
            return;
        }
        let mut line = format!(
            "{} epoch {:>3}/{}  loss {:.4}  lr {:.4}  test errors {:>5} ({:.2}%)",
            r.model,
            r.epoch,
            r.epochs,
            r.loss,
            r.lr,
            r.test_errors,
            100.0 * (1.0 - r.test_accuracy)
        );
        if let (Some(agree), Some(kl)) = (r.agreement, r.kl_t1) {
            line += &format!("  agreement {:.2}%  kl_t1 {kl:.4}", 100.0 * agree);
        }
        if let (Some(soft), Some(hard)) = (r.soft_loss, r.hard_loss) {
            line += &format!("  soft {soft:.4}  hard {hard:.4}");
        }
        if let (Some(tckd), Some(nckd)) = (r.tckd, r.nckd) {
            line += &format!("  tckd {}  nckd {}", small(tckd), small(nckd));
        }
        eprintln!("{line}  {:.1}s", r.seconds);
        if let Some(f) = r.train {
            eprintln!(
                "{} on the training set: agreement {:.2}%  kl_t1 {:.4}  tckd {}  nckd {}",
                r.model,
                100.0 * f.agreement,
                f.kl_t1,
                small(f.tckd),
                small(f.nckd)
            );
        }
    }
    fn note(&mut self, line: &str) {
        match (&self.bar, self.quiet) {
            (_, true) => {}
            // Above a running bar, which stays at the bottom.
            (Some(bar), false) => bar.println(line),
            (None, false) => eprintln!("{line}"),
        }
    }
}

/// A figure that may be tiny (the KD parts at a high T): three significant digits either way.
fn small(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 { format!("{v:.2e}") } else { format!("{v:.4}") }
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
