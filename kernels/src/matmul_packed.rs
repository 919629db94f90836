//! Our single-threaded GEMM: BLIS-style blocking around a 6x16 AVX2/FMA register tile, or an
//! 8x32 one where the CPU has AVX-512F (the same loops, twice the lanes).
//!
//! Loops, outer to inner: `NC` columns of B, `KC` of the shared dimension (a packed `KC x NC`
//! block of B), `MC` rows of A, then 16-column panels of B (one panel, 16 KiB, stays in L1)
//! against every 6-row tile of A. The tile holds 12 accumulators of 8 lanes: 12 independent FMA
//! chains cover the FMA latency of two ports, and each step of the shared dimension costs 2 loads
//! of B and 6 broadcasts of A for 12 FMAs, so the FMA ports, not the loads, set the pace.
//! Where A's rows are one block, each panel of B serves every tile once: the AVX-512 tile then
//! reads a row-major B's whole panels where they lie ([`Tile::B_IN_PLACE`]), and a large B's
//! next panel is prefetched while this one's tiles run.
//!
//! A is packed into 6-row panels only when its tiles are reused across many panels of B. For
//! the skinny products of convolutions (16 or 64 output channels against 25,088 rows of a column
//! matrix) packing A would copy the whole column matrix to use each value a few times, so the
//! tile broadcasts A's values straight from the caller's matrix, through its strides, or, for
//! a gathered A ([`Lhs::Gathered`]: a column matrix never written out), through its offset
//! tables. The tile also finishes what it stores ([`Store`]): `beta C`, and after the last
//! block of the shared dimension a bias and ReLU.
//! Edges need no scratch tile: a short tile is a narrower instantiation, and a narrow one
//! stores its last 8 lanes with a mask.

#[cfg(target_arch = "x86_64")]
use crate::lanes::transpose8_in;
use crate::matmul_operands::{Lhs, Store, View};
use crate::short_copy::{copy_run, zero_run};
use crate::simd::{self, Isa};
use std::cell::RefCell;

/// A register tile and the blocking around it, one per vector width.
pub(crate) trait Tile {
    /// Rows of A and columns of B per register tile.
    const MR: usize;
    const NR: usize;
    /// Steps of the shared dimension per packed block: one `KC x NR` panel of B stays in L1.
    const KC: usize;
    /// Rows of A per packed block (a multiple of `MR`).
    const MC: usize;
    /// Columns of B per packed block.
    const NC: usize;
    /// Whether the tile reads a row-major B's full panels where they lie when A's rows are one
    /// block (each panel then serves every tile of A once, so packing it bought no reuse).
    /// Measured on Zen 4 at 128x784x1200: AVX-512, 2 cache lines of each row per step, 192-201
    /// GFLOP/s in place against 178-197 packed; AVX2, one line per step, 167-168 against 187-188.
    const B_IN_PLACE: bool;
    /// One `rows x cols` tile (`rows <= MR`, `cols <= NR`): `C = A_tile B_panel + beta C`.
    /// SAFETY: as [`Avx2Tile::kernel`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(rows: usize, cols: usize, kc: usize, a: Lhs, b: *const f32, rsb: usize, c: *mut f32, rsc: usize, store: Store);
}

/// `<$tile>::kernel::<R, $v>(args)` with `R` the tile's `rows` among the listed counts, 1 for the
/// rest: each count is its own instantiation, its accumulators in registers.
macro_rules! by_rows {
    ($tile:ty, $rows:expr, $v:literal, [$($r:literal),*], $args:tt) => {
        match $rows {
            $($r => <$tile>::kernel::<$r, $v> $args,)*
            _ => <$tile>::kernel::<1, $v> $args,
        }
    };
}

/// 6 rows x 16 columns: 12 accumulators of 8 lanes, 2 loads of B and 6 broadcasts of A per 12 FMAs.
pub(crate) struct Avx2Tile;
/// 8 rows x 32 columns: 16 accumulators of 16 lanes, 2 loads of B and 8 broadcasts of A per 16
/// FMAs. A 12-row tile (24 accumulators) left LLVM one short of registers: it spilled an
/// accumulator to the stack every step and ran at 68% of the peak on a Zen 4, where this one
/// reaches 82-87% (1024^3).
pub(crate) struct Avx512Tile;

