//! Bad input, case by case, as a hostile or unlucky user would give it: every case exits 1 with
//! one `error:` line naming the cause, never panics, and leaves every file the user had with the
//! bytes it had (checked by hash). Six groups: outputs, non-finite values, sizes, logs,
//! degenerate settings and resumed runs that would silently be another run.

use retort::data::idx::encode_idx_u8;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;
use std::process::Command;

/// A folder of the user's files: a trained checkpoint and its log, data sets good and bad.
struct Workspace {
    dir: PathBuf,
}

impl Workspace {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }
    /// Every file under the folder (links and FIFOs by their type) and a hash of its bytes.
    fn hashes(&self) -> BTreeMap<PathBuf, u64> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                let mut h = DefaultHasher::new();
                if meta.is_dir() {
                    stack.push(p);
                    continue;
                } else if meta.is_file() {
                    std::fs::read(&p).unwrap().hash(&mut h);
                } else {
                    format!("{:?}", meta.file_type()).hash(&mut h);
                }
                out.insert(p, h.finish());
            }
        }
        out
    }
}

fn retort(args: &[String], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_retort"));
    c.args(args).env("RETORT_DEVICE", "cpu");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run retort")
}

/// An IDX file: `kind` 0x08 (u8), 0x0D (f32) or 0x0E (f64), big-endian as the format has it.
fn idx(kind: u8, dims: &[u32], values: &[f64]) -> Vec<u8> {
    let mut out = vec![0, 0, kind, dims.len() as u8];
    dims.iter().for_each(|d| out.extend(d.to_be_bytes()));
    for &v in values {
        match kind {
            0x08 => out.push(v as u8),
            0x0D => out.extend((v as f32).to_be_bytes()),
            _ => out.extend(v.to_be_bytes()),
        }
    }
    out
}

/// A data folder of `n` 28x28 images; `images` replaces the training images' file.
fn data_set(ws: &Workspace, name: &str, n: u32, images: Option<Vec<u8>>) {
    let d = ws.path(name);
    std::fs::create_dir_all(&d).unwrap();
    let pixels: Vec<u8> = (0..n as usize * 784).map(|i| (i * 7 % 256) as u8).collect();
    let labels: Vec<u8> = (0..n as usize).map(|i| (i % 10) as u8).collect();
    let default = encode_idx_u8(&[n as usize, 28, 28], &pixels);
    std::fs::write(d.join("train-images-idx3-ubyte"), images.unwrap_or_else(|| default.clone())).unwrap();
    std::fs::write(d.join("t10k-images-idx3-ubyte"), &default).unwrap();
    for stem in ["train", "t10k"] {
        std::fs::write(d.join(format!("{stem}-labels-idx1-ubyte")), encode_idx_u8(&[n as usize], &labels)).unwrap();
    }
}

/// `retort <cmd>` with `extra`'s flags, then each default flag `extra` does not give.
fn command(cmd: &str, defaults: &[(&str, &str)], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [cmd].iter().chain(extra).map(|s| s.to_string()).collect();
    for (flag, value) in defaults {
        if !extra.contains(flag) {
            args.extend([flag.to_string(), value.to_string()]);
        }
    }
    args
}

/// A copy of checkpoint `from` with its first stored value replaced by `value`.
fn spoiled_checkpoint(ws: &Workspace, from: &str, to: &str, value: f32) {
    let mut bytes = std::fs::read(ws.path(from)).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..12 + header].copy_from_slice(&value.to_le_bytes());
    std::fs::write(ws.path(to), bytes).unwrap();
}

