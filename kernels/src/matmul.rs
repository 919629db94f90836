//! Single-precision GEMM: `C = op(A) op(B) + beta C`, row-major, with transpose flags.
//!
//! Two kernels behind one front: our packed AVX2/FMA micro-kernel ([`MatmulKernel::Packed`], the
//! default on a CPU with AVX2 and FMA) and matrixmultiply ([`MatmulKernel::MatrixMultiply`], the
//! portable fallback, the bar ours must clear, and `RETORT_MATMUL=matrixmultiply` to compare).
//! Transposes cost nothing: both read `A` and `B` through strides. `beta = 1` accumulates
//! gradients in place; `beta = 0` never reads `C`, so it may hold anything. Threads come from
//! rayon alone: the output is cut into one block per thread along its longer side (or, for a
//! small output over a long `k`, `k` is), and each block runs a single-threaded kernel.
//!
//! [`matmul_gathered`] takes a left operand never written out, read through two offset tables
//! (a convolution's column matrix, from its padded images), and an [`Epilogue`]: a bias and a
//! ReLU applied as the tile stores its values.

pub use crate::matmul_operands::Epilogue;
use crate::matmul_operands::{Gather, Lhs, Store, View};
use crate::matmul_packed;
use crate::simd::{self, Isa};

/// Which single-threaded kernel a GEMM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulKernel {
    /// Ours: packed panels around a 6x16 AVX2/FMA register tile, or 8x32 with AVX-512.
    /// Needs [`Isa::Avx2Fma`] at least.
    Packed,
    /// The matrixmultiply crate, portable.
    MatrixMultiply,
}

impl MatmulKernel {
    /// The kernel [`matmul`] uses on this thread now: ours where AVX2/FMA is there, unless
    /// `RETORT_MATMUL=matrixmultiply`. Measured in the whole training step (2026-11-24, 2 cores,
    /// `bench train`, alternating runs): equal on the MLPs, 6-8% faster on the CNNs.
    pub fn current() -> Self {
        static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let forced = *FORCED.get_or_init(|| std::env::var("RETORT_MATMUL").is_ok_and(|v| v == "matrixmultiply"));
        Self::choose(forced, simd::isa())
    }

    /// Ours unless matrixmultiply is forced or the instruction set lacks AVX2/FMA.
    fn choose(matrixmultiply_forced: bool, isa: Isa) -> Self {
        if !matrixmultiply_forced && isa.has_avx2() { MatmulKernel::Packed } else { MatmulKernel::MatrixMultiply }
    }
}

/// `C (m x n) = op(A) (m x k) * op(B) (k x n) + beta * C`.
/// `a` holds `m x k`, or `k x m` with `trans_a`; `b` holds `k x n`, or `n x k` with `trans_b`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(m: usize, k: usize, n: usize, a: &[f32], trans_a: bool, b: &[f32], trans_b: bool, c: &mut [f32], beta: f32) {
    matmul_with(MatmulKernel::current(), m, k, n, a, trans_a, b, trans_b, c, beta)
}

/// [`matmul`] with the kernel named: for tests and benchmarks of each one.
#[allow(clippy::too_many_arguments)]
pub fn matmul_with(
    kernel: MatmulKernel, m: usize, k: usize, n: usize, a: &[f32], trans_a: bool, b: &[f32], trans_b: bool, c: &mut [f32], beta: f32,
) {
    matmul_stored_with(kernel, m, k, n, a, trans_a, b, trans_b, c, Epilogue::beta(beta))
}

/// [`matmul`] stored through `out`: `C = relu?(op(A) op(B) + beta C + bias)`, a linear layer's
/// bias and ReLU applied in the register tile rather than in a pass over `C` after it.
#[allow(clippy::too_many_arguments)]
pub fn matmul_stored(m: usize, k: usize, n: usize, a: &[f32], trans_a: bool, b: &[f32], trans_b: bool, c: &mut [f32], out: Epilogue) {
    matmul_stored_with(MatmulKernel::current(), m, k, n, a, trans_a, b, trans_b, c, out)
}