impl Tile for Avx2Tile {
    const MR: usize = 6;
    const NR: usize = 16;
    const KC: usize = 256;
    const MC: usize = 144;
    const NC: usize = 2048;
    const B_IN_PLACE: bool = false;
    unsafe fn tile(rows: usize, cols: usize, kc: usize, a: Lhs, b: *const f32, rsb: usize, c: *mut f32, rsc: usize, store: Store) {
        let wide = cols > 8;
        unsafe {
            match wide {
                true => by_rows!(Self, rows, 2, [6, 5, 4, 3, 2], (kc, a, b, rsb, c, rsc, cols, store)),
                false => by_rows!(Self, rows, 1, [6, 5, 4, 3, 2], (kc, a, b, rsb, c, rsc, cols, store)),
            }
        }
    }
}

impl Tile for Avx512Tile {
    const MR: usize = 8;
    const NR: usize = 32;
    const KC: usize = 256;
    const MC: usize = 144;
    const NC: usize = 2048;
    const B_IN_PLACE: bool = true;
    unsafe fn tile(rows: usize, cols: usize, kc: usize, a: Lhs, b: *const f32, rsb: usize, c: *mut f32, rsc: usize, store: Store) {
        let wide = cols > 16;
        unsafe {
            match wide {
                true => by_rows!(Self, rows, 2, [8, 7, 6, 5, 4, 3, 2], (kc, a, b, rsb, c, rsc, cols, store)),
                false => by_rows!(Self, rows, 1, [8, 7, 6, 5, 4, 3, 2], (kc, a, b, rsb, c, rsc, cols, store)),
            }
        }
    }
}

/// The tile shape `(MR, NR)` of the kernel `isa` runs: how the threads' blocks are aligned.
pub(crate) fn tile_shape(isa: Isa) -> (usize, usize) {
    match isa {
        Isa::Avx512 => (Avx512Tile::MR, Avx512Tile::NR),
        _ => (Avx2Tile::MR, Avx2Tile::NR),
    }
}

/// From this many values (1 MiB, a Zen's L2), B's next panel is prefetched (see [`packed`]).
const PREFETCH_B_MIN_VALUES: usize = 1 << 18;

/// From this many columns of B, A's tiles are reused often enough that packing them pays.
const PACK_A_MIN_N: usize = 128;

thread_local! {
    /// Packed blocks of A and B, allocated once per thread, at the largest blocking of any tile,
    /// with room to start each on a cache line (see [`cache_aligned`]), and for the 2 values a
    /// 6-row panel's transposes store past its last step.
    static PACK: RefCell<(Vec<f32>, Vec<f32>)> = RefCell::new((vec![0.0; 144 * 256 + 16 + 8], vec![0.0; 256 * 2048 + 16]));
}

/// `v` from its first 64-byte boundary. The tile loads a panel's row of B (16 or 32 values) per
/// step: from a boundary that is one or two cache lines, from anywhere else one more. Where a
/// buffer starts depends on the allocator's state, which can differ from one process to the next.
fn cache_aligned(v: &mut [f32]) -> &mut [f32] {
    let skip = v.as_ptr().align_offset(64).min(v.len());
    &mut v[skip..]
}

/// `C = A B + beta C` on views through the tile of `isa`; `c` has row stride `rsc`, unit
/// column stride.
/// SAFETY: the views address valid `m x k` and `k x n` matrices and `c` a writable `m x n` one;
/// the CPU has `isa` (AVX2 and FMA at least: the caller checked `simd::detected()`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul_packed(isa: Isa, m: usize, k: usize, n: usize, a: Lhs, b: View, c: *mut f32, rsc: usize, store: Store) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match isa {
            Isa::Avx512 => packed::<Avx512Tile>(m, k, n, a, b, c, rsc, store),
            _ => packed::<Avx2Tile>(m, k, n, a, b, c, rsc, store),
        }
    }
}

