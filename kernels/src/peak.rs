//! The machine's own limit, measured: the fused multiply-add peak of each vector width, the
//! roofline a compute-bound kernel is judged against.

use crate::lanes::{Lanes, with_lanes};
use crate::simd::Isa;
use std::time::Instant;

/// Independent accumulator chains per thread: enough to cover the FMA latency (4 cycles) on
/// two FMA pipes, with registers to spare on 16-register AVX2.
const CHAINS: usize = 12;

/// GFLOP/s of fused multiply-adds on `isa`'s vectors on every rayon thread, the best of a few
/// runs of about `seconds` in all (a multiply-add counts as two flops).
pub fn fma_peak_gflops(isa: Isa, seconds: f64) -> f64 {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads().max(1);
    let lanes = with_lanes!(isa, l => l.n());
    // Calibrate the iteration count to about 20 ms a run.
    let mut iters = 1usize << 16;
    loop {
        let t0 = Instant::now();
        std::hint::black_box(fma_chains(isa, iters));
        if t0.elapsed().as_secs_f64() > 0.01 || iters > 1 << 30 {
            break;
        }
        iters *= 2;
    }
    let runs = ((seconds / 0.02).ceil() as usize).clamp(3, 100);
    let mut best = 0.0f64;
    for _ in 0..runs {
        let t0 = Instant::now();
        (0..threads).into_par_iter().for_each(|_| {
            std::hint::black_box(fma_chains(isa, iters));
        });
        let flops = (threads * iters * CHAINS * lanes * 2) as f64;
        best = best.max(flops / t0.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// `iters` steps of `CHAINS` independent `acc = acc * x + y` chains; returns their sum so the
/// work cannot be dropped.
fn fma_chains(isa: Isa, iters: usize) -> f32 {
    with_lanes!(isa, l => {
        let (x, y) = (l.splat(std::hint::black_box(0.999_999)), l.splat(std::hint::black_box(1e-6)));
        let mut acc = [l.splat(1.0); CHAINS];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = l.mul_add(*a, x, y);
            }
        }
        acc.iter().map(|&a| l.sum(a)).sum::<f32>()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path runs the chains it counts: `N` lanes of each of `CHAINS` chains, each the same
    /// recurrence as on one lane (so the flops counted are flops done), and a finite rate.
    #[test]
    fn each_path_computes_the_chains_it_counts() {
        let iters = 1000;
        let one_chain = (0..iters).fold(1.0f64, |a, _| a * 0.999_999 + 1e-6);
        for isa in crate::simd::available() {
            let lanes = with_lanes!(isa, l => l.n());
            let got = fma_chains(isa, iters) as f64;
            let want = one_chain * (CHAINS * lanes) as f64;
            assert!((got - want).abs() < 1e-4 * want, "{isa:?}: {got} against {want}");
            let rate = fma_peak_gflops(isa, 0.01);
            assert!(rate.is_finite() && rate > 0.0, "{isa:?}: {rate} GFLOP/s");
        }
    }
}