/// [`matmul_stored`] with the kernel named.
#[allow(clippy::too_many_arguments)]
fn matmul_stored_with(
    kernel: MatmulKernel, m: usize, k: usize, n: usize, a: &[f32], trans_a: bool, b: &[f32], trans_b: bool, c: &mut [f32], out: Epilogue,
) {
    assert!(
        a.len() == m * k && b.len() == k * n && c.len() == m * n,
        "matmul: {m}x{k} * {k}x{n} needs a {}, b {}, c {} values; got {}, {}, {}",
        m * k,
        k * n,
        m * n,
        a.len(),
        b.len(),
        c.len()
    );
    assert!(out.bias.is_none_or(|b| b.len() == n), "matmul: a bias of {n} values, got {:?}", out.bias.map(<[f32]>::len));
    let av = if trans_a { View { ptr: a.as_ptr(), rs: 1, cs: m as isize } } else { View { ptr: a.as_ptr(), rs: k as isize, cs: 1 } };
    // SAFETY: the views cover exactly the slices whose lengths were checked above, the bias (if
    // any) has `n` values.
    unsafe { gemm(kernel, m, k, n, Lhs::Strided(av), b, trans_b, c, Store::of(out)) }
}

/// `C (m x n) = G (m x k) * op(B) (k x n)`, stored through `out`, with `G(i, p) = base[rows[i]
/// + steps[p]]` (`rows`: `m` offsets, `steps`: `k`): a GEMM on a matrix never written out, such
/// as a convolution's column matrix read from its image. `b` as in [`matmul`].
#[allow(clippy::too_many_arguments)]
pub fn matmul_gathered(
    m: usize, k: usize, n: usize, base: &[f32], rows: &[u32], steps: &[u32], b: &[f32], trans_b: bool, c: &mut [f32], out: Epilogue,
) {
    matmul_gathered_with(MatmulKernel::current(), m, k, n, base, rows, steps, b, trans_b, c, out)
}

/// [`matmul_gathered`] with the kernel named.
#[allow(clippy::too_many_arguments)]
fn matmul_gathered_with(
    kernel: MatmulKernel, m: usize, k: usize, n: usize, base: &[f32], rows: &[u32], steps: &[u32], b: &[f32], trans_b: bool, c: &mut [f32],
    out: Epilogue,
) {
    assert!(
        rows.len() == m && steps.len() == k && b.len() == k * n && c.len() == m * n,
        "matmul_gathered: {m}x{k} * {k}x{n} needs {m} row and {k} step offsets, b {}, c {} values; got {}, {}, {}, {}",
        k * n,
        m * n,
        rows.len(),
        steps.len(),
        b.len(),
        c.len()
    );
    // Every element inside `base`: the largest offsets add to the last position. (u32 offsets:
    // their max vectorises, a table of a whole batch's pixels checks in microseconds.)
    let (row_hi, step_hi) = (rows.iter().copied().max().unwrap_or(0), steps.iter().copied().max().unwrap_or(0));
    assert!(
        m == 0 || k == 0 || (row_hi as usize + step_hi as usize) < base.len(),
        "matmul_gathered: offsets up to {row_hi} plus {step_hi} leave a buffer of {}",
        base.len()
    );
    assert!(out.bias.is_none_or(|b| b.len() == n), "matmul_gathered: a bias of {n} values, got {:?}", out.bias.map(<[f32]>::len));
    let g = Gather { ptr: base.as_ptr(), rows: rows.as_ptr(), steps: steps.as_ptr() };
    // SAFETY: every element of G lies inside `base` (asserted), B, C and the bias have their
    // lengths.
    unsafe { gemm(kernel, m, k, n, Lhs::Gathered(g), b, trans_b, c, Store::of(out)) }
}

