//! The demo with no flags, as a fresh clone runs it: the distilled student must make fewer test
//! errors than the same student trained on the labels alone. About two minutes on 2 cores.

#[test]
fn default_demo_distilled_student_beats_the_baseline() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_retort")).args(["demo", "--json"]).env("RETORT_DEVICE", "cpu").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = |m: &str| v[m]["errors"].as_u64().unwrap();
    let (teacher, student, distilled) = (errors("teacher"), errors("student"), errors("distilled"));
    eprintln!("demo: teacher {teacher}, student {student}, distilled {distilled} of {}; {:.0}s", v["teacher"]["n"], seconds(&v));
    assert!(distilled < student, "distilled {distilled} >= student on labels {student}");
    assert!(teacher < student, "the teacher {teacher} should beat the small student {student}");
    assert!(seconds(&v) > 0.0);
}

fn seconds(v: &serde_json::Value) -> f64 {
    ["teacher", "student", "distilled"].iter().map(|m| v[*m]["seconds"].as_f64().unwrap()).sum()
}