/// The blocked loops around tile `T`. SAFETY: as [`matmul_packed`].
#[allow(clippy::too_many_arguments)]
unsafe fn packed<T: Tile>(m: usize, k: usize, n: usize, a: Lhs, b: View, c: *mut f32, rsc: usize, store: Store) {
    let (mr, nr) = (T::MR, T::NR);
    if k == 0 {
        // Nothing to multiply: C = beta C, where beta = 0 must not read C.
        for i in 0..m {
            for j in 0..n {
                let p = unsafe { c.add(i * rsc + j) };
                unsafe { *p = if store.beta == 0.0 { 0.0 } else { store.beta * *p } };
            }
        }
        unsafe { store.finish_block(m, n, c, rsc) };
        return;
    }
    // A gathered A is read in place: its values come from a small image, already in cache.
    let pack_a_panels = n >= PACK_A_MIN_N && matches!(a, Lhs::Strided(_));
    PACK.with(|pack| {
        let (apack, bpack) = &mut *pack.borrow_mut();
        let (apack, bpack) = (cache_aligned(apack), cache_aligned(bpack));
        for jc in (0..n).step_by(T::NC) {
            let nc = T::NC.min(n - jc);
            for pc in (0..k).step_by(T::KC) {
                let kc = T::KC.min(k - pc);
                // Later blocks add to C; the last one finishes it.
                let store = match (pc == 0, pc + kc == k) {
                    (true, true) => store,
                    (true, false) => Store::beta(store.beta),
                    (false, true) => Store { beta: 1.0, ..store },
                    (false, false) => Store::beta(1.0),
                };
                // One block of A's rows: each panel of B serves every tile once, so it is taken
                // panel by panel in the loop below, where [`Tile::B_IN_PLACE`] reads a row-major
                // B's whole ones where they lie and the rest are packed just before their tiles
                // run, while in L1, rather than the whole block first through L2 (AVX2 on Zen 4,
                // means of 6 alternated runs: 128x784x1200 189 against 186 GFLOP/s, 128x784x800
                // 188 against 182, 128x1200x1200 alike; AVX-512, a transposed B of 128x800x800,
                // 2-4% faster).
                let by_panel = m <= T::MC;
                // Taken panel by panel, a large B's next panel is asked for while this one's
                // tiles run, a share before each tile. In a training step such weights come
                // from memory, pushed out by the rest of the step (Zen 4, B evicted before each
                // call, 128x784x1200: AVX-512 147 -> 172 GFLOP/s, AVX2 157 -> 177; with B in
                // cache, the same). A B that fits in L2 stays near enough for the hardware's
                // prefetchers: the small CNN's step, whose weights all do, measured no faster
                // with them prefetched too.
                let prefetch_b = by_panel && k * n >= PREFETCH_B_MIN_VALUES;
                if !by_panel {
                    unsafe { pack_b::<T>(kc, nc, b.at(pc, jc), b.rs, b.cs, bpack) };
                }
                for ic in (0..m).step_by(T::MC) {
                    let mc = T::MC.min(m - ic);
                    if let (true, Lhs::Strided(a)) = (pack_a_panels, a) {
                        unsafe { pack_a::<T>(mc, kc, a.at(ic, pc), a.rs, a.cs, apack) };
                    }
                    // Tile `t`'s A: its packed panel, or the matrix in place from its corner.
                    let a_tile = |t: usize, ir: usize| match pack_a_panels {
                        true => Lhs::Strided(View { ptr: apack[t * mr * kc..].as_ptr(), rs: 1, cs: mr as isize }),
                        false => unsafe { a.at(ic + ir, pc) },
                    };
                    for jr in (0..nc).step_by(nr) {
                        let cols = nr.min(nc - jr);
                        // SAFETY (both arms): columns jc + jr..jc + jr + cols of steps
                        // pc..pc + kc lie in B.
                        let (bp, rsb) = match (by_panel, T::B_IN_PLACE && b.cs == 1 && cols == nr) {
                            (true, true) => (unsafe { b.at(pc, jc + jr) }, b.rs as usize),
                            (true, false) => {
                                unsafe { pack_b::<T>(kc, cols, b.at(pc, jc + jr), b.rs, b.cs, bpack) };
                                (bpack.as_ptr(), nr)
                            }
                            (false, _) => (bpack[jr * kc..].as_ptr(), nr),
                        };
                        let next = prefetch_b.then(|| next_panel(b, k, (pc, kc), (jc, nc), jr + nr, nr)).flatten();
                        let share = next.map_or(0, |p| p.runs.div_ceil(mc.div_ceil(mr)));
                        for (t, ir) in (0..mc).step_by(mr).enumerate() {
                            if let Some(next) = next {
                                // SAFETY: `next` lies in B.
                                unsafe { next.prefetch(t * share..(t + 1) * share) };
                            }
                            let rows = mr.min(mc - ir);
                            // SAFETY: the B panel holds kc steps of NR values `rsb` apart (packed
                            // and zero padded, or B's own columns jc + jr.. of a whole panel), the A tile
                            // `rows` rows of kc values through its strides, and the C tile lies
                            // inside C; `tile` writes only `rows x cols` of it.
                            unsafe {
                                let cp = c.add((ic + ir) * rsc + jc + jr);
                                T::tile(rows, cols, kc, a_tile(t, ir), bp, rsb, cp, rsc, store.at_col(jc + jr));
                            }
                        }
                    }
                }
            }
        }
    });
}

