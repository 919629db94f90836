//! The demo with no flags, as a fresh clone runs it: the distilled student must make fewer test
//! errors than the same student trained on the labels alone, and write its report. About a
//! minute on 2 cores.

#[test]
fn default_demo_distilled_student_beats_the_baseline() {
    let dir = std::env::temp_dir().join(format!("retort-demo-{}", std::process::id()));
    let report = dir.join("report.html");
    let args = ["demo", "--json", "--out", dir.to_str().unwrap()];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_retort")).args(args).env("RETORT_DEVICE", "cpu").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = |m: &str| v[m]["errors"].as_u64().unwrap();
    let (teacher, student, distilled) = (errors("teacher"), errors("student"), errors("distilled"));
    eprintln!("demo: teacher {teacher}, student {student}, distilled {distilled} of {}; {:.0}s", v["teacher"]["n"], seconds(&v));
    assert!(distilled < student, "distilled {distilled} >= student on labels {student}");
    assert!(teacher < student, "the teacher {teacher} should beat the small student {student}");
    assert!(seconds(&v) > 0.0);
    // It ends with the report on its teacher and distilled student, and says where.
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(
        ["soft-targets", "entropy", "dark-knowledge", "student", "gradients"]
            .iter()
            .all(|id| html.contains(&format!("<section id=\"{id}\">")))
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(report.to_str().unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn seconds(v: &serde_json::Value) -> f64 {
    ["teacher", "student", "distilled"].iter().map(|m| v[*m]["seconds"].as_f64().unwrap()).sum()
}
