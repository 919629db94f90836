//! The checkpoint loader (safetensors header, offsets, the spec in its metadata, each tensor's
//! shape and values) on any bytes: an error or a model, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    static LIMIT: std::sync::Once = std::sync::Once::new();
    // SAFETY: set once, before any thread reads the environment.
    LIMIT.call_once(|| unsafe { std::env::set_var("RETORT_MAX_GB", "0.05") });
    let device = retort::Device::cpu();
    if let Ok(ck) = retort::checkpoint::from_bytes(data, Path::new("fuzz.safetensors"), &device, None) {
        let shapes = ck.model.spec.param_shapes();
        assert_eq!(shapes.len(), ck.model.params.len());
        for ((_, shape), p) in shapes.iter().zip(&ck.model.params) {
            assert_eq!(shape.as_slice(), p.shape());
        }
    }
});
