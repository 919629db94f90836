//! Writing files so that a crash never leaves half of one where a whole one was.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `data` to a temporary file beside `path`, syncs it, renames it over `path` and syncs
/// the folder, so the rename itself survives a crash. Temporaries of `path` left by a killed
/// run are removed first. Refuses to replace anything but a regular file (a device, a FIFO, a
/// symlink, a folder).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    check_regular(path)?;
    let (dir, name) = dir_and_name(path)?;
    remove_stale_temporaries(&dir, &name);
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable once the folder's entry is on disk.
        std::fs::File::open(&dir)?.sync_all()
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Refuses `path` if something other than a regular file is there; nothing there is fine.
pub fn check_regular(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => {
            let what = if m.file_type().is_symlink() {
                "a symbolic link"
            } else if m.is_dir() {
                "a folder"
            } else {
                "not a regular file (a device or a FIFO)"
            };
            Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("is {what}; refusing to replace it"))))
        }
        _ => Ok(()),
    }
}

fn dir_and_name(path: &Path) -> Result<(std::path::PathBuf, String)> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let name = path.file_name().ok_or_else(|| Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name")))?;
    Ok((dir, name.to_string_lossy().into_owned()))
}

/// Removes `.NAME.PID.tmp` files beside `NAME`: what a run killed while writing it left.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let (prefix, suffix) = (format!(".{name}."), ".tmp");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(suffix));
        if pid.is_some_and(|pid| pid.chars().all(|c| c.is_ascii_digit())) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