/// The threads' split of `C = A op(B)` stored through `store`, and the kernel that runs each
/// piece. SAFETY: `a` addresses a valid `m x k` matrix; `b` and `c` have `k n` and `m n`
/// values, the bias (if any) `n`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(kernel: MatmulKernel, m: usize, k: usize, n: usize, av: Lhs, b: &[f32], trans_b: bool, c: &mut [f32], store: Store) {
    let kernel = if kernel == MatmulKernel::Packed && !simd::detected().has_avx2() { MatmulKernel::MatrixMultiply } else { kernel };
    if m == 0 || n == 0 {
        return;
    }
    let bv = if trans_b { View { ptr: b.as_ptr(), rs: 1, cs: k as isize } } else { View { ptr: b.as_ptr(), rs: n as isize, cs: 1 } };
    let c_ptr = SendPtr(c.as_mut_ptr());
    // Taken here: rayon's threads do not see this thread's `simd::with_isa`.
    let isa = simd::isa();
    let (mr, nr) = matmul_packed::tile_shape(isa);

    let threads = rayon::current_num_threads();
    let work = m * n * k.max(1);
    // A piece per 2^20 multiply-adds at least (tens of microseconds on one core): a hand-off to
    // a sleeping thread costs more than a smaller piece saves, most on many cores.
    let pieces = (work >> 20).clamp(1, threads);
    // SAFETY (all calls below): the operands address the matrices the caller vouched for, each
    // piece reads inside them, and the pieces write disjoint blocks of `c` (or their own scratch).
    // Split k by the shape alone, before the thread count is looked at: how a sum is cut decides
    // its rounding, and the result must not depend on the machine's cores.
    if k >= SPLIT_K_RATIO * m.max(n) && work >= 1 << 20 {
        // A weight gradient of a convolution: a small C summed over a long k (every pixel of the
        // batch). Each piece sums its own run of k; the first writes C, the rest scratch, added
        // to C at the end in order. The runs depend on k alone, never on the thread count, so
        // every machine adds the same numbers in the same order.
        let step = k.div_ceil(SPLIT_K_PIECES);
        let mut scratch = vec![0.0f32; (k.div_ceil(step) - 1) * m * n];
        let s_ptr = SendPtr(scratch.as_mut_ptr());
        rayon::scope(|s| {
            for (piece, p0) in (0..k).step_by(step).enumerate() {
                let kb = step.min(k - p0);
                s.spawn(move |_| {
                    let (c_ptr, s_ptr) = (c_ptr, s_ptr);
                    let (out, beta) = if piece == 0 { (c_ptr.0, store.beta) } else { (unsafe { s_ptr.0.add((piece - 1) * m * n) }, 0.0) };
                    unsafe { serial(kernel, isa, m, kb, n, av.at(0, p0), View { ptr: bv.at(p0, 0), ..bv }, out, n, Store::beta(beta)) }
                });
            }
        });
        for part in scratch.chunks_exact(m * n) {
            c.iter_mut().zip(part).for_each(|(c, s)| *c += s);
        }
        // The epilogue on the whole sum.
        unsafe { store.finish_block(m, n, c.as_mut_ptr(), n) };
    } else if pieces <= 1 {
        unsafe { serial(kernel, isa, m, k, n, av, bv, c_ptr.0, n, store) };
    } else if n >= m {
        let step = n.div_ceil(pieces).div_ceil(nr) * nr;
        rayon::scope(|s| {
            for j0 in (0..n).step_by(step) {
                let nb = step.min(n - j0);
                s.spawn(move |_| {
                    let c_ptr = c_ptr;
                    unsafe { serial(kernel, isa, m, k, nb, av, View { ptr: bv.at(0, j0), ..bv }, c_ptr.0.add(j0), n, store.at_col(j0)) }
                });
            }
        });
    } else {
        let step = m.div_ceil(pieces).div_ceil(mr) * mr;
        rayon::scope(|s| {
            for i0 in (0..m).step_by(step) {
                let mb = step.min(m - i0);
                s.spawn(move |_| {
                    let c_ptr = c_ptr;
                    unsafe { serial(kernel, isa, mb, k, n, av.at(i0, 0), bv, c_ptr.0.add(i0 * n), n, store) }
                });
            }
        });
    }
}

