//! `retort sweep` end to end: summary.csv is the mean and deviation of runs.jsonl; a sweep cut
//! short (a kill mid-line included) resumes without redoing a finished run; other settings for
//! the same folder, and bad grids, are refused with one error line.

use retort::study::sweep::{SweepRun, mean_std};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn retort(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retort")).args(args).env("RETORT_DEVICE", "cpu").output().expect("run retort")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retort-sweep-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sweep(teacher: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["sweep", "--teacher", s(teacher), "--student", "mlp:784-8-10", "--temperatures", "2,8", "--alphas", "0,0.5,1"];
    args.extend(["--seeds", "2", "--epochs", "1", "--out", s(out)]);
    args.extend(extra);
    retort(&args)
}

fn runs(out: &Path) -> Vec<SweepRun> {
    std::fs::read_to_string(out.join("runs.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_sweep_summarises_its_runs_and_resumes_where_it_stopped() {
    let dir = temp_dir("resume");
    let teacher = dir.join("t.safetensors");
    assert!(retort(&["train", "--model", "mlp:784-32-10", "--epochs", "1", "--out", s(&teacher)]).status.success());
    let out = dir.join("sweep");
    let first = sweep(&teacher, &out, &[]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let all = runs(&out);
    // 2 baseline runs (alpha 0, T unused) and 2 T x 2 alphas x 2 seeds.
    assert_eq!(all.len(), 10);
    assert_eq!(all.iter().filter(|r| r.temperature.is_none()).count(), 2);

    // summary.csv: the mean and sample deviation over seeds of each cell of runs.jsonl.
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let rows: Vec<Vec<&str>> = summary.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let t: Option<f32> = if row[0].is_empty() { None } else { Some(row[0].parse().unwrap()) };
        let alpha: f32 = row[1].parse().unwrap();
        let cell: Vec<&SweepRun> = all.iter().filter(|r| r.temperature == t && r.alpha == alpha).collect();
        assert_eq!(row[2], cell.len().to_string());
        let (mean, sd) = mean_std(&cell.iter().map(|r| r.test_errors as f64).collect::<Vec<_>>());
        let (agree, agree_sd) = mean_std(&cell.iter().map(|r| r.agreement).collect::<Vec<_>>());
        for (got, want) in [(row[3], mean), (row[4], sd), (row[5], agree), (row[6], agree_sd)] {
            assert!((got.parse::<f64>().unwrap() - want).abs() <= 1e-12 * want.abs().max(1.0), "{row:?}: {got} against {want}");
        }
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 3 && html.contains("0 (labels)"), "the report's figures");

    // A kill after 3 runs, in the middle of writing the 4th line: the rest is run again, the
    // finished runs are not.
    let log = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let kept = format!("{}\n{}", lines[..3].join("\n"), &lines[3][..lines[3].len() / 2]);
    std::fs::write(out.join("runs.jsonl"), &kept).unwrap();
    let again = sweep(&teacher, &out, &[]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert_eq!(err.matches("run ").count(), 7, "7 runs left to do: {err}");
    let resumed = runs(&out);
    assert_eq!(resumed.len(), 10);
    assert_eq!(resumed[..3], all[..3], "the finished runs are kept as they were");
    let mut keys: Vec<String> = resumed.iter().map(|r| format!("{:?}", r.key())).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 10, "no run twice");
    // Run once more: nothing to do.
    let done = sweep(&teacher, &out, &[]);
    assert!(done.status.success() && !String::from_utf8_lossy(&done.stderr).contains("run 1/"));
    assert_eq!(runs(&out), resumed);

    // Other settings for the same folder are refused, naming the setting.
    let other = sweep(&teacher, &out, &["--lr", "0.1"]);
    let err = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(1), "{err}");
    assert!(err.lines().any(|l| l.starts_with("error: lr = 0.1") && l.contains("differs")), "{err}");

    // Bad grids: one error line, exit 1.
    for (flag, value, needle) in [
        ("--temperatures", "2,0", "--temperatures: 0"),
        ("--alphas", "0,1.5", "alphas = 1.5"),
        ("--seeds", "0", "seeds = 0"),
        ("--alphas", "a", "`a`"),
    ] {
        let mut args = vec!["sweep", "--teacher", s(&teacher), "--student", "mlp:784-8-10", "--out", s(&dir)];
        args.extend([flag, value]);
        let bad = retort(&args);
        let err = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(bad.status.code(), Some(1), "{flag} {value}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.lines().any(|l| l.starts_with("error:") && l.contains(needle)), "{flag} {value}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