/// A panel of B (a few columns of a block of steps) as the contiguous runs it lies in: its steps
/// where B is row-major, its columns where B is transposed.
#[derive(Clone, Copy)]
struct Panel {
    first: *const f32,
    runs: usize,
    run_stride: usize,
    run_len: usize,
}

impl Panel {
    /// Asks for the cache lines of the runs of `range` it has (see [`simd::prefetch`]).
    /// SAFETY: the panel lies in one matrix.
    unsafe fn prefetch(self, range: std::ops::Range<usize>) {
        for r in range.start.min(self.runs)..range.end.min(self.runs) {
            // SAFETY: run r lies in the matrix (the caller's word).
            simd::prefetch(unsafe { std::slice::from_raw_parts(self.first.add(r * self.run_stride), self.run_len) });
        }
    }
}

/// The panel of `b` (`k` steps, a row-major or transposed matrix) read after the one at columns
/// `jc + jr_next - nr` of the block of steps `pc..pc + kc` and columns `jc..jc + nc`: the block's
/// next panel or, after its last, the first one of the next block of steps. None after the
/// column block's last steps.
fn next_panel(b: View, k: usize, (pc, kc): (usize, usize), (jc, nc): (usize, usize), jr_next: usize, nr: usize) -> Option<Panel> {
    let (p0, steps, j0, cols) = match jr_next < nc {
        true => (pc, kc, jc + jr_next, nr.min(nc - jr_next)),
        false if pc + kc < k => (pc + kc, kc.min(k - pc - kc), jc, nr.min(nc)),
        false => return None,
    };
    // SAFETY: steps p0..p0 + steps of columns j0..j0 + cols lie in the matrix `b` addresses.
    let first = unsafe { b.at(p0, j0) };
    Some(match b.cs == 1 {
        true => Panel { first, runs: steps, run_stride: b.rs as usize, run_len: cols },
        false => Panel { first, runs: cols, run_stride: b.cs as usize, run_len: steps },
    })
}

