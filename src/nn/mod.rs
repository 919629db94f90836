//! Layers and models: a spec string parsed into an architecture, its parameters, its forward pass.

pub mod model;
pub mod spec;

pub use model::{Dropout, Model, Outputs, init_params};
pub use spec::{CnnLayer, ModelSpec, PlannedLayer};
