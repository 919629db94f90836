//! The GPU backend end to end, on whatever adapter wgpu finds (lavapipe in CI): training steps
//! agree with the CPU's, checkpoints move between devices, and the CLI runs on `--device gpu`.
//! No adapter fails these tests; outside CI, `RETORT_SKIP_GPU=1` skips them.

use retort::kd::{self, MethodSettings, TeacherOutputs};
use retort::nn::{Dropout, Model, ModelSpec};
use retort::optim::{OptimizerKind, Schedule};
use retort::train::{TrainConfig, Trainer};
use retort::{Device, DeviceChoice, Labels, Tensor};
use retort_kernels::testing::{Rng, Tolerance, assert_close, f64s};
use std::process::Command;

fn gpu() -> Option<Device> {
    match Device::open(DeviceChoice::Gpu) {
        Ok((d, _)) => Some(d),
        Err(e) if std::env::var_os("RETORT_SKIP_GPU").is_some() && std::env::var_os("CI").is_none() => {
            eprintln!("RETORT_SKIP_GPU: skipping: {e}");
            None
        }
        Err(e) => panic!("{e}\n(GPU tests need an adapter; outside CI, RETORT_SKIP_GPU=1 skips them)"),
    }
}

/// Runs 3 distillation steps of `student` from `teacher` on the CPU and on the GPU from the same
/// weights and batch, and asserts the weights after them agree to f32 rounding (dropout masks
/// are drawn bit for bit alike on both).
fn assert_steps_agree(gpu: &Device, teacher: &str, student: &str, config: TrainConfig, method: (&str, MethodSettings), seed: u64) {
    let cpu = Device::cpu();
    let (teacher_spec, student_spec) = (ModelSpec::parse(teacher).unwrap(), ModelSpec::parse(student).unwrap());
    let (rows, inputs) = (config.batch, student_spec.input_len());
    let mut rng = Rng::new(seed);
    let (x, y) = (rng.vec(rows * inputs, 0.0, 1.0), rng.labels(rows, student_spec.classes()));
    let teacher = Model::new(teacher_spec, &cpu, 1);
    let mut params = Vec::new();
    for device in [&cpu, gpu] {
        let method = kd::method(method.0, method.1).unwrap();
        let mut t = Trainer::new(Model::new(student_spec.clone(), &cpu, 2).to_device(device), method, config.clone()).unwrap();
        let teacher = teacher.to_device(device);
        let (xt, yt) = (Tensor::from_slice(device, &[rows, inputs], &x), Labels::from_slice(device, &y));
        for step in 0..3 {
            let served = TeacherOutputs { logits: teacher.logits(&xt), activations: Vec::new() };
            let loss = t.step(&xt, &yt, Some(&served), config.lr, step).unwrap().loss.item();
            assert!(loss.is_finite(), "{student} on {}: loss {loss}", device.kind());
        }
        params.push(t.model.params.iter().map(|p| p.to_vec()).collect::<Vec<_>>());
    }
    for (i, (c, g)) in params[0].iter().zip(&params[1]).enumerate() {
        assert_close(
            &format!("{student} {:?}: parameter {i} after 3 steps, GPU against CPU", config.optimizer),
            g,
            &f64s(c),
            Tolerance::END_TO_END,
        );
    }
}

fn config(batch: usize, optimizer: OptimizerKind, dropout: Dropout) -> TrainConfig {
    TrainConfig { epochs: 1, batch, lr: 0.05, schedule: Schedule::Constant, optimizer, dropout, jitter: 0, seed: 9 }
}

/// MLP distillation steps with dropout, Hinton's and DKD, under Adam and under SGD with max-norm.
#[test]
fn training_steps_agree_between_cpu_and_gpu() {
    let Some(gpu) = gpu() else { return };
    let dropout = Dropout { input: 0.1, hidden: 0.3 };
    for optimizer in [
        OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 },
        OptimizerKind::Sgd { momentum: 0.9, weight_decay: 1e-4, max_norm: Some(1.0) },
    ] {
        let hinton = MethodSettings { temperature: Some(4.0), alpha: Some(0.7), beta: None };
        assert_steps_agree(&gpu, "mlp:20-33-7", "mlp:20-17-9-7", config(13, optimizer, dropout), ("hinton", hinton), 3);
        assert_steps_agree(&gpu, "mlp:20-33-7", "mlp:20-17-9-7", config(13, optimizer, dropout), ("dkd", MethodSettings::default()), 5);
    }
}

/// A CNN (convolutions with padding and stride, pooling, a dropout FC layer) distilled from an
/// MLP teacher.
#[test]
fn cnn_training_steps_agree_between_cpu_and_gpu() {
    let Some(gpu) = gpu() else { return };
    let sgd = OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.0, max_norm: None };
    assert_steps_agree(
        &gpu,
        "mlp:108-20-5",
        "cnn:3x6x6-c4k3p1-pool2-c5k2p1s2-fc7-5",
        config(9, sgd, Dropout { input: 0.0, hidden: 0.3 }),
        ("hinton", MethodSettings { temperature: Some(3.0), alpha: Some(0.6), beta: None }),
        4,
    );
}

fn retort(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_retort")).args(args).output().expect("run retort");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "retort {args:?} failed: {stderr}");
    (stdout, stderr)
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout.lines().last().expect("a JSON line")).expect("JSON")
}

