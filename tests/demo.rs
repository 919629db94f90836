//! The demo with no flags, as a fresh clone runs it: the distilled student must make fewer test
//! errors than the same student trained on the labels alone. About two minutes on 2 cores.

#[test]
fn default_demo_distilled_student_beats_the_baseline() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_retort")).args(["demo", "--json"]).env("RETORT_DEVICE", "cpu").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (teacher, student, distilled) =
        (v["teacher_errors"].as_u64().unwrap(), v["student_errors"].as_u64().unwrap(), v["distilled_errors"].as_u64().unwrap());
    eprintln!("demo: teacher {teacher}, student {student}, distilled {distilled} of {}; {:.0}s", v["n"], v["seconds"].as_f64().unwrap());
    assert!(distilled < student, "distilled {distilled} >= student on labels {student}");
    assert!(teacher < student, "the teacher {teacher} should beat the small student {student}");
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
}
