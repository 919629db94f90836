//! The wide KD pass (loss and gradient) on rows that stay in cache, one thread: nanoseconds
//! per 16 values, and cycles where `GHZ` gives the core's clock. Random rows, as `bench
//! kernels` has them, and with `AGREE=1` rows of a trained pair: the teacher near the student,
//! both and the label on the same top class (the case whose gradient takes the others' sums).
//! `RAYON_NUM_THREADS=1 AGREE=1 GHZ=3.66 cargo run --release -p retort-kernels --example kd_cycles`
//! (`ROWS`, `COLS`: 32 rows of 1000 classes unless given)
use retort_kernels::kd_loss::{KdOutputs, kd_loss};
use retort_kernels::testing::Rng;
use std::time::Instant;

fn env(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

fn main() {
    let (rows, cols) = (env("ROWS").unwrap_or(32.0) as usize, env("COLS").unwrap_or(1000.0) as usize);
    let agree = std::env::var_os("AGREE").is_some();
    let mut rng = Rng::new(3);
    let (zs, mut zt) = (rng.vec(rows * cols, -5.0, 5.0), rng.vec(rows * cols, -5.0, 5.0));
    let mut labels: Vec<u32> = (0..rows).map(|i| (i * 7 % cols) as u32).collect();
    if agree {
        let noise = rng.vec(rows * cols, -0.5, 0.5);
        for (r, label) in labels.iter_mut().enumerate() {
            let row = r * cols..(r + 1) * cols;
            let top = row.clone().max_by(|&a, &b| zs[a].total_cmp(&zs[b])).unwrap();
            *label = (top - row.start) as u32;
            for j in row {
                zt[j] = zs[j] + noise[j];
            }
            zt[top] = zs[top] + 1.0;
        }
    }
    let (mut loss, mut grad) = (vec![0.0; rows], vec![0.0; rows * cols]);
    let calls = (64_000 / rows).max(1);
    for (t, alpha) in [(20.0f32, 0.9f32), (20.0, 1.0), (20.0, 0.0)] {
        let mut best = f64::MAX;
        for _ in 0..15 {
            let start = Instant::now();
            for _ in 0..calls {
                let out = KdOutputs { row_loss: &mut loss, grad: Some((&mut grad, 1.0 / rows as f32)), parts: None };
                kd_loss(rows, cols, &zs, &zt, &labels, t, alpha, out);
            }
            best = best.min(start.elapsed().as_secs_f64() / calls as f64);
        }
        let ns16 = best * 1e9 / (rows * cols) as f64 * 16.0;
        let cycles = env("GHZ").map_or(String::new(), |ghz| format!(", {:.1} cycles", ns16 * ghz));
        println!(
            "{} rows, t {t}, alpha {alpha}: {:.2} us a call, {ns16:.2} ns{cycles} per 16 values",
            if agree { "agreeing" } else { "random" },
            best * 1e6
        );
    }
}
