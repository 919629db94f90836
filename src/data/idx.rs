//! The IDX format (LeCun's MNIST files), raw or gzipped, of any element type and dimensions:
//! a magic `0 0 type ndim`, `ndim` big-endian u32 dimensions, then the values, big-endian.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array: its dimensions and its values as f32.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<f32>,
}

/// Reads an IDX file; gzip is detected by its magic bytes, not the file name.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_idx(&raw).map_err(|reason| Error::Idx { path: path.to_path_buf(), reason })
}

/// Parses IDX bytes (raw or gzipped); the error says what is wrong.
pub fn parse_idx(raw: &[u8]) -> std::result::Result<IdxArray, String> {
    let limit = crate::limits::max_bytes();
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // Read one byte past the limit: a file that inflates beyond it is refused, not held.
        let mut inflate = flate2::read::GzDecoder::new(raw).take(limit + 1);
        inflate.read_to_end(&mut out).map_err(|e| format!("corrupt or truncated gzip data: {e}"))?;
        if out.len() as u64 > limit {
            return Err(format!("inflates past {} ({})", crate::limits::describe(limit), crate::limits::HOW_TO_RAISE));
        }
        out
    } else {
        raw.to_vec()
    };
    if bytes.len() < 4 {
        return Err(format!("{} bytes is shorter than the 4-byte magic number", bytes.len()));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format!(
            "wrong magic number {:02x}{:02x}{:02x}{:02x}: IDX files start with two zero bytes",
            bytes[0], bytes[1], bytes[2], bytes[3]
        ));
    }
    let (elem, size): (u8, usize) = match bytes[2] {
        0x08 => (0x08, 1),
        0x09 => (0x09, 1),
        0x0B => (0x0B, 2),
        0x0C => (0x0C, 4),
        0x0D => (0x0D, 4),
        0x0E => (0x0E, 8),
        t => return Err(format!("unknown element type 0x{t:02x} in the magic number (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)")),
    };
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err("zero dimensions in the magic number".into());
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!("truncated header: {ndim} dimensions need {header} bytes, the file has {}", bytes.len()));
    }
    let dims: Vec<usize> = (0..ndim).map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize).collect();
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let body = &bytes[header..];
    let want = count.checked_mul(size).ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    if body.len() < want {
        return Err(format!("truncated: dimensions {dims:?} need {want} bytes of data, the file has {}", body.len()));
    }
    if body.len() > want {
        return Err(format!("{} bytes after the data that dimensions {dims:?} describe", body.len() - want));
    }
    let data = match elem {
        0x08 => body.iter().map(|&b| b as f32).collect(),
        0x09 => body.iter().map(|&b| b as i8 as f32).collect(),
        0x0B => body.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]]) as f32).collect(),
        0x0C => body.chunks_exact(4).map(|c| i32::from_be_bytes(c.try_into().unwrap()) as f32).collect(),
        0x0D => body.chunks_exact(4).map(|c| f32::from_be_bytes(c.try_into().unwrap())).collect(),
        _ => body.chunks_exact(8).map(|c| f64::from_be_bytes(c.try_into().unwrap()) as f32).collect(),
    };
    let data: Vec<f32> = data;
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(format!("value {i} is {} (an f32 holds none of NaN, an infinity or a float beyond 3.4e38)", data[i]));
    }
    Ok(IdxArray { dims, data })
}

/// IDX bytes of u8 values: for tests and tools that write data sets.
pub fn encode_idx_u8(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_raw_and_gzipped_any_dimensions() {
        let raw = encode_idx_u8(&[2, 3, 5], &(0..30).collect::<Vec<u8>>());
        for bytes in [raw.clone(), gzip(&raw)] {
            let a = parse_idx(&bytes).unwrap();
            assert_eq!(a.dims, vec![2, 3, 5]);
            assert_eq!(a.data[29], 29.0);
        }
        let mut f32s = vec![0, 0, 0x0D, 1, 0, 0, 0, 2];
        f32s.extend_from_slice(&1.5f32.to_be_bytes());
        f32s.extend_from_slice(&(-2.0f32).to_be_bytes());
        assert_eq!(parse_idx(&f32s).unwrap().data, vec![1.5, -2.0]);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let good = encode_idx_u8(&[4, 2], &[1; 8]);
        let gz = gzip(&good);
        let mut wrong_magic = good.clone();
        wrong_magic[0] = 8;
        let mut bad_type = good.clone();
        bad_type[2] = 0x07;
        let mut long = good.clone();
        long.push(0);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 1].to_vec(), "truncated"),
            (good[..6].to_vec(), "truncated header"),
            (vec![0, 0], "shorter"),
            (wrong_magic, "wrong magic"),
            (bad_type, "unknown element type"),
            (long, "after the data"),
            (gz[..gz.len() / 2].to_vec(), "gzip"),
        ];
        for (bytes, needle) in cases {
            let e = parse_idx(&bytes).unwrap_err();
            assert!(e.contains(needle), "expected `{needle}` in `{e}`");
        }
    }
}