/// Packs `mc x kc` of A into `mr`-row panels, each `kc` steps of `mr` values, zero padded.
/// SAFETY: `a` addresses a valid `mc x kc` matrix with strides `rs`, `cs`.
unsafe fn pack_a<T: Tile>(mc: usize, kc: usize, a: *const f32, rs: isize, cs: isize, out: &mut [f32]) {
    // A constant: the copies below compile to moves, not calls.
    let mr = T::MR;
    for (panel, i0) in (0..mc).step_by(mr).enumerate() {
        let rows = mr.min(mc - i0);
        // To the buffer's end: a 6-row panel's 8-lane transposes write 2 values past each step,
        // the last step's into the next panel (packed after it) or the buffer's slack.
        let dst = &mut out[panel * mr * kc..];
        if rows < mr {
            dst[..mr * kc].fill(0.0);
        }
        // SAFETY: rows i0..i0 + rows of `kc` steps lie in A (the caller's word).
        unsafe { pack_lines(kc, rows, a.offset(i0 as isize * rs), rs, cs, mr, dst) };
    }
}

/// Packs `kc x nc` of B into `nr`-column panels, each `kc` steps of `nr` values, zero padded.
/// SAFETY: `b` addresses a valid `kc x nc` matrix with strides `rs`, `cs`.
unsafe fn pack_b<T: Tile>(kc: usize, nc: usize, b: *const f32, rs: isize, cs: isize, out: &mut [f32]) {
    // A constant: each panel row's copy compiles to vector moves, not a call to memmove.
    let nr = T::NR;
    for (panel, j0) in (0..nc).step_by(nr).enumerate() {
        let cols = nr.min(nc - j0);
        let dst = &mut out[panel * nr * kc..(panel + 1) * nr * kc];
        let first = unsafe { b.offset(j0 as isize * cs) };
        if cs == 1 {
            // Row-major B: each step one contiguous run of `cols` values, zeros after it.
            for (p, d) in dst.chunks_exact_mut(nr).enumerate() {
                // SAFETY: step p's `cols` values from column j0 lie in B (the caller's word).
                copy_padded(d, unsafe { std::slice::from_raw_parts(first.offset(p as isize * rs), cols) });
            }
            continue;
        }
        if cols < nr {
            dst.fill(0.0);
        }
        // SAFETY: columns j0..j0 + cols of `kc` steps lie in B (the caller's word).
        unsafe { pack_lines(kc, cols, first, cs, rs, nr, dst) };
    }
}

/// `d = src`, zeros after it (`src` no longer than `d`).
#[inline(always)]
fn copy_padded(d: &mut [f32], src: &[f32]) {
    if src.len() == d.len() {
        d.copy_from_slice(src);
    } else {
        let (run, rest) = d.split_at_mut(src.len());
        copy_run(run, src);
        zero_run(rest);
    }
}

/// Packs `lines` lines of `kc` steps (line `i`'s step `p` at `first + i line_stride + p
/// step_stride`: rows of A, or columns of B) into `dst[p * width + i]`. Where steps are
/// contiguous (a row-major A, a transposed B), blocks of 8 lines by 8 steps go through a
/// register transpose; the rest a value at a time, with contiguous reads when steps are, and
/// strided writes that stay in L1.
/// SAFETY: those `lines x kc` values lie in one matrix; `dst` holds `kc * width` values (and
/// `8 - width` more where `width < 8`: the transposes store 8 lanes a step) and `lines <=
/// width`; a packed tile's CPU has AVX2.
#[inline(always)]
unsafe fn pack_lines(kc: usize, lines: usize, first: *const f32, line_stride: isize, step_stride: isize, width: usize, dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    let (kc_done, lines_done) = match step_stride == 1 {
        // SAFETY: forwarded from the caller.
        true => unsafe { pack_lines_by_8(kc, lines, first, line_stride, width, dst) },
        false => (0, 0),
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (kc_done, lines_done) = (0, 0);
    for i in 0..lines {
        let line = unsafe { first.offset(i as isize * line_stride) };
        let from = if i < lines_done { kc_done } else { 0 };
        for p in from..kc {
            dst[p * width + i] = unsafe { *line.offset(p as isize * step_stride) };
        }
    }
}

/// [`pack_lines`] of contiguous steps, up to 8 lines at a time through [`transpose8_in`] (16
/// vector moves and a 24-instruction transpose per 8 x 8 block, where a value at a time took 128
/// moves); the lanes past the last line get zeros. Returns how many leading steps and lines it
/// packed: all of them, or none where `kc < 8`.
/// SAFETY: the CPU has AVX2; lines `i < lines` have `kc` values from `first + i line_stride`,
/// `line_stride >= 0`; `lines <= width`, and `dst` holds `(kc - 1) * width` values and 8 more
/// past the last group of 8 lines' start (`transpose8_in` asserts it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_lines_by_8(kc: usize, lines: usize, first: *const f32, line_stride: isize, width: usize, dst: &mut [f32]) -> (usize, usize) {
    if kc < 8 {
        return (0, 0);
    }
    for i0 in (0..lines).step_by(8) {
        let count = 8.min(lines - i0);
        // SAFETY: the `count` lines from i0 lie in one matrix, so does the span from the first's
        // start to the last's end (the caller's word).
        let src = unsafe { std::slice::from_raw_parts(first.offset(i0 as isize * line_stride), (count - 1) * line_stride as usize + kc) };
        transpose8_in(src, line_stride as usize, kc, count, dst, width, i0);
    }
    (kc, lines)
}

