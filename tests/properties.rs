//! Property tests of the two grammars users hand Retort: model specs and IDX files. Specs that
//! print back to themselves and arbitrary text that parses or fails cleanly; IDX arrays that
//! round-trip raw and gzipped, and any cut of a valid file refused, never a panic.

use proptest::prelude::*;
use retort::data::idx::{encode_idx_u8, parse_idx};
use retort::nn::{CnnLayer, ModelSpec};

fn cnn_layer() -> impl Strategy<Value = CnnLayer> {
    prop_oneof![
        (1usize..16, 1usize..4, 0usize..3, 1usize..3).prop_map(|(channels, kernel, padding, stride)| CnnLayer::Conv {
            channels,
            kernel,
            padding,
            stride
        }),
        (1usize..3).prop_map(|size| CnnLayer::Pool { size }),
        (1usize..64).prop_map(|width| CnnLayer::Fc { width }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Every MLP spec prints as it is written and parses back to itself.
    #[test]
    fn mlp_specs_round_trip(sizes in prop::collection::vec(1usize..5000, 2..6)) {
        let text = format!("mlp:{}", sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-"));
        let spec = ModelSpec::parse(&text).unwrap();
        prop_assert_eq!(spec.to_string(), text);
        prop_assert_eq!(spec.param_shapes().len(), 2 * (sizes.len() - 1));
    }

    /// A CNN spec either plans (its layers fit) and round-trips, or is refused with a reason
    /// naming a layer; never a panic.
    #[test]
    fn cnn_specs_round_trip_or_name_the_layer(
        c in 1usize..4, h in 1usize..40, w in 1usize..40, layers in prop::collection::vec(cnn_layer(), 0..5), classes in 1usize..20
    ) {
        let spec = ModelSpec::Cnn { input: [c, h, w], layers, classes };
        let text = spec.to_string();
        match ModelSpec::parse(&text) {
            Ok(parsed) => {
                prop_assert_eq!(&parsed, &spec);
                prop_assert_eq!(parsed.layer_names().len(), parsed.layers().len());
                let _ = (parsed.forward_macs(), parsed.train_flops(), parsed.input_len());
            }
            Err(e) => prop_assert!(e.to_string().contains("layer"), "{text}: {e}"),
        }
    }

    /// Any text: a spec or an error, never a panic.
    #[test]
    fn any_text_parses_or_fails_cleanly(text in "(mlp|cnn|rnn)?:?[0-9a-z x:-]{0,40}") {
        if let Ok(spec) = ModelSpec::parse(&text) {
            prop_assert_eq!(ModelSpec::parse(&spec.to_string()).unwrap(), spec);
        }
    }

    /// u8 arrays of any shape come back as they went, raw or gzipped.
    #[test]
    fn idx_round_trips(dims in prop::collection::vec(1usize..12, 1..4), seed in any::<u8>(), gzip in any::<bool>()) {
        let count: usize = dims.iter().product();
        let values: Vec<u8> = (0..count).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let mut bytes = encode_idx_u8(&dims, &values);
        if gzip {
            use std::io::Write;
            let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(&bytes).unwrap();
            bytes = z.finish().unwrap();
        }
        let parsed = parse_idx(&bytes).unwrap();
        prop_assert_eq!(parsed.dims, dims);
        prop_assert_eq!(parsed.data, values.iter().map(|&v| v as f32).collect::<Vec<_>>());
    }

    /// Every cut of a valid file, and any byte changed in its header, is an error or a
    /// consistent array: never a panic.
    #[test]
    fn damaged_idx_is_refused_or_consistent(dims in prop::collection::vec(1usize..6, 1..4), cut in any::<prop::sample::Index>(),
                                            at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let count: usize = dims.iter().product();
        let bytes = encode_idx_u8(&dims, &vec![7; count]);
        let short = &bytes[..cut.index(bytes.len())];
        prop_assert!(parse_idx(short).is_err());
        let mut changed = bytes.clone();
        let header = 4 + 4 * dims.len();
        changed[at.index(header)] = byte;
        if let Ok(a) = parse_idx(&changed) {
            prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        }
    }
}
