//! Our single-threaded GEMM: BLIS-style blocking around a 6x16 AVX2/FMA register tile.
//!
//! Loops, outer to inner: `NC` columns of B, `KC` of the shared dimension (a packed `KC x NC`
//! block of B), `MC` rows of A, then 16-column panels of B (one panel, 16 KiB, stays in L1)
//! against every 6-row tile of A. The tile holds 12 accumulators of 8 lanes: 12 independent FMA
//! chains cover the FMA latency of two ports, and each step of the shared dimension costs 2 loads
//! of B and 6 broadcasts of A for 12 FMAs, so the FMA ports, not the loads, set the pace.
//!
//! A is packed into 6-row panels only when its tiles are reused across many panels of B. For
//! the skinny products of convolutions (16 or 64 output channels against 25,088 rows of a column
//! matrix) packing A would copy the whole column matrix to use each value a few times, so the
//! tile broadcasts A's values straight from the caller's matrix, through its strides.
//! Edges need no scratch tile: a short tile is a narrower instantiation, and a narrow one
//! stores its last 8 lanes with a mask.

use crate::matmul::View;
use std::cell::RefCell;

pub(crate) const MR: usize = 6;
pub(crate) const NR: usize = 16;
const KC: usize = 256;
const MC: usize = 144;
const NC: usize = 2048;
/// From this many columns of B, A's tiles are reused often enough that packing them pays.
const PACK_A_MIN_N: usize = 128;

thread_local! {
    /// Packed blocks of A and B, allocated once per thread.
    static PACK: RefCell<(Vec<f32>, Vec<f32>)> = RefCell::new((vec![0.0; MC * KC], vec![0.0; KC * NC]));
}

/// `C = A B + beta C` on views; `c` has row stride `rsc`, unit column stride.
/// SAFETY: the views address valid `m x k` and `k x n` matrices and `c` a writable `m x n` one;
/// the CPU has AVX2 and FMA (the caller checked `simd::detected()`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_packed(m: usize, k: usize, n: usize, a: View, b: View, c: *mut f32, rsc: usize, beta: f32) {
    if k == 0 {
        // Nothing to multiply: C = beta C, where beta = 0 must not read C.
        for i in 0..m {
            for j in 0..n {
                let p = unsafe { c.add(i * rsc + j) };
                unsafe { *p = if beta == 0.0 { 0.0 } else { beta * *p } };
            }
        }
        return;
    }
    let pack_a_panels = n >= PACK_A_MIN_N;
    PACK.with(|pack| {
        let (apack, bpack) = &mut *pack.borrow_mut();
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                let beta = if pc == 0 { beta } else { 1.0 };
                unsafe { pack_b(kc, nc, b.at(pc, jc), b.rs, b.cs, bpack) };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    // Where tile `ir`'s A starts, and its strides: packed panels, or in place.
                    let (a_base, a_rs, a_cs, a_tile) = if pack_a_panels {
                        unsafe { pack_a(mc, kc, a.at(ic, pc), a.rs, a.cs, apack) };
                        (apack.as_ptr(), 1, MR as isize, (MR * kc) as isize)
                    } else {
                        (unsafe { a.at(ic, pc) }, a.rs, a.cs, MR as isize * a.rs)
                    };
                    for jr in (0..nc).step_by(NR) {
                        let nr = NR.min(nc - jr);
                        let bp = bpack[jr * kc..].as_ptr();
                        for (t, ir) in (0..mc).step_by(MR).enumerate() {
                            let rows = MR.min(mc - ir);
                            // SAFETY: the B panel holds kc x NR values (zero padded), the A tile
                            // `rows` rows of kc values through its strides, and the C tile lies
                            // inside C; `tile` writes only `rows x nr` of it.
                            unsafe {
                                let ap = a_base.offset(t as isize * a_tile);
                                let cp = c.add((ic + ir) * rsc + jc + jr);
                                tile(rows, nr, kc, ap, a_rs, a_cs, bp, cp, rsc, beta);
                            }
                        }
                    }
                }
            }
        }
    });
}

/// Packs `mc x kc` of A into `MR`-row panels, each `kc` steps of `MR` values, zero padded.
/// SAFETY: `a` addresses a valid `mc x kc` matrix with strides `rs`, `cs`.
unsafe fn pack_a(mc: usize, kc: usize, a: *const f32, rs: isize, cs: isize, out: &mut [f32]) {
    for (panel, i0) in (0..mc).step_by(MR).enumerate() {
        let rows = MR.min(mc - i0);
        let dst = &mut out[panel * MR * kc..(panel + 1) * MR * kc];
        if rows < MR {
            dst.fill(0.0);
        }
        for i in 0..rows {
            // One row of A at a time: contiguous reads when A is row-major.
            let row = unsafe { a.offset((i0 + i) as isize * rs) };
            for p in 0..kc {
                dst[p * MR + i] = unsafe { *row.offset(p as isize * cs) };
            }
        }
    }
}

