//! `retort reproduce hinton-mnist` end to end, on a one-epoch recipe: every part's table beside
//! the paper's figures, the checkpoints, a part run alone reusing the folder's teacher, and bad
//! input refused with one error line.

use std::process::{Command, Output};

fn retort(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retort")).args(args).env("RETORT_DEVICE", "cpu").output().expect("run retort")
}

const QUICK: [&str; 10] =
    ["--teacher-epochs", "1", "--student-epochs", "1", "--temperature-epochs", "1", "--temperatures", "2,8", "--widths", "30"];

#[test]
fn every_part_reports_beside_the_paper_and_a_part_reuses_the_teacher() {
    let dir = std::env::temp_dir().join(format!("retort-reproduce-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let mut args = vec!["reproduce", "hinton-mnist", "--out", out, "--seeds", "2"];
    args.extend(QUICK);
    let run = retort(&args);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("on the embedded subset"), "{err}");
    let md = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert!(md.contains("On the embedded subset"), "the report says which data");
    for needle in [
        "1. The main table",
        "| student distilled at T = 20: test errors |",
        "| 74 |",
        "2. A transfer set without the 3s",
        "| 3.5 |",
        "3. A transfer set of 7s and 8s only",
        "| 47.3% |",
        "4. Temperature against student size",
        "| 784-30-30-10 | 8 |",
    ] {
        assert!(md.contains(needle), "REPORT.md lacks `{needle}`:\n{md}");
    }
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Test errors against T"), "the temperature plot");
    for f in ["teacher", "student", "distilled", "omit3", "omit3_fixed", "sevens_eights", "sevens_eights_fixed"] {
        assert!(dir.join(format!("{f}.safetensors")).exists(), "{f}.safetensors");
    }
    // The 3s' bias raised: the fixed checkpoint differs from the student only there.
    let device = retort::Device::cpu();
    let load = |f: &str| retort::checkpoint::load(&dir.join(f), &device, None).unwrap().model;
    let (before, after) = (load("omit3.safetensors"), load("omit3_fixed.safetensors"));
    let (b, a) = (before.params.last().unwrap().to_vec(), after.params.last().unwrap().to_vec());
    assert!((0..10).all(|c| c == 3 || a[c] == b[c]) && a[3] >= b[3], "only class 3 moves, and up: {b:?} -> {a:?}");

    // One part alone: the teacher is read, not trained again.
    let teacher_bytes = std::fs::read(dir.join("teacher.safetensors")).unwrap();
    let mut args = vec!["reproduce", "hinton-mnist", "--out", out, "--part", "sevens-eights", "--seeds", "2"];
    args.extend(QUICK);
    let run = retort(&args);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success() && err.contains("trained before") && !err.contains("teacher epoch"), "{err}");
    assert_eq!(std::fs::read(dir.join("teacher.safetensors")).unwrap(), teacher_bytes);
    assert!(!err.contains("part main"), "{err}");

    for (extra, needle) in [
        (vec!["--part", "omit4"], "expected main, omit3, sevens-eights or temperature"),
        (vec!["--temperatures", "2,-1"], "--temperatures: -1"),
        (vec!["--seeds", "0"], "at least 1"),
    ] {
        let mut args = vec!["reproduce", "hinton-mnist", "--out", out];
        args.extend(extra);
        check_fails(&args, needle);
    }
    check_fails(&["reproduce", "hinton-cifar", "--out", out], "unknown experiment `hinton-cifar`");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn check_fails(args: &[&str], needle: &str) {
    let run = retort(args);
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.lines().any(|l| l.starts_with("error:") && l.contains(needle)), "{args:?}: {err}");
}
