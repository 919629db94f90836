//! What runs write: typed records, one JSON object a line (JSONL), and the reader that reads
//! them back. A log is appended to line by line as a run goes.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// One epoch of a training or distillation run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// What was trained: `train`, `distill`, or a demo model's label.
    pub model: String,
    pub spec: String,
    /// The method: `ce`, `hinton`, `dkd`.
    pub method: String,
    /// Epochs done, counting this one.
    pub epoch: usize,
    pub epochs: usize,
    /// Mean training loss over the epoch's batches.
    pub loss: f32,
    /// The learning rate at the epoch's last batch.
    pub lr: f32,
    pub test_errors: usize,
    pub test_n: usize,
    pub test_accuracy: f64,
    /// Training time of the epoch, evaluation excluded.
    pub seconds: f64,
    /// With a teacher: the share of test examples where student and teacher pick the same class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agreement: Option<f64>,
    /// With a teacher: the mean `KL(p_teacher || p_student)` at T = 1 on the test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl_t1: Option<f64>,
    /// The objective's two terms as weighted in training, averaged over the epoch's batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_loss: Option<f64>,
    /// The decoupled parts of the KD term at the training T, averaged over the epoch's batches:
    /// `KL = tckd + (1 - pt_y) nckd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tckd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nckd: Option<f64>,
    /// The run's last epoch, with a teacher: the same figures on the whole training set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<Fidelity>,
}

/// How closely a student follows its teacher on a data set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fidelity {
    /// The share of examples where both pick the same top-1 class.
    pub agreement: f64,
    /// Mean `KL(p_teacher || p_student)` at T = 1.
    pub kl_t1: f64,
    /// Means of the decoupled parts of the KL at the training T.
    pub tckd: f64,
    pub nckd: f64,
}

/// A model evaluated on a test set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    pub model: String,
    pub errors: usize,
    pub n: usize,
    pub accuracy: f64,
    pub device: String,
}

/// One op's share of a profiled step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpRecord {
    pub op: String,
    pub calls: usize,
    pub forward_ms: f64,
    pub backward_ms: f64,
}

/// Where a profiled step's time went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileRecord {
    pub step_ms: f64,
    pub ops: Vec<OpRecord>,
    /// The step's GEMMs in it and alone (CPU only; absent from older records).
    #[serde(default)]
    pub gemms: Vec<GemmRecord>,
}

/// One GEMM shape of a profiled step: GFLOP/s inside the step and alone, the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GemmRecord {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
    /// Calls per step.
    pub calls: usize,
    pub in_step_gflops: f64,
    /// Alone, caches warm from the call before.
    pub alone_gflops: f64,
    /// Alone, nothing in any cache (absent from older records).
    #[serde(default)]
    pub cold_gflops: Option<f64>,
}

/// A step benchmark: samples/s of a training or distillation step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// `train step` or `distill step`.
    pub bench: String,
    pub teacher: Option<String>,
    pub student: String,
    pub batch: usize,
    pub dropout: f32,
    pub samples_per_s: f64,
    pub gflops: f64,
    pub median_step_ms: f64,
    pub steps: usize,
    pub device: String,
    pub device_name: String,
    pub profile: Option<ProfileRecord>,
}

/// Appends `record` to the JSONL log at `path` as one whole line, in one write. A last line cut
/// short (a full disk, a kill) is cut off first, so the new record starts a line of its own.
pub fn append_jsonl<T: Serialize>(path: &Path, record: &T) -> Result<()> {
    crate::files::check_regular(path)?;
    let mut line = serde_json::to_string(record).expect("records serialize");
    line.push('\n');
    let io = |e| Error::io(path, e);
    let mut f = std::fs::OpenOptions::new().create(true).read(true).append(true).open(path).map_err(io)?;
    // Only the last byte tells whether the last line is whole; the file is read only when not.
    let len = f.metadata().map_err(io)?.len();
    let mut last = [b'\n'];
    if len > 0 {
        f.seek(SeekFrom::Start(len - 1)).map_err(io)?;
        f.read_exact(&mut last).map_err(io)?;
    }
    if last[0] != b'\n' {
        let text = std::fs::read(path).map_err(io)?;
        f.set_len(whole_lines_len(&text) as u64).map_err(io)?;
    }
    f.write_all(line.as_bytes()).map_err(io)?;
    f.sync_data().map_err(io)
}

