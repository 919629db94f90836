//! Our single-threaded GEMM: BLIS-style packing around a 6x16 AVX2/FMA register tile.
//!
//! Loops, outer to inner: `NC` columns of B, `KC` of the shared dimension (a packed `KC x NC`
//! block of B, kept in L2/L3), `MC` rows of A (a packed `MC x KC` block of A), then 16-column
//! panels of B (one panel, 16 KiB, stays in L1) against every 6-row panel of A. The tile holds
//! 12 accumulators of 8 lanes: 12 independent FMA chains cover the FMA latency of two ports.

use crate::gemm::View;
use std::cell::RefCell;

pub(crate) const MR: usize = 6;
pub(crate) const NR: usize = 16;
const KC: usize = 256;
const MC: usize = 96;
const NC: usize = 2048;

thread_local! {
    /// Packed blocks of A and B, allocated once per thread.
    static PACK: RefCell<(Vec<f32>, Vec<f32>)> = RefCell::new((vec![0.0; MC * KC], vec![0.0; KC * NC]));
}

/// `C = A B + beta C` on views; `c` has row stride `rsc`, unit column stride.
/// SAFETY: the views address valid `m x k` and `k x n` matrices and `c` a writable `m x n` one;
/// the CPU has AVX2 and FMA (the caller checked `simd::detected()`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_packed(m: usize, k: usize, n: usize, a: View, b: View, c: *mut f32, rsc: usize, beta: f32) {
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
                    unsafe { pack_a(mc, kc, a.at(ic, pc), a.rs, a.cs, apack) };
                    for jr in (0..nc).step_by(NR) {
                        let nr = NR.min(nc - jr);
                        let bp = bpack[jr * kc..].as_ptr();
                        for ir in (0..mc).step_by(MR) {
                            let mr = MR.min(mc - ir);
                            let ap = apack[ir * kc..].as_ptr();
                            let cp = unsafe { c.add((ic + ir) * rsc + jc + jr) };
                            // SAFETY: the packed panels hold kc x MR and kc x NR values (zero
                            // padded); a full tile lies inside C, a partial one goes via `tile`.
                            unsafe {
                                if mr == MR && nr == NR {
                                    kernel_6x16(kc, ap, bp, cp, rsc, beta);
                                } else {
                                    let mut tile = [0.0f32; MR * NR];
                                    kernel_6x16(kc, ap, bp, tile.as_mut_ptr(), NR, 0.0);
                                    for i in 0..mr {
                                        for j in 0..nr {
                                            let p = cp.add(i * rsc + j);
                                            *p = if beta == 0.0 { tile[i * NR + j] } else { tile[i * NR + j] + beta * *p };
                                        }
                                    }
                                }
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
        for p in 0..kc {
            for i in 0..MR {
                dst[p * MR + i] = if i < rows { unsafe { *a.offset((i0 + i) as isize * rs + p as isize * cs) } } else { 0.0 };
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
        for p in 0..kc {
            let row = unsafe { b.offset(p as isize * rs + j0 as isize * cs) };
            let d = &mut dst[p * NR..(p + 1) * NR];
            if cs == 1 && cols == NR {
                // SAFETY: a full unit-stride run of NR values of row p.
                d.copy_from_slice(unsafe { std::slice::from_raw_parts(row, NR) });
            } else {
                for (j, v) in d.iter_mut().enumerate() {
                    *v = if j < cols { unsafe { *row.offset(j as isize * cs) } } else { 0.0 };
                }
            }
        }
    }
}

/// The register tile: `C[0..6, 0..16] = A_panel * B_panel + beta C`, `beta = 0` not reading C.
/// SAFETY: `a` holds `kc * MR` values, `b` `kc * NR`, `c` a writable 6x16 tile with row stride `rsc`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel_6x16(kc: usize, a: *const f32, b: *const f32, c: *mut f32, rsc: usize, beta: f32) {
    use std::arch::x86_64::*;
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(p * NR));
            let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(p * MR + i));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
        }
        for (i, row) in acc.iter().enumerate() {
            let cp = c.add(i * rsc);
            if beta == 0.0 {
                _mm256_storeu_ps(cp, row[0]);
                _mm256_storeu_ps(cp.add(8), row[1]);
            } else {
                let bv = _mm256_set1_ps(beta);
                _mm256_storeu_ps(cp, _mm256_fmadd_ps(bv, _mm256_loadu_ps(cp), row[0]));
                _mm256_storeu_ps(cp.add(8), _mm256_fmadd_ps(bv, _mm256_loadu_ps(cp.add(8)), row[1]));
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn kernel_6x16(_: usize, _: *const f32, _: *const f32, _: *mut f32, _: usize, _: f32) {
    unreachable!("the packed kernel is only chosen on x86-64 with AVX2/FMA")
}
