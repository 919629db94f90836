//! The library's typed error: everything the environment or the user's files can get wrong.

use std::path::PathBuf;

/// What can go wrong at Retort's edge: files, specs, settings, devices.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a valid IDX file: {reason}")]
    Idx { path: PathBuf, reason: String },
    #[error("data set in {dir}: {reason}")]
    Dataset { dir: PathBuf, reason: String },
    #[error("model spec `{spec}`: {reason}")]
    Spec { spec: String, reason: String },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: PathBuf, reason: String },
    #[error("{name} = {value}: {reason}")]
    Setting { name: String, value: String, reason: String },
    #[error("{path}, line {line}: not a record of this log: {reason}")]
    Log { path: PathBuf, line: usize, reason: String },
    #[error("{path}, line {line}: not a line of scripts/pytorch_bench.py: {reason}")]
    Figures { path: PathBuf, line: usize, reason: String },
    #[error("report: {0}")]
    Report(String),
    #[error("device: {0}")]
    Device(String),
    /// Training produced a NaN or an infinity; nothing non-finite was saved.
    #[error("training diverged at step {step} (epoch {epoch}): {what}; nothing was saved from this step on (a lower --lr?)")]
    Diverged { epoch: usize, step: u32, what: String },
}

/// `Result` with Retort's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
    pub(crate) fn setting(name: impl Into<String>, value: impl ToString, reason: impl Into<String>) -> Self {
        Error::Setting { name: name.into(), value: value.to_string(), reason: reason.into() }
    }
}
