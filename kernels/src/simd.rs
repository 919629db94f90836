//! Run-time choice between the AVX2/FMA paths and the scalar fallback.
//!
//! Detection runs once. `RETORT_NO_SIMD=1` forces the fallback for a whole process (benchmarks);
//! [`with_isa`] forces it for one thread (tests), so both paths are exercised in one test run.

use std::cell::Cell;
use std::sync::OnceLock;

/// The instruction set a kernel call runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Portable Rust; whatever the compiler's baseline target vectorises (SSE2 on x86-64).
    Scalar,
    /// x86-64 with AVX2 and FMA, detected at run time.
    Avx2Fma,
}

thread_local! {
    static OVERRIDE: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// The best instruction set this machine has, honouring `RETORT_NO_SIMD`.
pub fn detected() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        if std::env::var_os("RETORT_NO_SIMD").is_some_and(|v| v != "0") {
            return Isa::Scalar;
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Isa::Avx2Fma;
        }
        Isa::Scalar
    })
}

/// The instruction set kernels called from this thread use now.
pub fn isa() -> Isa {
    OVERRIDE.with(|o| o.get()).unwrap_or_else(detected)
}

/// Runs `f` with this thread's kernels forced to `isa` (never above what the CPU has).
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    let isa = if isa == Isa::Avx2Fma { detected() } else { isa };
    let previous = OVERRIDE.with(|o| o.replace(Some(isa)));
    let out = f();
    OVERRIDE.with(|o| o.set(previous));
    out
}

/// Runs `body` compiled for `isa`: the closure is inlined into a function built with AVX2/FMA
/// enabled, so plain loops in it are vectorised 8-wide with fused multiply-adds.
#[inline(always)]
pub fn dispatch<R>(isa: Isa, body: impl FnOnce() -> R) -> R {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => {
            #[target_feature(enable = "avx2,fma")]
            fn avx2<R>(body: impl FnOnce() -> R) -> R {
                body()
            }
            // SAFETY: `Isa::Avx2Fma` is only produced by `detected()` after run-time detection
            // of both features (`with_isa` caps a request at `detected()`).
            unsafe { avx2(body) }
        }
        _ => body(),
    }
}