#[test]
fn bad_inputs_fail_cleanly_and_touch_no_file() {
    let ws = Workspace { dir: std::env::temp_dir().join(format!("retort-bad-inputs-{}", std::process::id())) };
    let _ = std::fs::remove_dir_all(&ws.dir);
    std::fs::create_dir_all(&ws.dir).unwrap();
    let ok = |args: &[&str]| {
        let out = retort(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>(), &[]);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (ck, ds) = (ws.arg("m.safetensors"), ws.arg("d.safetensors"));
    ok(&["train", "--model", "mlp:784-16-10", "--epochs", "1", "--out", &ck]);
    ok(&["distill", "--teacher", &ck, "--student", "mlp:784-8-10", "--epochs", "1", "--out", &ds]);
    data_set(&ws, "data", 30, None);
    data_set(&ws, "other-data", 40, None);
    data_set(&ws, "empty-data", 0, None);
    let mut nan_pixels = vec![0.5; 30 * 784];
    nan_pixels[100] = f64::NAN;
    data_set(&ws, "nan-data", 30, Some(idx(0x0D, &[30, 28, 28], &nan_pixels)));
    let mut inf_pixels = vec![0.5; 30 * 784];
    inf_pixels[7] = f64::INFINITY;
    data_set(&ws, "inf-data", 30, Some(idx(0x0E, &[30, 28, 28], &inf_pixels)));
    let mut huge_pixels = vec![0.5; 30 * 784];
    huge_pixels[9] = 1e300;
    data_set(&ws, "huge-data", 30, Some(idx(0x0E, &[30, 28, 28], &huge_pixels)));
    // Headers whose dimensions overflow or promise more than the file holds.
    data_set(&ws, "overflow-data", 30, Some(idx(0x0E, &[u32::MAX, u32::MAX, u32::MAX], &[])));
    data_set(&ws, "promising-data", 30, Some(idx(0x0D, &[1 << 30, 28, 28], &[1.0; 10])));
    let bomb = {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&idx(0x08, &[3000, 28, 28], &vec![0.0; 3000 * 784])).unwrap();
        z.finish().unwrap()
    };
    data_set(&ws, "bomb-data", 30, Some(bomb));
    spoiled_checkpoint(&ws, "m.safetensors", "nan.safetensors", f32::NAN);
    spoiled_checkpoint(&ws, "m.safetensors", "inf.safetensors", f32::INFINITY);
    let mut cut = std::fs::read(ws.path("m.safetensors")).unwrap();
    cut.truncate(cut.len() - 10);
    std::fs::write(ws.path("cut.safetensors"), cut).unwrap();
    std::fs::write(ws.path("notes.txt"), b"the user's notes\n").unwrap();
    std::fs::write(ws.path("garbage.jsonl"), b"{\"epoch\": 1}\nnot json at all\n").unwrap();
    std::fs::write(ws.path("binary.jsonl"), [0xffu8, 0xfe, 0x00, 0x10]).unwrap();
    // The log of a run two epochs ahead of the one-epoch checkpoint: another run's.
    let first = std::fs::read_to_string(ws.path("m.safetensors.jsonl")).unwrap();
    assert!(first.contains("\"epoch\":1,"), "{first}");
    let ahead: String = (1..=3).map(|e| first.replace("\"epoch\":1,", &format!("\"epoch\":{e},"))).collect();
    std::fs::write(ws.path("ahead.jsonl"), ahead).unwrap();
    assert!(Command::new("mkfifo").arg(ws.path("fifo")).status().unwrap().success());
    std::os::unix::fs::symlink(ws.path("m.safetensors"), ws.path("link.safetensors")).unwrap();
    std::fs::create_dir_all(ws.path("a-folder")).unwrap();

    let new = ws.arg("new.safetensors");
    let train = |extra: &[&str]| command("train", &[("--model", "mlp:784-16-10"), ("--epochs", "1"), ("--out", &new)], extra);
    let distill = |extra: &[&str]| {
        command("distill", &[("--teacher", &ck), ("--student", "mlp:784-8-10"), ("--epochs", "1"), ("--out", &new)], extra)
    };
    let resume = |extra: &[&str]| train(&[&["--epochs", "2", "--resume", "--out", &ck], extra].concat());
    let resume_distill = |extra: &[&str]| distill(&[&["--epochs", "2", "--resume", "--out", &ds], extra].concat());
    let strings = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
    let (data, fifo, link, folder) = (ws.arg("data"), ws.arg("fifo"), ws.arg("link.safetensors"), ws.arg("a-folder"));
    let in_file = format!("{}/x.safetensors", ws.arg("notes.txt"));
    let label_file = format!("{data}/train-labels-idx1-ubyte");
    let (nan_ck, inf_ck, cut_ck) = (ws.arg("nan.safetensors"), ws.arg("inf.safetensors"), ws.arg("cut.safetensors"));
    let data_of = |name: &str| ws.arg(name);
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        // 1. Outputs.
        ("outputs", train(&["--out", &ck]), "--resume continues it, --force replaces it"),
        ("outputs", train(&["--out", &ws.arg("notes.txt"), "--force"]), "not a Retort checkpoint"),
        ("outputs", distill(&["--out", &ck]), "also an input"),
        ("outputs", distill(&["--log", &ck]), "also an input"),
        ("outputs", train(&["--log", &ck]), "not an epoch record"),
        ("outputs", train(&["--log", &label_file]), "not an epoch record"),
        ("outputs", train(&["--log", &label_file, "--force"]), "not an epoch record"),
        ("outputs", train(&["--log", &ws.arg("notes.txt")]), "not an epoch record"),
        ("outputs", train(&["--out", &fifo]), "not a regular file"),
        ("outputs", train(&["--out", &link, "--force"]), "symbolic link"),
        ("outputs", train(&["--out", &folder]), "a-folder"),
        ("outputs", train(&["--out", &in_file]), "notes.txt"),
        ("outputs", train(&["--log", &new]), "is the checkpoint itself"),
        // 2. NaN and infinity.
        ("non-finite", train(&["--lr", "1e30"]), "diverged at step 2 (epoch 1)"),
        ("non-finite", distill(&["--lr", "1e30"]), "diverged at step 2 (epoch 1)"),
        ("non-finite", train(&["--lr", "nan"]), "lr = NaN"),
        ("non-finite", train(&["--momentum", "nan"]), "momentum = NaN"),
        ("non-finite", train(&["--weight-decay", "nan"]), "weight-decay = NaN"),
        ("non-finite", train(&["--max-norm", "nan"]), "max-norm = NaN"),
        ("non-finite", distill(&["--temperature", "1e-45"]), "must be in [0.01, 10000]"),
        ("non-finite", distill(&["--alpha", "nan"]), "alpha = NaN"),
        ("non-finite", train(&["--data", &data_of("nan-data")]), "value 100 is NaN"),
        ("non-finite", train(&["--data", &data_of("inf-data")]), "value 7 is inf"),
        ("non-finite", train(&["--data", &data_of("huge-data")]), "value 9 is inf"),
        ("non-finite", strings(&["eval", "--model", &nan_ck]), "holds NaN"),
        ("non-finite", strings(&["eval", "--model", &inf_ck]), "holds inf"),
        ("non-finite", distill(&["--teacher", &nan_ck]), "holds NaN"),
        // 3. Sizes.
        ("sizes", train(&["--model", "mlp:784-18446744073709551615-10"]), "overflows"),
        ("sizes", train(&["--model", "mlp:784-100000000-10"]), "over the 4.0 GB limit"),
        ("sizes", train(&["--model", "cnn:1x28x28-c8k5p9223372036854775808-10"]), "does not fit in memory"),
        ("sizes", train(&["--model", "cnn:1x28x28-c8k5p4611686018427387904-10"]), "does not fit in memory"),
        ("sizes", train(&["--model", "cnn:1x4294967296x4294967296-c8k5-10"]), "does not fit in memory"),
        ("sizes", train(&["--model", "cnn:1x28x28-c4000000k1-10"]), "over the 4.0 GB limit"),
        ("sizes", train(&["--data", &data_of("overflow-data")]), "overflow"),
        ("sizes", train(&["--data", &data_of("promising-data")]), "truncated"),
        ("sizes", train(&["--data", &data_of("bomb-data")]), "inflates past 0.0 GB"),
        ("sizes", strings(&["eval", "--model", &cut_ck]), "cut.safetensors"),
        ("sizes", strings(&["eval", "--model", &ws.arg("notes.txt")]), "not a safetensors file"),
        ("sizes", train(&["--model", "mlp:784-32-10", "--epochs", "2", "--resume", "--out", &ck]), "expected a mlp:784-32-10"),
        // 4. Logs.
        ("logs", train(&["--log", &ws.arg("garbage.jsonl")]), "line 1"),
        ("logs", train(&["--log", &ws.arg("binary.jsonl")]), "not an epoch record"),
        ("logs", resume(&["--log", &ws.arg("garbage.jsonl")]), "not an epoch record"),
        ("logs", resume(&["--log", &ws.arg("ahead.jsonl")]), "epoch 2 follows epochs the checkpoint (1 done) never held"),
        // 5. Degenerate settings.
        ("degenerate", train(&["--epochs", "0"]), "epochs = 0: must be at least 1"),
        ("degenerate", train(&["--data", &data_of("empty-data")]), "an empty training set"),
        ("degenerate", train(&["--batch", "0"]), "batch = 0"),
        ("degenerate", train(&["--lr", "0"]), "lr = 0"),
        ("degenerate", train(&["--lr", "-1"]), "lr = -1"),
        ("degenerate", train(&["--momentum", "1"]), "momentum = 1: must be in [0, 1)"),
        ("degenerate", train(&["--weight-decay", "-0.1"]), "weight-decay = -0.1"),
        ("degenerate", train(&["--max-norm", "0"]), "max-norm = 0"),
        ("degenerate", train(&["--dropout", "1"]), "dropout = 1"),
        ("degenerate", train(&["--jitter", "28"]), "jitter = 28"),
        ("degenerate", distill(&["--temperature", "1e30"]), "must be in [0.01, 10000]"),
        ("degenerate", distill(&["--alpha", "2"]), "alpha = 2"),
        ("degenerate", distill(&["--beta", "8"]), "beta"),
        ("degenerate", distill(&["--method", "fitnets"]), "fitnets"),
        ("degenerate", strings(&["bench", "train", "--model", "mlp:784-8-10", "--seconds", "NaN"]), "seconds = NaN"),
        ("degenerate", strings(&["bench", "step", "--seconds", "-1"]), "seconds = -1"),
        ("degenerate", train(&["--model", "rnn:784-10"]), "unknown model kind"),
        ("degenerate", train(&["--model", "mlp:784-0-10"]), "`0` is not a positive layer width"),
        // 6. A resumed run that would be another run.
        ("resume", resume(&["--seed", "2"]), "seed = 2: differs from the checkpoint's 1"),
        ("resume", resume(&["--lr", "0.5"]), "lr = 0.5: differs from the checkpoint's"),
        ("resume", resume(&["--batch", "64"]), "batch = 64: differs from the checkpoint's 128"),
        ("resume", resume(&["--dropout", "0.3"]), "dropout = 0.3: differs"),
        ("resume", resume(&["--momentum", "0.5"]), "momentum = 0.5: differs"),
        ("resume", resume(&["--optimizer", "adam"]), "optimizer = adam: differs"),
        ("resume", resume(&["--jitter", "2"]), "jitter = 2: differs"),
        ("resume", resume(&["--data", &data_of("other-data")]), "differs from the set this model was trained on"),
        ("resume", resume_distill(&["--temperature", "5"]), "temperature = 5: differs"),
        ("resume", resume_distill(&["--alpha", "0.5"]), "alpha = 0.5: differs"),
        ("resume", resume_distill(&["--method", "dkd"]), "differs"),
    ];
    let mut groups = BTreeMap::new();
    let mut failures = Vec::new();
    for (group, args, needle) in &cases {
        let before = ws.hashes();
        let env: &[(&str, &str)] = if args.iter().any(|a| a.ends_with("bomb-data")) { &[("RETORT_MAX_GB", "0.001")] } else { &[] };
        let out = retort(args, env);
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        let problem = if out.status.code() != Some(1) {
            Some(format!("exit {:?}", out.status.code()))
        } else if err.contains("panicked") {
            Some("a panic".into())
        } else if lines.len() != 1 {
            Some(format!("{} error lines", lines.len()))
        } else if !lines[0].contains(needle) {
            Some(format!("`{}` does not mention `{needle}`", lines[0]))
        } else if ws.hashes() != before {
            Some("a file of the user's changed, appeared or went".into())
        } else {
            None
        };
        if let Some(p) = problem {
            failures.push(format!("[{group}] {}: {p}\n{err}", args.join(" ")));
        }
        *groups.entry(*group).or_insert(0) += 1;
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert!(cases.len() >= 60, "{} cases", cases.len());
    assert_eq!(groups.len(), 6, "{groups:?}");
}
