//! Copies and fills of a few values (a window row of im2col, a narrow row of a packed panel),
//! where a call to memcpy or memset costs more than the work: their lengths are known only at
//! run time, so the compiler would otherwise emit the call.

/// `dst = src`, in fixed-size pieces of 8, 4 and 1 values that compile to plain moves.
#[inline(always)]
pub(crate) fn copy_run(dst: &mut [f32], src: &[f32]) {
    let mut src = &src[..dst.len()];
    let mut dst = dst;
    while dst.len() >= 8 {
        let (d, rest) = dst.split_at_mut(8);
        d.copy_from_slice(&src[..8]);
        (dst, src) = (rest, &src[8..]);
    }
    if dst.len() >= 4 {
        let (d, rest) = dst.split_at_mut(4);
        d.copy_from_slice(&src[..4]);
        (dst, src) = (rest, &src[4..]);
    }
    for (d, &s) in dst.iter_mut().zip(src).take(3) {
        *d = s;
    }
}

/// `dst = 0` without a call to memset (see [`copy_run`]).
#[inline(always)]
pub(crate) fn zero_run(dst: &mut [f32]) {
    let mut chunks = dst.chunks_exact_mut(4);
    for d in &mut chunks {
        d.copy_from_slice(&[0.0; 4]);
    }
    for d in chunks.into_remainder().iter_mut().take(3) {
        *d = 0.0;
    }
}
