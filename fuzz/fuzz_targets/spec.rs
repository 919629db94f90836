//! The model spec parser on any text: an error or a spec whose every derived size is computable
//! and which prints back to itself, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use retort::nn::ModelSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = ModelSpec::parse(text) {
        let _ = (spec.layers(), spec.param_shapes(), spec.layer_names(), spec.input_len(), spec.classes());
        let _ = (spec.forward_macs(), spec.train_flops());
        let printed = spec.to_string();
        assert_eq!(ModelSpec::parse(&printed).expect("a printed spec parses"), spec, "{printed}");
    }
});