/// A checkpoint trained on one device evaluates to the same errors on the other, both ways.
#[test]
fn checkpoints_load_across_devices() {
    if gpu().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("retort-gpu-ck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (trained_on, other) in [("cpu", "gpu"), ("gpu", "cpu")] {
        let out = dir.join(format!("{trained_on}.safetensors"));
        let out = out.to_str().unwrap();
        let (_, err) = retort(&["train", "--model", "mlp:784-24-10", "--epochs", "1", "--out", out, "--device", trained_on]);
        assert!(err.contains(&format!("device: {trained_on}")), "train did not report its device: {err}");
        let errors: Vec<u64> = [trained_on, other]
            .iter()
            .map(|d| {
                let v = json(&retort(&["eval", "--model", out, "--json", "--device", d]).0);
                assert_eq!(v["device"], *d);
                v["errors"].as_u64().unwrap()
            })
            .collect();
        // Same weights; only f32 rounding in the logits may flip a near-tie.
        assert!(errors[0].abs_diff(errors[1]) <= 2, "trained on {trained_on}: {} errors there, {} on {other}", errors[0], errors[1]);
        assert!(errors[0] < 1000, "1 epoch should beat chance: {} of 2000", errors[0]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `demo --device gpu` with the CPU's seed and schedule lands in the CPU's error band (small
/// models and one epoch: lavapipe runs at well under a GFLOP/s).
#[test]
fn demo_on_gpu_matches_cpu_band() {
    if gpu().is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("retort-gpu-demo-{}", std::process::id()));
    let run = |device: &str| {
        let v = json(
            &retort(&[
                "demo",
                "--teacher",
                "mlp:784-64-10",
                "--student",
                "mlp:784-16-10",
                "--epochs",
                "1",
                "--teacher-epochs",
                "1",
                "--json",
                "--out",
                dir.to_str().unwrap(),
                "--device",
                device,
            ])
            .0,
        );
        assert_eq!(v["device"], device);
        ["teacher", "student", "distilled"].map(|k| v[k]["errors"].as_u64().unwrap())
    };
    let (cpu, gpu) = (run("cpu"), run("gpu"));
    for (name, (c, g)) in ["teacher", "student", "distilled"].iter().zip(cpu.iter().zip(&gpu)) {
        assert!(c.abs_diff(*g) <= 5 + c / 10, "{name}: {c} errors on the CPU, {g} on the GPU");
    }
}

/// `bench kernels --json` reports every kernel with a finite time and rate, and the timer used.
#[test]
fn bench_kernels_reports_each_kernel() {
    if gpu().is_none() {
        return;
    }
    for device in ["cpu", "gpu"] {
        let report = std::env::temp_dir().join(format!("retort-gpu-kernels-{device}-{}", std::process::id()));
        let args =
            ["bench", "kernels", "--max-dim", "0", "--seconds", "0", "--json", "--device", device, "--report", report.to_str().unwrap()];
        let v = json(&retort(&args).0);
        // The report draws both figures on either device: a GPU's roofline has no FMA peak,
        // only the copy's bandwidth.
        let page = std::fs::read_to_string(report.join("report.html")).unwrap();
        assert_eq!(page.matches("<svg").count(), 2, "{device}");
        assert!(page.contains("copy bandwidth") && page.contains("<th>FMA peak</th>") == (device == "cpu"), "{device}");
        std::fs::remove_dir_all(&report).unwrap();
        assert_eq!(v["device"], device);
        let kernels = v["kernels"].as_array().unwrap();
        // Five matmuls; at each of two shapes a copy, an add, softmax and the KD loss three ways.
        assert_eq!(kernels.len(), 17, "{device}: {kernels:?}");
        for k in kernels {
            let rate = k["gflops"].as_f64().or(k["gbps"].as_f64()).unwrap();
            assert!(k["median_us"].as_f64().unwrap() > 0.0 && rate.is_finite() && rate > 0.0, "{device}: {k}");
            // Against the roofline measured in the same run: the CPU has one for every kernel.
            if device == "cpu" || k["gbps"].is_f64() {
                let share = k["percent_of_roofline"].as_f64().unwrap();
                assert!(share > 0.0 && share.is_finite(), "{device}: {k}");
            }
        }
        let peaks = v["fma_peaks"].as_array().unwrap();
        assert_eq!(peaks.is_empty(), device == "gpu", "{device}: {peaks:?}");
        assert!(["wall", "timestamp", "sync"].contains(&v["timer"].as_str().unwrap()));
    }
}

/// With no Vulkan driver to find, `--device gpu` fails with one line that says how to get an
/// adapter, and `--device auto` runs on the CPU and says why.
#[test]
fn no_adapter_is_a_clear_error_and_auto_falls_back() {
    let hidden = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_retort"))
            .args(args)
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
            .output()
            .expect("run retort")
    };
    let out = hidden(&["bench", "kernels", "--max-dim", "0", "--seconds", "0", "--device", "gpu"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("no error line: {err}"));
    assert!(line.contains("no GPU adapter") && line.contains("mesa-vulkan-drivers"), "{line}");
    let out = hidden(&["eval", "--model", "/nonexistent.safetensors", "--device", "auto"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().any(|l| l.starts_with("note:") && l.contains("no GPU adapter found") && l.ends_with("running on the CPU")),
        "{err}"
    );
}

/// `auto` takes a hardware GPU, and runs on the CPU (saying so) when the only adapter is a
/// software rasterizer such as lavapipe.
#[test]
fn auto_prefers_hardware_and_says_when_it_falls_back() {
    let Some(gpu) = gpu() else { return };
    let software = gpu.describe().ends_with(", Cpu)");
    let (stdout, stderr) =
        retort(&["bench", "train", "--model", "mlp:784-8-10", "--batch", "4", "--seconds", "0", "--json", "--device", "auto"]);
    assert_eq!(json(&stdout)["device"], if software { "cpu" } else { "gpu" }, "{}", gpu.describe());
    assert_eq!(stderr.contains("software rasterizer: running on the CPU"), software, "{stderr}");
}
