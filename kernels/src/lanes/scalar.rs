//! [`Scalar`]: one lane, plain Rust.

use super::*;

/// One lane, plain Rust: the fallback every machine runs.
#[derive(Clone, Copy)]
pub struct Scalar;

impl Lanes for Scalar {
    const N: usize = 1;
    const FUSED: bool = false;
    type V = f32;
    type Narrow = Self;
    #[inline(always)]
    fn narrow(self) -> Self {
        self
    }
    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> f32 {
        s[0]
    }
    #[inline(always)]
    fn floats(self, v: &[f32]) -> &[f32] {
        v
    }
    #[inline(always)]
    fn floats_mut(self, v: &mut [f32]) -> &mut [f32] {
        v
    }
    #[inline(always)]
    fn store(self, d: &mut [f32], v: f32) {
        d[0] = v;
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn sub(self, a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        // Unfused: a software fma would cost a library call per element.
        a * b + c
    }
    #[inline(always)]
    fn max(self, a: f32, b: f32) -> f32 {
        if b.is_nan() || b > a { b } else { a }
    }
    #[inline(always)]
    fn div(self, a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    fn select_eq(self, a: f32, b: f32, x: f32, y: f32) -> f32 {
        if a == b { x } else { y }
    }
    #[inline(always)]
    fn ln(self, x: f32) -> f32 {
        x.ln()
    }
    #[inline(always)]
    fn select_abs_below(self, a: f32, bound: f32, x: f32, y: f32) -> f32 {
        if a.abs() < bound { x } else { y }
    }
    #[inline(always)]
    fn eq_bits(self, a: f32, b: f32) -> u32 {
        (a == b) as u32
    }
    #[inline(always)]
    fn exp(self, x: f32) -> f32 {
        x.exp()
    }
    #[inline(always)]
    fn exp2_nonpositive(self, y: f32) -> f32 {
        if y < EXP2_FLUSH { 0.0 } else { y.exp2() }
    }
    #[inline(always)]
    fn exp2_nonpositive_short(self, y: f32) -> f32 {
        self.exp2_nonpositive(y)
    }
    #[inline(always)]
    fn sum(self, v: f32) -> f32 {
        v
    }
    #[inline(always)]
    fn max_lane(self, v: f32) -> f32 {
        v
    }
}
