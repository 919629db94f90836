use super::*;
use crate::simd::{available, isa, with_isa};

/// Runs `$body` with `$l` bound to this thread's path's lanes, then to its rows-as-lanes
/// kernels' ([`Lanes::narrow`]: AVX2's in pairs), which are held to the same checks.
macro_rules! with_each_lanes {
    ($l:ident => $body:block) => {
        with_lanes!(isa(), lanes => {
            {
                let $l = lanes;
                $body
            }
            {
                let $l = lanes.narrow();
                $body
            }
        })
    };
}

/// `exp` of every `x` through the lanes of this thread's path.
fn exp_all(xs: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; xs.len()];
    with_lanes!(isa(), l => {
        let mut i = 0;
        while i + l.n() <= xs.len() {
            let n = l.n();
            l.store(&mut out[i..], l.exp(l.load(&xs[i..])));
            i += n;
        }
        if i < xs.len() {
            l.store_part(&mut out[i..], l.exp(l.load_part(&xs[i..], 0.0)));
        }
    });
    out
}

#[test]
fn exp_matches_f64_over_the_whole_range() {
    // Every 61st float from -104 to 89 (about 30 million values), plus the boundaries.
    let mut xs: Vec<f32> = Vec::new();
    for bits in ((-0.0f32).to_bits()..=(-104.0f32).to_bits()).step_by(61).chain((0u32..=89.0f32.to_bits()).step_by(61)) {
        xs.push(f32::from_bits(bits));
    }
    xs.extend([0.0, -0.0, 88.72283, 88.72284, -87.33654, -87.33655, -103.97, 1e-30, -1e-30]);
    for path in available() {
        let got = with_isa(path, || exp_all(&xs));
        let mut worst = (0.0f64, 0.0f32);
        for (&x, &y) in xs.iter().zip(&got) {
            let want = (x as f64).exp();
            if want >= f32::MIN_POSITIVE as f64 && want <= f32::MAX as f64 {
                let rel = (y as f64 - want).abs() / want;
                if rel > worst.0 {
                    worst = (rel, x);
                }
            } else if want < f32::MIN_POSITIVE as f64 {
                // Subnormal results: within a few of the smallest steps.
                assert!((y as f64 - want).abs() <= 4.0 * 1.4e-45 + 1e-6 * want, "{path:?}: exp({x}) = {y}, want {want}");
            } else {
                assert_eq!(y, f32::INFINITY, "{path:?}: exp({x})");
            }
        }
        eprintln!("{path:?}: worst relative error {:.3e} at {}", worst.0, worst.1);
        assert!(worst.0 < 1e-7, "{path:?}: relative error {:.3e} at x = {}", worst.0, worst.1);
    }
}

/// `2^x` of each of `xs`, by [`Lanes::exp2_nonpositive_short`] if `short`.
fn exp2_all(xs: &[f32], short: bool) -> Vec<f32> {
    let mut out = vec![0.0; xs.len()];
    with_lanes!(isa(), l => for j in (0..xs.len()).step_by(l.n()) {
        let v = l.load_at(xs, j, 0.0);
        l.store_at(&mut out, j, if short { l.exp2_nonpositive_short(v) } else { l.exp2_nonpositive(v) });
    });
    out
}

#[test]
fn exp2_nonpositive_matches_f64_and_flushes_below_its_floor() {
    exp2_matches_f64_and_flushes_below_its_floor(false, 1e-7);
}

/// The short polynomial within 2.5e-7, up to the 1/2 softmax's shift may add.
#[test]
fn exp2_nonpositive_short_matches_f64_and_flushes_below_its_floor() {
    exp2_matches_f64_and_flushes_below_its_floor(true, 2.5e-7);
}

fn exp2_matches_f64_and_flushes_below_its_floor(short: bool, tolerance: f64) {
    // Every 17th float from 0 down to -130, every 17th up to 1/2, plus the edges.
    let mut xs: Vec<f32> = ((-0.0f32).to_bits()..=(-130.0f32).to_bits()).step_by(17).map(f32::from_bits).collect();
    xs.extend((0.0f32.to_bits()..=0.5f32.to_bits()).step_by(17).map(f32::from_bits));
    xs.extend([0.0, -0.5, 0.5 - 1.0, 0.5, -124.99, -125.0, -125.01, -1e30, f32::NEG_INFINITY]);
    for path in available() {
        let got = with_isa(path, || exp2_all(&xs, short));
        let mut worst = (0.0f64, 0.0f32);
        for (&y, &e) in xs.iter().zip(&got) {
            let want = (y as f64).exp2();
            if y >= EXP2_FLUSH {
                let rel = (e as f64 - want).abs() / want;
                if rel > worst.0 {
                    worst = (rel, y);
                }
            } else {
                assert!(e == 0.0 || (path == crate::simd::Isa::Scalar && (e as f64 - want).abs() < 1e-44), "{path:?}: 2^{y} = {e}");
            }
        }
        eprintln!("{path:?}: 2^y (short: {short}) worst relative error {:.3e} at {}", worst.0, worst.1);
        assert!(worst.0 < tolerance, "{path:?}: relative error {:.3e} at y = {}", worst.0, worst.1);
        let ends = with_isa(path, || exp2_all(&[0.0, -0.0, f32::NAN, f32::NEG_INFINITY], short));
        assert_eq!(&ends[..2], &[1.0, 1.0], "{path:?}: 2^0 is exactly 1");
        assert!(ends[2].is_nan() && ends[3] == 0.0, "{path:?}: {ends:?}");
    }
}