/// The register tile: `C[0..R, 0..cols] = A_tile * B_panel + beta C` with `V` vectors of 8
/// columns per row (`8 (V - 1) < cols <= 8 V`); `beta = 0` never reads C. Row `i` of the A tile
/// at step `p` is at `ptr + i rs + p cs` (strided) or `ptr + rows[i] + steps[p]` (gathered).
/// SAFETY: `a` addresses `R x kc` values (through its strides or tables), `b` holds `kc` steps
/// of `NR` values, `rsb` apart, `c` is a writable `R x cols` tile with row stride `rsc` and the
/// store's bias (if any) has `cols` values; the CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
impl Avx2Tile {
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel<const R: usize, const V: usize>(
        kc: usize, a: Lhs, b: *const f32, rsb: usize, c: *mut f32, rsc: usize, cols: usize, store: Store,
    ) {
        use std::arch::x86_64::*;
        // SAFETY: every pointer stays inside the ranges the caller vouched for; masked lanes are
        // neither read nor written by maskload/maskstore.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); V]; R];
            // The steps: row `i` of the A tile at `rows[i] + at(p)` at step `p`, one offset per
            // step shared by the rows. Each row its own pointer, fixed, and the offset one
            // register: a single pointer offset by `i a_rs` compiled, for a stride known only at
            // run time, to a chain of adds through the rows that took longer per step than the
            // FMAs. Where A is packed its row stride is the constant 1 and the broadcasts
            // address by immediate offsets.
            #[inline(always)]
            unsafe fn steps<const R: usize, const V: usize>(
                acc: &mut [[__m256; V]; R], kc: usize, rows: [*const f32; R], at: impl Fn(usize) -> isize, b: *const f32, rsb: usize,
            ) {
                // SAFETY: as the kernel's; the CPU has AVX2 and FMA (inlined into the kernel).
                unsafe {
                    let mut bp = b;
                    for p in 0..kc {
                        let at = at(p);
                        let bv: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(bp.add(8 * v)));
                        for (row, ap) in acc.iter_mut().zip(rows) {
                            let ai = _mm256_broadcast_ss(&*ap.offset(at));
                            for (r, &bv) in row.iter_mut().zip(&bv) {
                                *r = _mm256_fmadd_ps(ai, bv, *r);
                            }
                        }
                        bp = bp.add(rsb);
                    }
                }
            }
            let strided = |ptr: *const f32, rs: isize| std::array::from_fn(|i| ptr.offset(i as isize * rs));
            match a {
                Lhs::Strided(View { ptr, rs: 1, cs }) => steps(&mut acc, kc, strided(ptr, 1), |p| p as isize * cs, b, rsb),
                Lhs::Strided(View { ptr, rs, cs }) => steps(&mut acc, kc, strided(ptr, rs), |p| p as isize * cs, b, rsb),
                Lhs::Gathered(g) => {
                    let rows = std::array::from_fn(|i| g.ptr.add(*g.rows.add(i) as usize));
                    steps(&mut acc, kc, rows, |p| *g.steps.add(p) as isize, b, rsb)
                }
            }
            // The last vector of each row holds `tail` (1..=8) real columns.
            let tail = cols - 8 * (V - 1);
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            let (beta, betav) = (store.beta, _mm256_set1_ps(store.beta));
            // The bias of each vector's columns (zero without one): loaded once for all rows.
            let bias: [__m256; V] = std::array::from_fn(|v| match (store.bias.is_null(), v + 1 < V || tail == 8) {
                (true, _) => _mm256_setzero_ps(),
                (false, true) => _mm256_loadu_ps(store.bias.add(8 * v)),
                (false, false) => _mm256_maskload_ps(store.bias.add(8 * v), mask),
            });
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
                    let out = if store.bias.is_null() { out } else { _mm256_add_ps(out, bias[v]) };
                    // max(0, NaN) is NaN: a diverged layer still shows (as `relu_of`).
                    let out = if store.relu { _mm256_max_ps(_mm256_setzero_ps(), out) } else { out };
                    if full {
                        _mm256_storeu_ps(p, out);
                    } else {
                        _mm256_maskstore_ps(p, mask, out);
                    }
                }
            }
        }
    }
}

