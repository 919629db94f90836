//! The IDX parser on any bytes, raw or gzipped: an error or a consistent array, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static LIMIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: set once, before any thread reads the environment.
    LIMIT.call_once(|| unsafe { std::env::set_var("RETORT_MAX_GB", "0.05") });
    if let Ok(a) = retort::data::idx::parse_idx(data) {
        assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        assert!(a.data.iter().all(|v| v.is_finite()));
    }
});