#[test]
fn ln_matches_f64_over_the_normal_range() {
    // Every 97th float from the smallest normal to f32::MAX, plus values around 1.
    let mut xs: Vec<f32> = (f32::MIN_POSITIVE.to_bits()..f32::MAX.to_bits()).step_by(97).map(f32::from_bits).collect();
    xs.extend([1.0, 1.0 + f32::EPSILON, 1.0 - f32::EPSILON / 2.0, SQRT_HALF, 2.0f32.sqrt(), 0.5, 2.0, f32::MAX]);
    for path in available() {
        let mut got = vec![0.0; xs.len()];
        with_isa(path, || {
            with_lanes!(isa(), l => for j in (0..xs.len()).step_by(l.n()) {
                l.store_at(&mut got, j, l.ln(l.load_at(&xs, j, 1.0)));
            })
        });
        let mut worst = (0.0f64, 0.0f32);
        for (&x, &y) in xs.iter().zip(&got) {
            let want = (x as f64).ln();
            let err = (y as f64 - want).abs() / want.abs().max(1.0);
            if err > worst.0 {
                worst = (err, x);
            }
        }
        eprintln!("{path:?}: ln worst error {:.3e} at {}", worst.0, worst.1);
        assert!(worst.0 < 2e-7, "{path:?}: ln error {:.3e} at x = {}", worst.0, worst.1);
    }
}

#[test]
fn selects_and_divides_lane_by_lane() {
    for path in available() {
        with_isa(path, || {
            with_each_lanes!(l => {
                let n = l.n();
                let idx: Vec<f32> = (0..n).map(|i| i as f32).collect();
                let v = l.load(&idx);
                let mut out = vec![0.0f32; n];
                l.store(&mut out, l.select_eq(v, l.splat(1.0), l.splat(-1.0), l.div(v, l.splat(4.0))));
                for (i, &o) in out.iter().enumerate() {
                    assert_eq!(o, if i == 1 { -1.0 } else { i as f32 / 4.0 }, "{path:?} lane {i}");
                }
            });
        });
    }
}

#[test]
fn exp_ends_are_exact_and_nan_stays_nan() {
    let xs = [f32::NEG_INFINITY, -1e30, -104.5, -200.0, f32::INFINITY, 1e30, 89.5, f32::NAN, 0.0, -f32::NAN];
    for path in available() {
        let y = with_isa(path, || exp_all(&xs));
        assert_eq!(&y[..4], &[0.0; 4], "{path:?}");
        assert_eq!(&y[4..7], &[f32::INFINITY; 3], "{path:?}");
        assert!(y[7].is_nan() && y[9].is_nan(), "{path:?}: {y:?}");
        assert_eq!(y[8], 1.0, "{path:?}");
    }
}

#[test]
fn reductions_blends_and_tails() {
    let xs: Vec<f32> = (0..37).map(|i| ((i * 7919) % 37) as f32 - 18.0).collect();
    for path in available() {
        with_isa(path, || {
            with_each_lanes!(l => {
                let n = l.n();
                let (mut sum, mut max) = (l.splat(0.0), l.splat(f32::NEG_INFINITY));
                let mut i = 0;
                while i + n <= xs.len() {
                    let v = l.load(&xs[i..]);
                    sum = l.add(sum, v);
                    max = l.max(max, v);
                    i += n;
                }
                if i < xs.len() {
                    sum = l.add(sum, l.load_part(&xs[i..], 0.0));
                    max = l.max(max, l.load_part(&xs[i..], f32::NEG_INFINITY));
                }
                assert_eq!(l.sum(sum), xs.iter().sum::<f32>(), "{path:?}");
                assert_eq!(l.max_lane(max), 18.0, "{path:?}");
                let v = l.load_part(&[-3.0, 0.5, 2.0][..3.min(n)], 9.0);
                let picked = l.select_abs_below(v, 1.0, l.splat(1.0), l.splat(-1.0));
                let mut out = [0.0f32; 16];
                l.store(&mut out, picked);
                assert_eq!(out[0], -1.0, "{path:?}");
                if n > 1 {
                    assert_eq!(&out[1..3], &[1.0, -1.0], "{path:?}");
                    assert_eq!(l.eq_bits(v, 9.0), ((1u32 << n) - 1) & !7, "{path:?}");
                }
            });
        });
    }
}
