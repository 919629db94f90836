//! Retort: knowledge distillation on hand-written kernels.
//!
//! Layers, top to bottom: `retort-kernels` (slices in, slices out) -> [`backend`] (device
//! buffers, one trait, CPU and GPU) -> [`tensor`] and [`autograd`] (the tape) -> [`ops`] ->
//! [`nn`], [`optim`] -> [`kd`] (distillation methods) -> [`train`] (the loop, evaluation, records)
//! -> the `retort` CLI.

pub mod autograd;
pub mod backend;
pub mod checkpoint;
pub mod data;
pub mod demo;
pub mod error;
pub mod files;
pub mod kd;
pub mod kernel_bench;
pub mod limits;
pub mod nn;
pub mod ops;
pub mod optim;
pub mod profile;
pub mod pytorch_figures;
pub mod report;
pub mod study;
pub mod tensor;
pub mod train;
#[cfg(test)]
#[macro_use]
pub(crate) mod test_devices;

pub use autograd::{Gradients, Graph, Var};
pub use backend::{Device, DeviceChoice};
pub use error::{Error, Result};
pub use tensor::{Labels, Tensor};