/// Values of a gathered matrix written out at once for the matrixmultiply fallback (4 MiB).
const GATHER_BLOCK_VALUES: usize = 1 << 20;

/// k at least this many times C's longer side: the threads split k, not C (see [`matmul_with`]).
const SPLIT_K_RATIO: usize = 8;
/// Runs of k a split-k product is cut into, whatever the thread count.
const SPLIT_K_PIECES: usize = 16;

/// A raw output pointer that crosses to rayon's threads; each thread writes its own block.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: every user writes a block of the output disjoint from every other user's block.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

/// One single-threaded GEMM on views; `c` has row stride `rsc` and unit column stride.
/// SAFETY: `a`, `b` and `c` must address valid `m x k`, `k x n` and `m x n` matrices.
#[allow(clippy::too_many_arguments)]
unsafe fn serial(kernel: MatmulKernel, isa: Isa, m: usize, k: usize, n: usize, a: Lhs, b: View, c: *mut f32, rsc: usize, store: Store) {
    match (kernel, a) {
        (MatmulKernel::Packed, _) => unsafe { matmul_packed::matmul_packed(isa, m, k, n, a, b, c, rsc, store) },
        (MatmulKernel::MatrixMultiply, Lhs::Strided(a)) => unsafe {
            matrixmultiply::sgemm(m, k, n, 1.0, a.ptr, a.rs, a.cs, b.ptr, b.rs, b.cs, store.beta, c, rsc as isize, 1);
            store.finish_block(m, n, c, rsc);
        },
        // matrixmultiply reads strides only: the gathered matrix written out first, a block of
        // rows at a time (a whole batch's column matrix would be `k` times its images).
        (MatmulKernel::MatrixMultiply, Lhs::Gathered(_)) => {
            let rows = (GATHER_BLOCK_VALUES / k.max(1)).max(1);
            for i0 in (0..m).step_by(rows) {
                let mb = rows.min(m - i0);
                let dense: Vec<f32> = (0..mb * k).map(|e| unsafe { a.get(i0 + e / k, e % k) }).collect();
                let block = Lhs::Strided(View { ptr: dense.as_ptr(), rs: k as isize, cs: 1 });
                unsafe { serial(kernel, isa, mb, k, n, block, b, c.add(i0 * rsc), rsc, store) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use crate::testing::{Rng, Tolerance, assert_close, f64s};

    const SHAPES: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 7, 33),
        (7, 1, 5),
        (6, 16, 16),
        (7, 33, 17),
        (33, 65, 7),
        (65, 257, 63),
        (128, 784, 37),
        (257, 63, 130),
        (5, 300, 1000),
        (200, 3, 190),
        (13, 0, 9),
        // Convolution-like skinny products (A read in place) and a block taller than MC (A packed).
        (1000, 25, 8),
        (25, 1000, 16),
        (301, 200, 16),
        (150, 300, 140),
        // The AVX-512 tile's edges: a whole 8x32 tile, one past it, k past its 256-step block;
        // a transposed B packed 8 columns at a time, columns left over and steps no multiple of 8.
        (8, 32, 32),
        (9, 41, 33),
        (145, 257, 97),
        (12, 203, 45),
        // The AVX-512 tile reading B in place: whole panels only, over two blocks of k.
        (20, 513, 64),
        // Split k: a small C over a long k.
        (16, 70_000, 8),
    ];

    fn check(kernel: MatmulKernel) {
        let mut rng = Rng::new(1);
        for &(m, k, n) in SHAPES {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = rng.vec(m * k, -1.0, 1.0);
                let b = rng.vec(k * n, -1.0, 1.0);
                let want = reference::matmul(m, k, n, &f64s(&a), ta, &f64s(&b), tb);
                // beta = 0 must not read C: poison it.
                let mut c = vec![f32::NAN; m * n];
                matmul_with(kernel, m, k, n, &a, ta, &b, tb, &mut c, 0.0);
                let op = format!("matmul {kernel:?} {:?} {m}x{k}x{n} ta={ta} tb={tb}", simd::isa());
                assert_close(&op, &c, &want, Tolerance::dot(k));
                // beta = 1 accumulates: C + AB.
                let c0 = rng.vec(m * n, -1.0, 1.0);
                let mut c = c0.clone();
                matmul_with(kernel, m, k, n, &a, ta, &b, tb, &mut c, 1.0);
                let accumulated: Vec<f64> = want.iter().zip(&c0).map(|(w, &c)| w + c as f64).collect();
                assert_close(&format!("{op} beta=1"), &c, &accumulated, Tolerance::dot(k));
                // A linear layer's store: bias and ReLU, over a poisoned C and over an accumulated one.
                let bias = rng.vec(n, -0.5, 0.5);
                for (beta, relu) in [(0.0f32, true), (1.0, false), (1.0, true)] {
                    let mut c = if beta == 0.0 { vec![f32::NAN; m * n] } else { c0.clone() };
                    matmul_stored_with(kernel, m, k, n, &a, ta, &b, tb, &mut c, Epilogue { beta, bias: Some(&bias), relu });
                    let want: Vec<f64> = (0..m * n)
                        .map(|e| want[e] + beta as f64 * c0[e] as f64 + bias[e % n] as f64)
                        .map(|v| if relu { v.max(0.0) } else { v })
                        .collect();
                    assert_close(&format!("{op} beta={beta} bias relu={relu}"), &c, &want, Tolerance::dot(k));
                }
            }
        }
    }

    /// The AVX2 tile, and the AVX-512 one where the CPU has it (the closing note says which ran).
    #[test]
    fn packed_matches_reference_with_every_tile() {
        for isa in crate::simd::available().into_iter().filter(|i| i.has_avx2()) {
            crate::simd::with_isa(isa, || check(MatmulKernel::Packed));
        }
    }

    #[test]
    fn matrixmultiply_fallback_matches_reference() {
        check(MatmulKernel::MatrixMultiply);
    }

    #[test]
    fn packed_runs_where_avx2_is_there_unless_matrixmultiply_is_forced() {
        assert_eq!(MatmulKernel::choose(false, Isa::Avx2Fma), MatmulKernel::Packed);
        assert_eq!(MatmulKernel::choose(false, Isa::Scalar), MatmulKernel::MatrixMultiply);
        assert_eq!(MatmulKernel::choose(true, Isa::Avx2Fma), MatmulKernel::MatrixMultiply);
        crate::simd::with_isa(Isa::Scalar, || assert_eq!(MatmulKernel::current(), MatmulKernel::MatrixMultiply));
    }

    /// The same bits on one thread and on three, split-k products included: how a sum is cut
    /// never depends on the thread count.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut rng = Rng::new(3);
        for &(m, k, n) in &[(16usize, 70_000usize, 8usize), (128, 784, 300), (300, 200, 16)] {
            let (a, b) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
            let run = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let mut c = vec![0.0f32; m * n];
                pool.install(|| matmul(m, k, n, &a, true, &b, false, &mut c, 0.0));
                c.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            };
            assert!(run(1) == run(3), "{m}x{k}x{n}: one thread and three differ");
        }
    }

    /// A gathered left operand, on every kernel: the GEMM of the matrix its offsets address,
    /// written out, whatever the threads' split (rows, columns or k).
    #[test]
    fn gathered_matches_the_matrix_it_addresses() {
        let mut rng = Rng::new(4);
        let kernels = crate::simd::available().into_iter().filter(|i| i.has_avx2()).map(|isa| (MatmulKernel::Packed, isa));
        for (kernel, isa) in kernels.chain([(MatmulKernel::MatrixMultiply, simd::isa())]) {
            for &(m, k, n) in &[
                (1usize, 1usize, 1usize),
                (7, 25, 8),
                (1000, 25, 8),
                (301, 200, 16),
                (25, 5000, 16),
                (13, 41, 140),
                (16, 70_000, 8),
                (6000, 400, 8),
            ] {
                let base = rng.vec(3 * (m + k) + 7, -1.0, 1.0);
                // Overlapping windows, as a convolution's are: rows and steps both of stride 1 to 3.
                let rows: Vec<u32> = (0..m).map(|i| (i * (1 + i % 3) / 2) as u32).collect();
                let steps: Vec<u32> = (0..k).map(|p| (p * 2 + p % 3) as u32).collect();
                let dense: Vec<f32> = (0..m * k).map(|e| base[(rows[e / k] + steps[e % k]) as usize]).collect();
                let b = rng.vec(k * n, -1.0, 1.0);
                let want = reference::matmul(m, k, n, &f64s(&dense), false, &f64s(&b), false);
                let bias = rng.vec(n, -0.5, 0.5);
                // Plain, accumulating, and with the epilogue: bias and ReLU after the last k block.
                for (beta, with_bias, relu) in [(0.0f32, false, false), (1.0, false, false), (0.0, true, true), (1.0, true, false)] {
                    let c0 = rng.vec(m * n, -1.0, 1.0);
                    let mut c = if beta == 0.0 { vec![f32::NAN; m * n] } else { c0.clone() };
                    let out = Epilogue { beta, bias: with_bias.then_some(&bias[..]), relu };
                    crate::simd::with_isa(isa, || {
                        let kernel = MatmulKernel::choose(kernel == MatmulKernel::MatrixMultiply, isa);
                        matmul_gathered_with(kernel, m, k, n, &base, &rows, &steps, &b, false, &mut c, out)
                    });
                    let want: Vec<f64> = (0..m * n)
                        .map(|e| want[e] + beta as f64 * c0[e] as f64 + if with_bias { bias[e % n] as f64 } else { 0.0 })
                        .map(|v| if relu { v.max(0.0) } else { v })
                        .collect();
                    assert_close(&format!("gathered {kernel:?} {isa:?} {m}x{k}x{n} {out:?}"), &c, &want, Tolerance::dot(k));
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "leave a buffer")]
    fn gathered_offsets_past_the_buffer_are_refused() {
        let (base, b, mut c) = (vec![0.0f32; 10], vec![0.0f32; 1], vec![0.0f32; 2]);
        matmul_gathered(2, 1, 1, &base, &[0, 5], &[5], &b, false, &mut c, Epilogue::beta(0.0));
    }

    #[test]
    fn large_k_spans_several_packed_blocks() {
        // k > KC and n > NC: the accumulation across k blocks and the column blocks both run.
        let (m, k, n) = (9, 600, 2100);
        let mut rng = Rng::new(2);
        let (a, b) = (rng.vec(m * k, -1.0, 1.0), rng.vec(k * n, -1.0, 1.0));
        let want = reference::matmul(m, k, n, &f64s(&a), false, &f64s(&b), false);
        for isa in crate::simd::available().into_iter().filter(|i| i.has_avx2()) {
            let mut c = vec![0.0; m * n];
            crate::simd::with_isa(isa, || matmul_with(MatmulKernel::Packed, m, k, n, &a, false, &b, false, &mut c, 0.0));
            assert_close(&format!("matmul packed {isa:?} 9x600x2100"), &c, &want, Tolerance::dot(k));
        }
    }
}
