//! The devices tests run on, and [`device_test!`], which stamps one test body out per device.
//!
//! The GPU is whatever adapter wgpu finds (lavapipe in CI). No adapter fails a GPU test, saying
//! how to get one; outside CI, `RETORT_SKIP_GPU=1` skips instead, and says so.

use crate::backend::Device;
use crate::backend::gpu::GpuBackend;
use std::sync::OnceLock;

/// The adapter every GPU test shares; `None` only when skipping is allowed.
pub(crate) fn gpu_backend() -> Option<&'static GpuBackend> {
    static GPU: OnceLock<std::result::Result<GpuBackend, String>> = OnceLock::new();
    match GPU.get_or_init(|| GpuBackend::open().map_err(|e| e.to_string())) {
        Ok(be) => Some(be),
        Err(e) if std::env::var_os("RETORT_SKIP_GPU").is_some() && std::env::var_os("CI").is_none() => {
            eprintln!("RETORT_SKIP_GPU: skipping a GPU test: {e}");
            None
        }
        Err(e) => panic!("{e}\n(GPU tests need an adapter; outside CI, RETORT_SKIP_GPU=1 skips them)"),
    }
}

/// The shared adapter as a [`Device`].
pub(crate) fn gpu() -> Option<Device> {
    gpu_backend().map(|be| Device::Gpu(be.clone()))
}

/// `device_test!(name, |device| { ... })` defines `name::cpu` and `name::gpu`, the same body
/// with `device: &Device` on each.
macro_rules! device_test {
    ($name:ident, |$device:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn cpu() {
                let $device: &$crate::backend::Device = &$crate::backend::Device::cpu();
                $body
            }

            #[test]
            fn gpu() {
                let Some(gpu) = $crate::test_devices::gpu() else { return };
                let $device: &$crate::backend::Device = &gpu;
                $body
            }
        }
    };
}
pub(crate) use device_test;