/// Readies the epoch log at `path` for a run whose checkpoint holds `epochs_done` epochs. A run
/// logs each epoch before writing its checkpoint, so a run killed between the two left the
/// record of an epoch its checkpoint lacks: that last record is dropped (atomically), and the
/// resumed run trains the epoch again and logs it once. A record further ahead means the log is
/// another run's: an error, the log untouched. A last line cut short stays for
/// [`append_jsonl`] to cut off.
pub fn drop_unsaved_epoch(path: &Path, epochs_done: usize) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // Whole lines only (bytes: a line cut short may end inside a character).
    let whole = whole_lines_len(&bytes);
    let lines: Vec<&[u8]> = bytes[..whole].split_inclusive(|&b| b == b'\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let log_error = |reason: String| Error::Log { path: path.to_path_buf(), line: i + 1, reason };
        let epoch = serde_json::from_slice::<EpochRecord>(line).map_err(|e| log_error(e.to_string()))?.epoch;
        if epoch <= epochs_done {
            continue;
        }
        if i + 1 == lines.len() && epoch == epochs_done + 1 {
            return crate::files::write_atomic(path, &bytes[..whole - line.len()]);
        }
        return Err(log_error(format!("epoch {epoch} follows epochs the checkpoint ({epochs_done} done) never held")));
    }
    Ok(())
}

/// The length of `text`'s whole lines: up to its last newline (0 if it has none).
fn whole_lines_len(text: &[u8]) -> usize {
    text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

/// Reads every line of the JSONL log at `path` as a `T`; a line that is not one is an error
/// naming its number.
pub fn read_jsonl<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut records = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record =
            serde_json::from_str(&line).map_err(|e| Error::Log { path: path.to_path_buf(), line: i + 1, reason: e.to_string() })?;
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(epoch: usize) -> String {
        let r = EpochRecord {
            model: "train".into(),
            spec: "mlp:4-3".into(),
            method: "ce".into(),
            epoch,
            epochs: 8,
            loss: 0.5,
            lr: 0.1,
            test_errors: 3,
            test_n: 10,
            test_accuracy: 0.7,
            seconds: 1.0,
            agreement: None,
            kl_t1: None,
            soft_loss: None,
            hard_loss: None,
            tckd: None,
            nckd: None,
            train: None,
        };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    fn log(epochs: &[usize], tail: &str) -> String {
        epochs.iter().map(|&e| line(e)).collect::<String>() + tail
    }

    /// A checkpoint of `done` epochs against each log a kill can leave, and two it cannot.
    #[test]
    fn a_resumed_run_drops_only_the_record_its_checkpoint_lacks() {
        let path = std::env::temp_dir().join(format!("retort-unsaved-{}.jsonl", std::process::id()));
        let cut = "{\"model\":\"tr";
        for (before, done, after) in [
            (log(&[1, 2, 3], ""), 3, Some(log(&[1, 2, 3], ""))),
            (log(&[1, 2, 3, 4], ""), 3, Some(log(&[1, 2, 3], ""))),
            (log(&[1, 2, 3, 4], cut), 3, Some(log(&[1, 2, 3], ""))),
            (log(&[1, 2, 3], cut), 3, Some(log(&[1, 2, 3], cut))),
            (log(&[1], ""), 0, Some(String::new())),
            (log(&[1, 2, 3, 4, 5], ""), 3, None),
            (log(&[1, 5, 3], ""), 3, None),
        ] {
            std::fs::write(&path, &before).unwrap();
            let result = drop_unsaved_epoch(&path, done);
            let now = std::fs::read_to_string(&path).unwrap();
            match after {
                Some(want) => {
                    assert!(result.is_ok(), "{before:?} at {done}: {result:?}");
                    assert_eq!(now, want, "{before:?} at {done}");
                }
                // Another run's log: an error, and the file as it was.
                None => {
                    assert!(matches!(result, Err(Error::Log { .. })), "{before:?} at {done}: {result:?}");
                    assert_eq!(now, before);
                }
            }
        }
        std::fs::remove_file(&path).unwrap();
        assert!(drop_unsaved_epoch(&path, 2).is_ok(), "no log yet");
    }
}