/// Packs `kc x nc` of B into `NR`-column panels, each `kc` steps of `NR` values, zero padded.
/// SAFETY: `b` addresses a valid `kc x nc` matrix with strides `rs`, `cs`.
unsafe fn pack_b(kc: usize, nc: usize, b: *const f32, rs: isize, cs: isize, out: &mut [f32]) {
    for (panel, j0) in (0..nc).step_by(NR).enumerate() {
        let cols = NR.min(nc - j0);
        let dst = &mut out[panel * NR * kc..(panel + 1) * NR * kc];
        let first = unsafe { b.offset(j0 as isize * cs) };
        if cs == 1 && cols == NR {
            // Row-major B: each step is one contiguous run of NR values.
            for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
                d.copy_from_slice(unsafe { std::slice::from_raw_parts(first.offset(p as isize * rs), NR) });
            }
            continue;
        }
        if cols < NR {
            dst.fill(0.0);
        }
        // Column by column: contiguous reads when B is transposed (rs = 1), and the panel's
        // strided writes stay in L1.
        for j in 0..cols {
            let col = unsafe { first.offset(j as isize * cs) };
            for p in 0..kc {
                dst[p * NR + j] = unsafe { *col.offset(p as isize * rs) };
            }
        }
    }
}

/// One `rows x cols` tile (`rows <= MR`, `cols <= NR`) through the instantiation of its size.
/// SAFETY: as [`kernel`].
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    rows: usize, cols: usize, kc: usize, a: *const f32, a_rs: isize, a_cs: isize, b: *const f32, c: *mut f32, rsc: usize, beta: f32,
) {
    macro_rules! by_rows {
        ($v:literal) => {
            match rows {
                6 => kernel::<6, $v>(kc, a, a_rs, a_cs, b, c, rsc, cols, beta),
                5 => kernel::<5, $v>(kc, a, a_rs, a_cs, b, c, rsc, cols, beta),
                4 => kernel::<4, $v>(kc, a, a_rs, a_cs, b, c, rsc, cols, beta),
                3 => kernel::<3, $v>(kc, a, a_rs, a_cs, b, c, rsc, cols, beta),
                2 => kernel::<2, $v>(kc, a, a_rs, a_cs, b, c, rsc, cols, beta),
                _ => kernel::<1, $v>(kc, a, a_rs, a_cs, b, c, rsc, cols, beta),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe { if cols > 8 { by_rows!(2) } else { by_rows!(1) } }
}

/// The register tile: `C[0..R, 0..cols] = A_tile * B_panel + beta C` with `V` vectors of 8
/// columns per row (`8 (V - 1) < cols <= 8 V`); `beta = 0` never reads C. Row `i` of the A tile
/// at step `p` is at `a + i a_rs + p a_cs`.
/// SAFETY: `a` addresses `R x kc` values through its strides, `b` holds `kc * NR` values and `c`
/// a writable `R x cols` tile with row stride `rsc`; the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize, const V: usize>(
    kc: usize, a: *const f32, a_rs: isize, a_cs: isize, b: *const f32, c: *mut f32, rsc: usize, cols: usize, beta: f32,
) {
    use std::arch::x86_64::*;
    // SAFETY: every pointer stays inside the ranges the caller vouched for; masked lanes are
    // neither read nor written by maskload/maskstore.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        let (mut ap, mut bp) = (a, b);
        for _ in 0..kc {
            let bv: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(bp.add(8 * v)));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*ap.offset(i as isize * a_rs));
                for (r, &bv) in row.iter_mut().zip(&bv) {
                    *r = _mm256_fmadd_ps(ai, bv, *r);
                }
            }
            ap = ap.offset(a_cs);
            bp = bp.add(NR);
        }
        // The last vector of each row holds `tail` (1..=8) real columns.
        let tail = cols - 8 * (V - 1);
        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        let betav = _mm256_set1_ps(beta);
        for (i, row) in acc.iter().enumerate() {
            let cp = c.add(i * rsc);
            for (v, &r) in row.iter().enumerate() {
                let p = cp.add(8 * v);
                let full = v + 1 < V || tail == 8;
                let out = match (beta == 0.0, full) {
                    (true, _) => r,
                    (false, true) => _mm256_fmadd_ps(betav, _mm256_loadu_ps(p), r),
                    (false, false) => _mm256_fmadd_ps(betav, _mm256_maskload_ps(p, mask), r),
                };
                if full {
                    _mm256_storeu_ps(p, out);
                } else {
                    _mm256_maskstore_ps(p, mask, out);
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel<const R: usize, const V: usize>(
    _: usize, _: *const f32, _: isize, _: isize, _: *const f32, _: *mut f32, _: usize, _: usize, _: f32,
) {
    unreachable!("the packed kernel is only chosen on x86-64 with AVX2/FMA")
}
