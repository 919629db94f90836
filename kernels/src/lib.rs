//! Retort's CPU kernels: pure functions on slices, no tensors, no tape, no allocation in hot paths.
//!
//! Every kernel here has a naive f64 twin in [`reference`], the spec it is tested against.
//! Layout is row-major throughout: a `rows x cols` matrix is `rows` runs of `cols` values.
//! SIMD paths are chosen at run time by [`simd::isa`]; the scalar fallback is always compiled.

pub mod conv2d;
pub mod dkd_loss;
pub mod dropout;
pub mod elementwise;
pub mod im2col;
pub mod kd_loss;
pub mod kd_parts;
mod kd_rows_as_lanes;
mod lane_sum;
pub mod lanes;
#[cfg(target_arch = "x86_64")]
pub mod lanes_pair;
pub mod matmul;
mod matmul_operands;
mod matmul_packed;
pub mod optim;
pub mod peak;
pub mod pool;
pub mod reduce;
pub mod reference;
pub mod rng;
mod short_copy;
pub mod simd;
pub mod softmax;
pub mod testing;
pub mod window;

/// Below this many elements a kernel runs on the calling thread: rayon's fork costs more.
pub(crate) const PAR_MIN_ELEMS: usize = 1 << 15;

/// Splits `len` elements into rayon chunks of at least [`PAR_MIN_ELEMS`], a multiple of `align`.
pub(crate) fn par_chunk_len(len: usize, align: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = len.div_ceil(threads).max(PAR_MIN_ELEMS);
    per.div_ceil(align.max(1)) * align.max(1)
}

/// Calls `f(first_row, rows)` on blocks of whole `cols`-wide rows of `out`: one block on the
/// calling thread when small, else a few blocks per rayon thread, each large enough that the
/// hand-off costs little beside its work.
pub(crate) fn for_each_row_block(out: &mut [f32], cols: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    use rayon::prelude::*;
    if cols == 0 || out.is_empty() {
        return;
    }
    if out.len() < PAR_MIN_ELEMS {
        return f(0, out);
    }
    let rows = out.len() / cols;
    let block_rows = rows.div_ceil(4 * rayon::current_num_threads().max(1)).max((PAR_MIN_ELEMS / 4).div_ceil(cols));
    out.par_chunks_mut(block_rows * cols).enumerate().for_each(|(b, block)| f(b * block_rows, block));
}

/// Calls `f(i, row_i)` for each `cols`-wide row of `out`, across rayon's threads when large.
pub(crate) fn for_each_row(out: &mut [f32], cols: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    use rayon::prelude::*;
    if cols == 0 {
        return;
    }
    if out.len() < PAR_MIN_ELEMS {
        out.chunks_mut(cols).enumerate().for_each(|(i, row)| f(i, row));
    } else {
        out.par_chunks_mut(cols).enumerate().for_each(|(i, row)| f(i, row));
    }
}