/// The AVX-512 register tile: as [`Avx2Tile::kernel`] with `V` vectors of 16 columns per row
/// (`16 (V - 1) < cols <= 16 V`) and a 16-bit lane mask on the last.
/// SAFETY: as [`Avx2Tile::kernel`], and the CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
impl Avx512Tile {
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel<const R: usize, const V: usize>(
        kc: usize, a: Lhs, b: *const f32, rsb: usize, c: *mut f32, rsc: usize, cols: usize, store: Store,
    ) {
        use std::arch::x86_64::*;
        // SAFETY: every pointer stays inside the ranges the caller vouched for; masked lanes are
        // neither read nor written.
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); V]; R];
            // The steps as in the AVX2 tile.
            #[inline(always)]
            unsafe fn steps<const R: usize, const V: usize>(
                acc: &mut [[__m512; V]; R], kc: usize, rows: [*const f32; R], at: impl Fn(usize) -> isize, b: *const f32, rsb: usize,
            ) {
                // SAFETY: as the kernel's; the CPU has AVX-512F (inlined into the kernel).
                unsafe {
                    let mut bp = b;
                    for p in 0..kc {
                        let at = at(p);
                        let bv: [__m512; V] = std::array::from_fn(|v| _mm512_loadu_ps(bp.add(16 * v)));
                        for (row, ap) in acc.iter_mut().zip(rows) {
                            let ai = _mm512_set1_ps(*ap.offset(at));
                            for (r, &bv) in row.iter_mut().zip(&bv) {
                                *r = _mm512_fmadd_ps(ai, bv, *r);
                            }
                        }
                        bp = bp.add(rsb);
                    }
                }
            }
            let strided = |ptr: *const f32, rs: isize| std::array::from_fn(|i| ptr.offset(i as isize * rs));
            match a {
                Lhs::Strided(View { ptr, rs: 1, cs }) => steps(&mut acc, kc, strided(ptr, 1), |p| p as isize * cs, b, rsb),
                Lhs::Strided(View { ptr, rs, cs }) => steps(&mut acc, kc, strided(ptr, rs), |p| p as isize * cs, b, rsb),
                Lhs::Gathered(g) => {
                    let rows = std::array::from_fn(|i| g.ptr.add(*g.rows.add(i) as usize));
                    steps(&mut acc, kc, rows, |p| *g.steps.add(p) as isize, b, rsb)
                }
            }
            // The last vector of each row holds `tail` (1..=16) real columns.
            let tail = cols - 16 * (V - 1);
            let mask: __mmask16 = if tail == 16 { !0 } else { (1u16 << tail) - 1 };
            let (beta, betav) = (store.beta, _mm512_set1_ps(store.beta));
            let lanes = |v: usize| if v + 1 < V { !0 } else { mask };
            let bias: [__m512; V] = std::array::from_fn(|v| match store.bias.is_null() {
                true => _mm512_setzero_ps(),
                false => _mm512_maskz_loadu_ps(lanes(v), store.bias.add(16 * v)),
            });
            for (i, row) in acc.iter().enumerate() {
                let cp = c.add(i * rsc);
                for (v, &r) in row.iter().enumerate() {
                    let p = cp.add(16 * v);
                    let m = lanes(v);
                    let out = if beta == 0.0 { r } else { _mm512_fmadd_ps(betav, _mm512_maskz_loadu_ps(m, p), r) };
                    let out = if store.bias.is_null() { out } else { _mm512_add_ps(out, bias[v]) };
                    // max(0, NaN) is NaN, as in the AVX2 tile.
                    let out = if store.relu { _mm512_max_ps(_mm512_setzero_ps(), out) } else { out };
                    _mm512_mask_storeu_ps(p, m, out);
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Avx2Tile {
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel<const R: usize, const V: usize>(_: usize, _: Lhs, _: *const f32, _: usize, _: *mut f32, _: usize, _: usize, _: Store) {
        unreachable!("the packed kernel is only chosen on x86-64 with AVX2/FMA")
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Avx512Tile {
    #[allow(clippy::too_many_arguments)]
    unsafe fn kernel<const R: usize, const V: usize>(_: usize, _: Lhs, _: *const f32, _: usize, _: *mut f32, _: usize, _: usize, _: Store) {
        unreachable!("the packed kernel is only chosen on x86-64 with AVX-512")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every panel a blocked pass reads, in its order: (first step, steps, first column, columns).
    fn panels(k: usize, kc_max: usize, nc: usize, nr: usize) -> Vec<(usize, usize, usize, usize)> {
        let mut order = vec![];
        for pc in (0..k).step_by(kc_max) {
            for jr in (0..nc).step_by(nr) {
                order.push((pc, kc_max.min(k - pc), jr, nr.min(nc - jr)));
            }
        }
        order
    }

    #[test]
    fn the_panel_asked_for_is_the_one_read_next() {
        for (k, n, kc_max, nr) in [(784, 1200, 256, 32), (1, 1, 256, 16), (7, 33, 4, 16), (513, 40, 256, 16), (256, 32, 256, 32)] {
            let b = vec![0.0f32; k * n];
            for transposed in [false, true] {
                let view = match transposed {
                    false => View { ptr: b.as_ptr(), rs: n as isize, cs: 1 },
                    true => View { ptr: b.as_ptr(), rs: 1, cs: k as isize },
                };
                let order = panels(k, kc_max, n, nr);
                for (now, next) in order.iter().zip(order.iter().skip(1).map(Some).chain([None])) {
                    let &(pc, kc, jr, _) = now;
                    // The values the prefetched runs cover, against those of the next panel.
                    let asked = next_panel(view, k, (pc, kc), (0, n), jr + nr, nr).map(|p| {
                        // SAFETY: `next_panel` gives a pointer into `b`, the allocation `view` addresses.
                        let first = unsafe { p.first.offset_from(b.as_ptr()) } as usize;
                        let mut at: Vec<usize> =
                            (0..p.runs).flat_map(|r| (0..p.run_len).map(move |e| first + r * p.run_stride + e)).collect();
                        at.sort();
                        at
                    });
                    let wanted = next.map(|&(p0, steps, j0, cols)| {
                        let mut at: Vec<usize> = (p0..p0 + steps)
                            .flat_map(|p| (j0..j0 + cols).map(move |j| if transposed { j * k + p } else { p * n + j }))
                            .collect();
                        at.sort();
                        at
                    });
                    assert_eq!(asked, wanted, "k {k}, n {n}, transposed {transposed}, after {now:?}");
                }
            }
        }
    }
}
