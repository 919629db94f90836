//! `retort inspect` end to end: the report holds its six parts, each figure with data and its
//! CSV beside it; a few CSV entries against a direct computation; bad input leaves no report.

use retort::checkpoint;
use retort::data;
use retort::train::evaluate;
use retort::{Device, study};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn retort(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retort")).args(args).env("RETORT_DEVICE", "cpu").output().expect("run retort")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retort-inspect-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A teacher and a student, one epoch each on the embedded data.
fn models(dir: &Path) -> (PathBuf, PathBuf) {
    let (t, st) = (dir.join("t.safetensors"), dir.join("s.safetensors"));
    assert!(retort(&["train", "--model", "mlp:784-48-10", "--epochs", "1", "--out", s(&t)]).status.success());
    assert!(retort(&["distill", "--teacher", s(&t), "--student", "mlp:784-16-10", "--epochs", "1", "--out", s(&st)]).status.success());
    (t, st)
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| l.split(',').map(String::from).collect()).collect()
}

#[test]
fn the_report_holds_every_figure_and_its_numbers() {
    let dir = temp_dir("report");
    let (teacher, student) = models(&dir);
    let out = dir.join("report");
    let run = retort(&[
        "inspect",
        "--teacher",
        s(&teacher),
        "--student",
        s(&student),
        "--temperatures",
        "1,3,9",
        "--temperature",
        "3",
        "--out",
        s(&out),
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<table class=\"facts\">") && html.contains("mlp:784-48-10") && html.contains("mlp:784-16-10"), "header");
    for (id, files) in [
        ("soft-targets", &["soft_targets.csv"][..]),
        ("entropy", &["entropy.csv"]),
        ("dark-knowledge", &["dark_knowledge.csv"]),
        ("student", &["per_class_errors.csv", "disagreement.csv", "logit_gap.csv"]),
        ("gradients", &["gradients.csv"]),
    ] {
        let start = html.find(&format!("<section id=\"{id}\">")).unwrap_or_else(|| panic!("no section {id}"));
        let section = &html[start..start + html[start..].find("</section>").unwrap()];
        assert!(section.matches("<svg").count() >= 1, "{id}: no figure");
        // Every plot is titled and drawn: text, and filled shapes or lines.
        assert!(section.contains("<text") && (section.contains("<rect") || section.contains("<polyline")), "{id}: an empty figure");
        for f in files {
            assert!(section.contains(f), "{id} does not link {f}");
            assert!(csv(&out.join(f)).len() > 2, "{f}: no rows");
        }
    }
    // No network: the only URLs are the SVG namespace of each figure.
    assert_eq!(html.matches("http").count(), html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count(), "a link out of the page");
    assert!(!html.contains("<script"), "no script");

    // A few entries against a direct computation from the models' logits.
    let device = Device::cpu();
    let test = data::embedded().test;
    let zt = evaluate(&checkpoint::load(&teacher, &device, None).unwrap().model, &test, 500).unwrap();
    let zs = evaluate(&checkpoint::load(&student, &device, None).unwrap().model, &test, 500).unwrap();
    let softmax = |z: &[f32], t: f64| {
        let e: Vec<f64> = z.iter().map(|&v| (v as f64 / t).exp()).collect();
        let sum: f64 = e.iter().sum();
        e.into_iter().map(|v| v / sum).collect::<Vec<f64>>()
    };
    let entropy = csv(&out.join("entropy.csv"));
    assert_eq!(entropy[0], ["temperature", "mean_entropy_nats", "effective_classes"]);
    let direct: f64 =
        (0..zt.len()).map(|i| softmax(zt.row(i), 3.0).iter().map(|p| -p * p.ln()).sum::<f64>()).sum::<f64>() / zt.len() as f64;
    assert_eq!(entropy[2][0], "3");
    assert!((entropy[2][1].parse::<f64>().unwrap() - direct).abs() < 1e-9, "entropy at T = 3: {} against {direct}", entropy[2][1]);
    let dark = csv(&out.join("dark_knowledge.csv"));
    let of_3: Vec<usize> = (0..test.len()).filter(|&i| test.labels[i] == 3).collect();
    let direct = of_3.iter().map(|&i| softmax(zt.row(i), 3.0)[5]).sum::<f64>() / of_3.len() as f64;
    let row = dark.iter().find(|r| r[0] == "3" && r[1] == "5").unwrap();
    assert!((row[2].parse::<f64>().unwrap() - direct).abs() < 1e-9, "dark knowledge 3 -> 5: {} against {direct}", row[2]);
    assert!(dark.iter().any(|r| r[0] == "3" && r[1] == "3" && r[2].is_empty()), "the diagonal is left out");
    let errors = csv(&out.join("per_class_errors.csv"));
    let sum = |col: usize| errors[1..].iter().map(|r| r[col].parse::<usize>().unwrap()).sum::<usize>();
    assert_eq!((sum(1), sum(2), sum(3)), (test.len(), zt.errors, zs.errors));
    let disagreements: usize = csv(&out.join("disagreement.csv"))[1..].iter().map(|r| r[2].parse::<usize>().unwrap()).sum();
    assert_eq!(disagreements, (0..test.len()).filter(|&i| zs.predicted[i] != zt.predicted[i]).count());
    let gradients = csv(&out.join("gradients.csv"));
    assert_eq!(gradients.len(), test.len() + 1);
    let split = study::gradient_split(&zs, &zt, &test.labels, 3.0, 0.9);
    assert_eq!(gradients[7][1], format!("{}", split.hard_norm[6]));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bad input: one `error:` line, exit 1, no panic, and no report left behind.
#[test]
fn bad_input_leaves_no_report() {
    let dir = temp_dir("bad");
    let (teacher, student) = models(&dir);
    let other = dir.join("other.safetensors");
    assert!(retort(&["train", "--model", "mlp:784-8-12", "--epochs", "1", "--out", s(&other)]).status.success());
    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"not a checkpoint").unwrap();
    let blocked = dir.join("a-file");
    std::fs::write(&blocked, b"").unwrap();
    let (out, missing) = (dir.join("out"), dir.join("missing.safetensors"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--student", s(&other)], "differ in inputs or classes"),
        (vec!["--temperatures", "1,0,4"], "--temperatures: 0"),
        (vec!["--temperatures", "1,x"], "`x` is not a number"),
        (vec!["--temperature", "-1"], "temperature"),
        (vec!["--alpha", "2"], "alpha"),
        (vec!["--student", s(&corrupt)], "corrupt.safetensors"),
        (vec!["--student", s(&missing)], "missing.safetensors"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["inspect", "--teacher", s(&teacher), "--out", s(&out)];
        if !extra.contains(&"--student") {
            args.extend(["--student", s(&student)]);
        }
        args.extend(&extra);
        let run = retort(&args);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{args:?}: no error line in {err}"));
        assert!(line.contains(needle), "{args:?}: `{line}` does not mention `{needle}`");
        assert!(!out.join("report.html").exists(), "{args:?} left a report");
    }
    // An --out that cannot be a folder, and one inside a file.
    for bad in [blocked.clone(), blocked.join("report")] {
        let run = retort(&["inspect", "--teacher", s(&teacher), "--out", s(&bad)]);
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{err}");
        assert!(err.lines().any(|l| l.starts_with("error:") && l.contains("a-file")), "{err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
