//! Reports: one self-contained HTML file (inline SVG plots, no script, no network) and, beside
//! it, the numbers behind every figure as CSV.

pub mod csv;
pub mod html;
mod inspect;
mod kernels;
pub mod plot;
mod reproduce;
mod sweep;

pub use inspect::{ModelInfo, ReportHeader, write_inspection};
pub use kernels::write_kernel_report;
pub use reproduce::write_reproduction;
pub use sweep::write_sweep;
