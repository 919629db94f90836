//! PyTorch's figures (`bench kernels --pytorch`) on any text: an error or figures whose every
//! number is positive and finite, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use retort::pytorch_figures::parse_pytorch_figures;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(figures) = parse_pytorch_figures(text, std::path::Path::new("fuzz.jsonl")) {
        assert!(!figures.figures.is_empty());
        for f in &figures.figures {
            assert!(f.median_us.is_some() || f.gflops.is_some());
            assert!(f.median_us.into_iter().chain(f.gflops).all(|v| v.is_finite() && v > 0.0));
        }
    }
});
