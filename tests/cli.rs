//! The CLI end to end: bad input gets one clear error line and a non-zero exit, never a panic;
//! a run killed mid-training resumes from its last checkpoint.

use retort::data::idx::encode_idx_u8;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn retort(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retort")).args(args).env("RETORT_DEVICE", "cpu").output().expect("run retort")
}

/// Asserts a clean failure: exit 1, an `error:` line naming `needle`, no panic.
fn fails_with(args: &[&str], needle: &str) {
    let out = retort(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{args:?}: no error line in {err}"));
    assert!(line.contains(needle), "{args:?}: `{line}` does not mention `{needle}`");
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("retort-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A data folder of `n` random 28x28 images; `edit` may spoil one file's bytes.
fn data_dir(name: &str, n: usize, labels: usize, edit: impl Fn(&str, &mut Vec<u8>)) -> PathBuf {
    let d = temp_dir(name);
    for (stem, count) in [("train", n), ("t10k", n)] {
        let mut images = encode_idx_u8(&[count, 28, 28], &(0..count * 784).map(|i| (i * 7 % 256) as u8).collect::<Vec<_>>());
        let mut lab = encode_idx_u8(&[labels.min(count)], &(0..labels.min(count)).map(|i| (i % 10) as u8).collect::<Vec<_>>());
        edit(&format!("{stem}-images"), &mut images);
        edit(&format!("{stem}-labels"), &mut lab);
        std::fs::write(d.join(format!("{stem}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(d.join(format!("{stem}-labels-idx1-ubyte")), lab).unwrap();
    }
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn bad_data_gets_a_clear_error() {
    let truncated = data_dir("trunc", 20, 20, |f, b| {
        if f == "train-images" {
            b.truncate(b.len() - 100)
        }
    });
    let dir = temp_dir("ckpt");
    let ck = dir.join("m.safetensors");
    let out = retort(&["train", "--model", "mlp:784-16-10", "--epochs", "1", "--out", s(&ck)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    fails_with(&["eval", "--model", s(&ck), "--data", s(&truncated)], "truncated");
    let magic = data_dir("magic", 20, 20, |f, b| {
        if f == "t10k-labels" {
            b[2] = 0x42
        }
    });
    fails_with(&["eval", "--model", s(&ck), "--data", s(&magic)], "element type");
    let zeroes = data_dir("zeroes", 20, 20, |f, b| {
        if f == "train-images" {
            b[0] = 7
        }
    });
    fails_with(&["eval", "--model", s(&ck), "--data", s(&zeroes)], "wrong magic");
    let counts = data_dir("counts", 20, 19, |_, _| {});
    fails_with(&["eval", "--model", s(&ck), "--data", s(&counts)], "20 images but 19 labels");
    let missing = temp_dir("missing");
    fails_with(&["eval", "--model", s(&ck), "--data", s(&missing)], "no train-images");
    fails_with(&["eval", "--model", s(&dir.join("nope.safetensors")), "--data", s(&missing)], "nope.safetensors");
}

#[test]
fn bad_settings_and_architectures_get_a_clear_error() {
    let dir = temp_dir("settings");
    let ck = dir.join("t.safetensors");
    assert!(retort(&["train", "--model", "mlp:784-16-10", "--epochs", "1", "--out", s(&ck)]).status.success());
    let out = dir.join("s.safetensors");
    for (flag, value, needle) in [
        ("--temperature", "0", "temperature"),
        ("--temperature", "-2", "temperature"),
        ("--alpha", "1.5", "alpha"),
        ("--alpha", "-0.1", "alpha"),
        ("--beta", "2", "not a setting of --method hinton"),
        ("--method", "fitnets", "expected ce, hinton or dkd"),
    ] {
        fails_with(&["distill", "--teacher", s(&ck), "--student", "mlp:784-8-10", flag, value, "--epochs", "1", "--out", s(&out)], needle);
    }
    for (flag, value, needle) in [("--beta", "-1", "beta"), ("--alpha", "nan", "alpha"), ("--temperature", "0", "temperature")] {
        let args = [
            "distill",
            "--method",
            "dkd",
            "--teacher",
            s(&ck),
            "--student",
            "mlp:784-8-10",
            flag,
            value,
            "--epochs",
            "1",
            "--out",
            s(&out),
        ];
        fails_with(&args, needle);
    }
    // Every numeric setting outside its range, with the range in the message.
    for (flag, value, needle) in [
        ("--epochs", "0", "epochs = 0: must be at least 1"),
        ("--lr", "inf", "lr = inf: must be positive and finite"),
        ("--lr", "0", "lr = 0: must be positive and finite"),
        ("--lr", "nan", "lr = NaN"),
        ("--momentum", "1", "momentum = 1: must be in [0, 1)"),
        ("--momentum", "nan", "momentum = NaN"),
        ("--weight-decay", "-0.1", "weight-decay = -0.1: must be in [0, 1)"),
        ("--max-norm", "0", "max-norm = 0: must be positive and finite"),
        ("--jitter", "28", "jitter = 28: must be below the images' 28x28"),
    ] {
        let bad = dir.join("bad.safetensors");
        let mut args = vec!["train", "--model", "mlp:784-8-10", flag, value, "--out", s(&bad)];
        if flag != "--epochs" {
            args.extend(["--epochs", "1"]);
        }
        fails_with(&args, needle);
    }
    for t in ["1e-45", "1e30"] {
        fails_with(
            &["distill", "--teacher", s(&ck), "--student", "mlp:784-8-10", "--temperature", t, "--epochs", "1", "--out", s(&out)],
            "must be in [0.01, 10000]",
        );
    }
    fails_with(&["bench", "train", "--model", "mlp:784-8-10", "--seconds", "NaN"], "seconds = NaN");
    fails_with(&["bench", "kernels", "--seconds", "inf"], "seconds = inf");
    // A checkpoint of another architecture, resumed as this one.
    fails_with(
        &["train", "--model", "mlp:784-32-10", "--epochs", "2", "--resume", "--out", s(&ck)],
        "holds a mlp:784-16-10, expected a mlp:784-32-10",
    );
    fails_with(&["train", "--model", "mlp:784-x-10", "--epochs", "1", "--out", s(&out)], "`x`");
    fails_with(&["train", "--model", "mlp:100-10", "--epochs", "1", "--out", s(&out)], "inputs of 100 values");
    fails_with(
        &["train", "--model", "cnn:1x28x28-c8k5-pool2-c16k13-10", "--epochs", "1", "--out", s(&out)],
        "layer 3 `c16k13`: a 13x13 kernel does not fit its 12x12x8 input",
    );
    fails_with(
        &["train", "--model", "cnn:1x28x28-c8k5-maxpool2-10", "--epochs", "1", "--out", s(&out)],
        "layer 2 `maxpool2`: unknown layer",
    );
    fails_with(&["train", "--model", "cnn:3x28x28-c8k5-10", "--epochs", "1", "--out", s(&out)], "inputs of 2352 values");
    fails_with(&["train", "--model", "mlp:784-10", "--schedule", "linear", "--out", s(&out)], "schedule");
    // Not a checkpoint at all.
    std::fs::write(dir.join("junk.safetensors"), b"not a checkpoint").unwrap();
    fails_with(&["eval", "--model", s(&dir.join("junk.safetensors"))], "not a safetensors file");
}

#[test]
fn killed_run_resumes_from_its_last_checkpoint() {
    let dir = temp_dir("resume");
    let ck = dir.join("m.safetensors");
    let mut child = Command::new(env!("CARGO_BIN_EXE_retort"))
        .args(["train", "--model", "mlp:784-64-10", "--epochs", "200", "--out", s(&ck)])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while !ck.exists() && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap();
    child.wait().unwrap();
    // Whatever moment the kill hit, the checkpoint in place is whole.
    let eval = retort(&["eval", "--model", s(&ck), "--json"]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let v: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(v["n"], 2000);
    assert!(v["errors"].as_u64().unwrap() < 2000 && v["accuracy"].as_f64().unwrap() > 0.5);
    // The epoch the checkpoint holds (the log may lag it by the epoch the kill interrupted).
    let ckpt = retort::checkpoint::load(&ck, &retort::Device::cpu(), None).unwrap();
    let done: usize = ckpt.metadata["retort.epoch"].parse().unwrap();
    assert!(done >= 1);
    let out = retort(&["train", "--model", "mlp:784-64-10", "--epochs", &(done + 1).to_string(), "--resume", "--out", s(&ck)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(&format!("from epoch {done}")), "{err}");
    let log = std::fs::read_to_string(dir.join("m.safetensors.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["epoch"].as_u64().unwrap() as usize, done + 1, "one more epoch after resuming");
}

#[test]
fn bench_and_eval_print_json() {
    let out = retort(&[
        "bench",
        "step",
        "--teacher",
        "mlp:784-64-10",
        "--student",
        "mlp:784-32-10",
        "--batch",
        "16",
        "--seconds",
        "0.2",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["samples_per_s"].as_f64().unwrap() > 0.0 && v["gflops"].as_f64().unwrap() > 0.0);
    assert_eq!(v["device"], "cpu");
    let out = retort(&["bench", "train", "--model", "mlp:784-32-10", "--dropout", "0.5", "--batch", "16", "--seconds", "0.2", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["samples_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["profile"].is_null(), "no profile unless asked for");
}

/// `--profile` splits the step into its ops: every layer's matmul, forward and backward.
#[test]
fn bench_profile_names_each_op() {
    let out = retort(&[
        "bench",
        "train",
        "--model",
        "cnn:1x28x28-c4k5p2-pool2-fc32-10",
        "--batch",
        "8",
        "--seconds",
        "0.2",
        "--profile",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ops = v["profile"]["ops"].as_array().unwrap();
    let find = |name: &str| ops.iter().find(|o| o["op"] == name).unwrap_or_else(|| panic!("no {name} in {ops:?}"));
    // fc32: [8, 32]; the logits [8, 10]; each timed both ways, once per step.
    for name in ["linear+relu [8, 32]", "linear [8, 10]"] {
        let op = find(name);
        assert!(op["forward_ms"].as_f64().unwrap() > 0.0 && op["backward_ms"].as_f64().unwrap() > 0.0, "{op}");
        assert_eq!(op["calls"], 1, "{op}");
    }
    let total: f64 = ops.iter().map(|o| o["forward_ms"].as_f64().unwrap() + o["backward_ms"].as_f64().unwrap()).sum();
    assert!(total <= v["profile"]["step_ms"].as_f64().unwrap() * 1.01, "the ops take no more than the step: {v}");
    // The linear layers' GEMMs, each in the step and alone, warm and cold: fc32's forward, its two
    // gradients.
    let gemms = v["profile"]["gemms"].as_array().unwrap();
    for (m, k, n, ta, tb) in [(8, 784, 32, false, false), (784, 8, 32, true, false), (8, 32, 784, false, true)] {
        let g = gemms
            .iter()
            .find(|g| g["m"] == m && g["k"] == k && g["n"] == n && g["trans_a"] == ta && g["trans_b"] == tb)
            .unwrap_or_else(|| panic!("no {m}x{k}x{n} in {gemms:?}"));
        assert_eq!(g["calls"], 1, "{g}");
        for rate in ["in_step_gflops", "alone_gflops", "cold_gflops"] {
            assert!(g[rate].as_f64().is_some_and(|r| r > 0.0), "{rate}: {g}");
        }
    }
}

/// A CNN teacher distilled into an MLP student, end to end on the embedded data.
#[test]
fn cnn_teacher_distils_into_an_mlp_student() {
    let dir = temp_dir("cnn-demo");
    let args = "demo --teacher cnn:1x28x28-c4k5p2-pool2-fc32-10 --student mlp:784-16-10 --epochs 1 --teacher-epochs 1 --json --out";
    let out = retort(&args.split(' ').chain([s(&dir)]).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["teacher", "student", "distilled"] {
        assert!(v[key]["errors"].as_u64().unwrap() < 1000, "{key}: one epoch should beat chance: {v}");
    }
}

/// `distill --method dkd` trains on the embedded subset, prints its settings, and logs its
/// epochs with the method's name.
#[test]
fn distill_by_dkd_on_the_embedded_subset() {
    let dir = temp_dir("dkd");
    let (teacher, student) = (dir.join("t.safetensors"), dir.join("s.safetensors"));
    assert!(retort(&["train", "--model", "mlp:784-64-10", "--epochs", "2", "--out", s(&teacher)]).status.success());
    let out = retort(&[
        "distill",
        "--method",
        "dkd",
        "--teacher",
        s(&teacher),
        "--student",
        "mlp:784-16-10",
        "--epochs",
        "2",
        "--out",
        s(&student),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("by dkd (temperature = 4, alpha = 1, beta = 8)"), "{err}");
    let log = std::fs::read_to_string(dir.join("s.safetensors.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r["method"], "dkd");
        assert!(r["test_errors"].as_u64().unwrap() < 1000, "two epochs should beat chance: {r}");
        // Fidelity and the loss's parts, each epoch, in the log and on the printed line.
        for key in ["agreement", "kl_t1", "soft_loss", "hard_loss", "tckd", "nckd"] {
            let v = r[key].as_f64().unwrap_or_else(|| panic!("no {key} in {r}"));
            assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
        }
        assert!(r["agreement"].as_f64().unwrap() <= 1.0);
    }
    // The training set's figures close the run.
    assert!(records[0].get("train").is_none() && records[1]["train"]["agreement"].as_f64().unwrap() > 0.0, "{records:?}");
    for needle in ["agreement", "kl_t1", "soft", "hard", "tckd", "nckd", "on the training set"] {
        assert!(err.contains(needle), "no {needle} in {err}");
    }
}

/// Outputs never destroy what the user has: each refusal is one error line, exit 1, and leaves
/// every file it names as it was.
#[test]
fn outputs_never_destroy_what_the_user_has() {
    let dir = temp_dir("outputs");
    let teacher = dir.join("t.safetensors");
    let train = |out: &Path, extra: &[&str]| {
        let mut args = vec!["train", "--model", "mlp:784-8-10", "--epochs", "1", "--out", s(out)];
        args.extend(extra);
        retort(&args)
    };
    assert!(train(&teacher, &[]).status.success());
    let snapshot = |p: &Path| std::fs::read(p).unwrap();
    let (teacher_bytes, log_bytes) = (snapshot(&teacher), snapshot(&dir.join("t.safetensors.jsonl")));
    let unchanged = || {
        assert_eq!(snapshot(&teacher), teacher_bytes, "the checkpoint changed");
        assert_eq!(snapshot(&dir.join("t.safetensors.jsonl")), log_bytes, "its log changed");
    };
    // An existing checkpoint, neither resumed nor forced.
    fails_with(&["train", "--model", "mlp:784-8-10", "--epochs", "1", "--out", s(&teacher)], "--resume continues it, --force replaces it");
    unchanged();
    // The teacher as the student's output, or as its log.
    let student = dir.join("s.safetensors");
    fails_with(&["distill", "--teacher", s(&teacher), "--student", "mlp:784-8-10", "--epochs", "1", "--out", s(&teacher)], "also an input");
    fails_with(
        &["distill", "--teacher", s(&teacher), "--student", "mlp:784-8-10", "--epochs", "1", "--out", s(&student), "--log", s(&teacher)],
        "also an input",
    );
    unchanged();
    // A log that is not a log, even with --force; an IDX file as a log.
    let data = data_dir("outputs-data", 20, 20, |_, _| {});
    let idx = data.join("train-labels-idx1-ubyte");
    let idx_bytes = snapshot(&idx);
    for extra in [&["--log", s(&idx)][..], &["--log", s(&idx), "--force"]] {
        let mut args = vec!["train", "--model", "mlp:784-8-10", "--epochs", "1", "--out", s(&student)];
        args.extend(extra);
        fails_with(&args, "not an epoch record");
        assert_eq!(snapshot(&idx), idx_bytes, "the IDX file changed");
    }
    assert!(!student.exists(), "no checkpoint from a refused run");
    // --force replaces a checkpoint, never another kind of file.
    fails_with(&["train", "--model", "mlp:784-8-10", "--epochs", "1", "--out", s(&idx), "--force"], "not a Retort checkpoint");
    assert_eq!(snapshot(&idx), idx_bytes);
    // A FIFO and a symbolic link are not replaced by a file.
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    fails_with(&["train", "--model", "mlp:784-8-10", "--epochs", "1", "--out", s(&fifo)], "not a regular file");
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&std::fs::symlink_metadata(&fifo).unwrap().file_type()));
    let link = dir.join("link.safetensors");
    std::os::unix::fs::symlink(&teacher, &link).unwrap();
    fails_with(&["train", "--model", "mlp:784-8-10", "--epochs", "1", "--out", s(&link), "--force"], "symbolic link");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    unchanged();
    // An output folder that cannot be made: refused before training.
    fails_with(&["train", "--model", "mlp:784-8-10", "--epochs", "1", "--out", s(&teacher.join("x.safetensors"))], "t.safetensors");
    unchanged();

    // A stale temporary of a killed write is removed; a cut last log line is cut off on resume.
    let resumed = dir.join("r.safetensors");
    assert!(train(&resumed, &[]).status.success());
    let stale = dir.join(".r.safetensors.99999999.tmp");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    let log = dir.join("r.safetensors.jsonl");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("{\"model\": \"train\", \"ep");
    std::fs::write(&log, text).unwrap();
    let out = retort(&["train", "--model", "mlp:784-8-10", "--epochs", "2", "--resume", "--out", s(&resumed)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stale.exists(), "the stale temporary is gone");
    let records: Vec<retort::train::EpochRecord> = retort::train::read_jsonl(&log).unwrap();
    assert_eq!(records.iter().map(|r| r.epoch).collect::<Vec<_>>(), [1, 2]);
    // --force starts over: a new log with the new run alone.
    let out = retort(&["train", "--model", "mlp:784-8-10", "--epochs", "1", "--force", "--out", s(&resumed)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(retort::train::read_jsonl::<retort::train::EpochRecord>(&log).unwrap().len(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same CNN training on one, two and three threads writes the same checkpoint, byte for
/// byte: no sum is split by the thread count, and the metadata comes out in one order.
#[test]
fn checkpoints_are_byte_identical_whatever_the_thread_count() {
    let dir = temp_dir("threads");
    let files: Vec<Vec<u8>> = ["1", "2", "3"]
        .iter()
        .map(|threads| {
            let ck = dir.join(format!("cnn-{threads}.safetensors"));
            let out = Command::new(env!("CARGO_BIN_EXE_retort"))
                .args(["train", "--model", "cnn:1x28x28-c8k5p2-pool2-c16k5p2-pool2-fc32-10", "--epochs", "1", "--out", s(&ck)])
                .env("RETORT_DEVICE", "cpu")
                .env("RAYON_NUM_THREADS", threads)
                .output()
                .expect("run retort");
            assert!(out.status.success(), "{threads} threads: {}", String::from_utf8_lossy(&out.stderr));
            std::fs::read(&ck).unwrap()
        })
        .collect();
    assert!(files[0] == files[1], "1 and 2 threads: different checkpoints");
    assert!(files[0] == files[2], "1 and 3 threads: different checkpoints");
}

/// `--lr 1e30`: the guard stops the run within its first epoch with one line naming the step,
/// the op and its layer, exit 1; the checkpoint and the log the user had (to be replaced by
/// `--force`) are untouched, and the checkpoint still loads.
#[test]
fn a_diverging_run_stops_naming_step_and_op_and_keeps_what_was_there() {
    let dir = temp_dir("guard");
    let ck = dir.join("m.safetensors");
    let log = dir.join("m.safetensors.jsonl");
    assert!(retort(&["train", "--model", "mlp:784-16-10", "--epochs", "1", "--out", s(&ck)]).status.success());
    let (ck_before, log_before) = (std::fs::read(&ck).unwrap(), std::fs::read(&log).unwrap());
    let train = ["train", "--model", "mlp:784-16-10", "--epochs", "2", "--lr", "1e30", "--force", "--out", s(&ck)];
    fails_with(&train, "diverged at step 2 (epoch 1): the loss is NaN; the first NaN or infinity came from linear [128, 10] in layer fc1");
    let student = dir.join("s.safetensors");
    let distill = ["distill", "--teacher", s(&ck), "--student", "mlp:784-8-10", "--lr", "1e30", "--out", s(&student)];
    fails_with(&distill, "diverged at step 2 (epoch 1)");
    assert!(!student.exists(), "a diverged run wrote a checkpoint");
    assert_eq!(std::fs::read(&ck).unwrap(), ck_before, "the checkpoint changed");
    assert_eq!(std::fs::read(&log).unwrap(), log_before, "the log changed");
    let eval = retort(&["eval", "--model", s(&ck)]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
}

/// `bench kernels --report` writes a self-contained page with its figures and a CSV row for each
/// kernel of the record, stdout staying the record alone with `--json`; with PyTorch's figures, a
/// third figure and a CSV of the kernels both timed. A folder it cannot write, or a spoiled line
/// of PyTorch's figures, is refused before anything is timed.
#[test]
fn bench_kernels_writes_its_report() {
    let dir = temp_dir("kernel-report");
    let report = dir.join("report");
    // PyTorch's figures as scripts/pytorch_bench.py prints them: a time, a rate, a blank line,
    // a bench of ours not timed here, and one unknown.
    let torch = dir.join("torch.jsonl");
    let line = |bench: &str, field: &str, value: f64| {
        format!("{{\"bench\": \"{bench}\", \"device\": \"cpu (2 threads)\", \"torch\": \"2.15.0\", \"{field}\": {value}}}\n")
    };
    let figures = [
        line("softmax 128x10", "median_us", 20.0),
        line("matmul 128x784x1200", "gflops", 100.0),
        line("kd 4096x1000", "median_us", 20000.0),
        "\n".to_string(),
        line("matmul 4096x4096x4096", "gflops", 190.0),
        line("resnet 50", "median_us", 1.0),
    ];
    std::fs::write(&torch, figures.concat()).unwrap();
    let (report_arg, torch_arg) = (report.to_str().unwrap(), torch.to_str().unwrap());
    let out = retort(&["bench", "kernels", "--max-dim", "0", "--seconds", "0", "--json", "--report", report_arg, "--pytorch", torch_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kernels = v["kernels"].as_array().unwrap();
    let csv = std::fs::read_to_string(report.join("kernels.csv")).unwrap();
    assert_eq!(csv.lines().count(), kernels.len() + 1, "{csv}");
    for (line, k) in csv.lines().skip(1).zip(kernels) {
        // A name with a comma is quoted.
        assert!(line.trim_start_matches('"').starts_with(k["kernel"].as_str().unwrap()), "{line} against {k}");
    }
    // The three kernels timed here that PyTorch's file has, each at PyTorch's time over ours.
    let against = std::fs::read_to_string(report.join("against_pytorch.csv")).unwrap();
    let rows: Vec<&str> = against.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{against}");
    let ours = |kernel: &str, shape: &str| {
        kernels.iter().find(|k| k["kernel"] == kernel && k["shape"].as_str().unwrap().starts_with(shape)).unwrap().clone()
    };
    let ratio = |start: &str| rows.iter().find(|r| r.starts_with(start)).unwrap().rsplit(',').next().unwrap().parse::<f64>().unwrap();
    let want = 20.0 / ours("softmax", "128x10")["median_us"].as_f64().unwrap();
    assert!((ratio("softmax") - want).abs() < 1e-9 * want, "{against}");
    let want = ours("matmul", "128x784x1200")["gflops"].as_f64().unwrap() / 100.0;
    assert!((ratio("matmul") - want).abs() < 1e-9 * want, "{against}");
    let page = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "a figure of shares, a roofline and PyTorch's");
    let texts = [
        "Share of the roofline",
        "% of its roofline",
        "The GEMMs on the roofline",
        "FLOP per byte moved",
        "copy bandwidth",
        "avx",
        "Against PyTorch",
        "torch 2.15.0, cpu (2 threads)",
    ];
    for text in texts {
        assert!(page.contains(text), "no `{text}` in the page");
    }
    assert!(!page.contains("<script") && !page.contains("<link") && !page.contains("src="), "the page loads nothing");
    let names: Vec<String> = std::fs::read_dir(&report).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 3, "nothing but the page and the CSVs: {names:?}");

    let file = dir.join("notes.txt");
    std::fs::write(&file, "the user's notes\n").unwrap();
    let started = std::time::Instant::now();
    fails_with(&["bench", "kernels", "--report", file.to_str().unwrap()], "cannot create the report's folder");
    assert!(started.elapsed().as_secs_f64() < 5.0, "refused before timing (the default run takes a minute)");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "the user's notes\n");
    let spoiled =
        [("{\"bench\": \"softmax 128x10\"}\n", "line 2"), ("{\"bench\": \"kd 128x10\", \"median_us\": -3}\n", "not a positive number")];
    for (spoiled, needle) in spoiled {
        std::fs::write(&torch, [figures[0].as_str(), spoiled].concat()).unwrap();
        let never = dir.join("never");
        fails_with(&["bench", "kernels", "--report", never.to_str().unwrap(), "--pytorch", torch_arg], needle);
        assert!(!never.exists(), "no folder made for a report that was refused");
    }
}
