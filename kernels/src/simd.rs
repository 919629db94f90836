//! Run-time choice between the AVX-512, AVX2/FMA and scalar paths.
//!
//! Detection runs once. `RETORT_NO_SIMD=1` forces the fallback for a whole process and
//! `RETORT_NO_AVX512=1` stops at AVX2 (benchmarks); [`with_isa`] forces a path for one thread
//! (tests), so every path the machine has is exercised in one test run.

use std::cell::Cell;
use std::sync::OnceLock;

/// The instruction set a kernel call runs with, from the narrowest to the widest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Portable Rust; whatever the compiler's baseline target vectorises (SSE2 on x86-64).
    Scalar,
    /// x86-64 with AVX2 and FMA, detected at run time.
    Avx2Fma,
    /// x86-64 with AVX-512F besides AVX2 and FMA, detected at run time.
    Avx512,
}

impl Isa {
    /// Whether this path may run the AVX2/FMA code (AVX-512 machines have it too).
    pub fn has_avx2(self) -> bool {
        self >= Isa::Avx2Fma
    }

    /// The name printed beside a benchmark's figures.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2+fma",
            Isa::Avx512 => "avx512f",
        }
    }
}

thread_local! {
    static OVERRIDE: Cell<Option<Isa>> = const { Cell::new(None) };
}

/// The widest instruction set this machine has, honouring `RETORT_NO_SIMD` and `RETORT_NO_AVX512`.
pub fn detected() -> Isa {
    static DETECTED: OnceLock<Isa> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        let off = |var: &str| std::env::var_os(var).is_some_and(|v| v != "0");
        if off("RETORT_NO_SIMD") {
            return Isa::Scalar;
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            if is_x86_feature_detected!("avx512f") && !off("RETORT_NO_AVX512") {
                return Isa::Avx512;
            }
            return Isa::Avx2Fma;
        }
        Isa::Scalar
    })
}

/// Every path this machine can run, the scalar one first: what the tests loop over.
pub fn available() -> Vec<Isa> {
    [Isa::Scalar, Isa::Avx2Fma, Isa::Avx512].into_iter().filter(|&i| i <= detected()).collect()
}

/// The instruction set kernels called from this thread use now.
pub fn isa() -> Isa {
    OVERRIDE.with(|o| o.get()).unwrap_or_else(detected)
}

/// Runs `f` with this thread's kernels forced to `isa` (never above what the CPU has).
pub fn with_isa<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    let isa = isa.min(detected());
    let previous = OVERRIDE.with(|o| o.replace(Some(isa)));
    let out = f();
    OVERRIDE.with(|o| o.set(previous));
    out
}

/// Runs `$body` compiled for `$isa`: the body becomes an `#[inline(always)]` closure inlined into
/// a function built with the path's features, so plain loops in it are vectorised and the vector
/// types of [`crate::lanes`] compile to single instructions. (A closure left to LLVM's judgement
/// may stay a function of its own, built without the features: its loops then run on SSE2.)
#[macro_export]
#[doc(hidden)]
macro_rules! dispatch {
    ($isa:expr, $body:expr) => {
        $crate::simd::run_compiled_for(
            $isa,
            #[inline(always)]
            || $body,
        )
    };
}
pub use dispatch;

/// [`dispatch!`]'s function: call it through the macro.
#[inline(always)]
pub fn run_compiled_for<R>(isa: Isa, body: impl FnOnce() -> R) -> R {
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
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            #[target_feature(enable = "avx512f,avx2,fma")]
            fn avx512<R>(body: impl FnOnce() -> R) -> R {
                body()
            }
            // SAFETY: as above, `Isa::Avx512` follows detection of AVX-512F, AVX2 and FMA.
            unsafe { avx512(body) }
        }
        _ => body(),
    }
}

/// Asks for the cache lines of `s` to be brought into L2 ahead of their use (a hint: nothing on
/// other targets). Into L2, not L1: a row kernel's L1 holds its current rows and scratch.
#[inline(always)]
pub(crate) fn prefetch(s: &[f32]) {
    let Some(last) = s.last() else { return };
    // Each line once, from the one holding the first value to the one holding the last: a
    // plain loop of additions, which a panel of GEMM takes between its tiles (an iterator
    // over every 16th value cost such a GEMM 2.5%).
    let (first, last) = (s.as_ptr(), last as *const f32);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T1, _mm_prefetch};
        // The line's address with the slice's provenance (a prefetch never dereferences it).
        let mut at = first.wrapping_byte_sub(first as usize % 64);
        while at <= last {
            // SAFETY: a prefetch never faults nor changes memory, and SSE is in x86-64's baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(at.cast()) };
            at = at.wrapping_byte_add(64);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (first, last);
}
