//! Data sets: IDX files from a folder or the subset embedded in the binary, seeded shuffling,
//! batches, and the +-2 pixel jitter Hinton et al. used for the teacher.

pub mod idx;

use crate::error::{Error, Result};
use idx::{IdxArray, parse_idx, read_idx};
use retort_kernels::rng::Rng;
use std::path::Path;

/// Examples scaled to [0, 1] and their labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `len x example_len` values, row-major.
    pub images: Vec<f32>,
    pub labels: Vec<u32>,
    /// Shape of one example, such as `[28, 28]`.
    pub example_dims: Vec<usize>,
}

impl Dataset {
    /// `60000 examples, 1a2b...`: the count and an FNV-1a hash of every label and value, so a
    /// resumed run can tell it is given the data it started on.
    pub fn fingerprint(&self) -> String {
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        let mut eat = |bytes: [u8; 4]| {
            for b in bytes {
                hash = (hash ^ b as u64).wrapping_mul(0x0100_0000_01b3);
            }
        };
        self.labels.iter().for_each(|&y| eat(y.to_le_bytes()));
        self.images.iter().for_each(|&v| eat(v.to_bits().to_le_bytes()));
        format!("{} examples, {hash:016x}", self.labels.len())
    }
}

/// A training and a test set.
#[derive(Clone, Debug)]
pub struct Splits {
    pub train: Dataset,
    pub test: Dataset,
    /// Where they came from, for reports.
    pub source: String,
}

/// The MNIST subset the repository ships (first 10,000 training and 2,000 test examples).
pub fn embedded() -> Splits {
    const FILES: [&[u8]; 4] = [
        include_bytes!("../../data/mnist-subset/train-images.idx3-ubyte.gz"),
        include_bytes!("../../data/mnist-subset/train-labels.idx1-ubyte.gz"),
        include_bytes!("../../data/mnist-subset/t10k-images.idx3-ubyte.gz"),
        include_bytes!("../../data/mnist-subset/t10k-labels.idx1-ubyte.gz"),
    ];
    let parse = |b: &[u8]| parse_idx(b).expect("the embedded subset is valid IDX");
    let train = Dataset::from_idx(parse(FILES[0]), parse(FILES[1])).expect("embedded train set");
    let test = Dataset::from_idx(parse(FILES[2]), parse(FILES[3])).expect("embedded test set");
    Splits { train, test, source: "embedded MNIST subset (10,000 train / 2,000 test)".into() }
}

/// Loads `train-images`, `train-labels`, `t10k-images` and `t10k-labels` from `dir`, each named
/// `*-idx3-ubyte` or `*.idx3-ubyte` (idx1 for labels), raw or `.gz`.
pub fn load_dir(dir: &Path) -> Result<Splits> {
    let find = |stem: &str, ndim: u8| -> Result<IdxArray> {
        for sep in ['-', '.'] {
            for ext in ["", ".gz"] {
                let p = dir.join(format!("{stem}{sep}idx{ndim}-ubyte{ext}"));
                if p.is_file() {
                    return read_idx(&p);
                }
            }
        }
        Err(Error::Dataset {
            dir: dir.to_path_buf(),
            reason: format!("no {stem}-idx{ndim}-ubyte (or {stem}.idx{ndim}-ubyte, optionally .gz) in it"),
        })
    };
    if !dir.is_dir() {
        return Err(Error::Dataset { dir: dir.to_path_buf(), reason: "not a folder".into() });
    }
    let wrap = |r: std::result::Result<Dataset, String>| r.map_err(|reason| Error::Dataset { dir: dir.to_path_buf(), reason });
    let train = wrap(Dataset::from_idx(find("train-images", 3)?, find("train-labels", 1)?))?;
    let test = wrap(Dataset::from_idx(find("t10k-images", 3)?, find("t10k-labels", 1)?))?;
    if train.example_dims != test.example_dims {
        return Err(Error::Dataset {
            dir: dir.to_path_buf(),
            reason: format!("training examples are {:?}, test examples {:?}", train.example_dims, test.example_dims),
        });
    }
    Ok(Splits { train, test, source: dir.display().to_string() })
}

impl Dataset {
    /// Pairs images (`n x ...`, bytes scaled by 1/255) with labels (`n`).
    pub fn from_idx(images: IdxArray, labels: IdxArray) -> std::result::Result<Self, String> {
        if labels.dims.len() != 1 {
            return Err(format!("labels have dimensions {:?}, expected one", labels.dims));
        }
        if images.dims[0] != labels.dims[0] {
            return Err(format!("{} images but {} labels", images.dims[0], labels.dims[0]));
        }
        if let Some(bad) = labels.data.iter().find(|&&y| y < 0.0 || y.fract() != 0.0 || y > 65535.0) {
            return Err(format!("label {bad} is not a class index"));
        }
        Ok(Dataset {
            images: images.data.iter().map(|v| v / 255.0).collect(),
            labels: labels.data.iter().map(|&y| y as u32).collect(),
            example_dims: images.dims[1..].to_vec(),
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per example.
    pub fn example_len(&self) -> usize {
        self.example_dims.iter().product()
    }

    /// Classes implied by the labels (largest label + 1).
    pub fn classes(&self) -> usize {
        self.labels.iter().max().map_or(0, |&m| m as usize + 1)
    }

    /// The examples whose label `keep` accepts, in order: a transfer set.
    pub fn select(&self, keep: impl Fn(u32) -> bool) -> Dataset {
        let d = self.example_len();
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for (i, &y) in self.labels.iter().enumerate().filter(|&(_, &y)| keep(y)) {
            images.extend_from_slice(&self.images[i * d..(i + 1) * d]);
            labels.push(y);
        }
        Dataset { images, labels, example_dims: self.example_dims.clone() }
    }

    /// The examples at `indices` into `out` (`indices.len() x example_len`), shifted by up to
    /// `jitter` pixels each way (zero fill) when `jitter > 0` and examples are 2-D.
    pub fn gather(&self, indices: &[usize], jitter: usize, rng: &mut Rng, out: &mut Vec<f32>, labels: &mut Vec<u32>) {
        let d = self.example_len();
        out.clear();
        labels.clear();
        for &i in indices {
            let src = &self.images[i * d..(i + 1) * d];
            labels.push(self.labels[i]);
            if jitter == 0 || self.example_dims.len() != 2 {
                out.extend_from_slice(src);
                continue;
            }
            let (h, w) = (self.example_dims[0], self.example_dims[1]);
            let span = 2 * jitter + 1;
            let dy = rng.below(span) as isize - jitter as isize;
            let dx = rng.below(span) as isize - jitter as isize;
            let start = out.len();
            out.resize(start + d, 0.0);
            for y in 0..h as isize {
                let sy = y - dy;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                for x in 0..w as isize {
                    let sx = x - dx;
                    if sx >= 0 && sx < w as isize {
                        out[start + (y as usize) * w + x as usize] = src[sy as usize * w + sx as usize];
                    }
                }
            }
        }
    }
}

/// A seeded permutation of `0..n` for `epoch` (Fisher-Yates).
pub fn shuffled(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed ^ epoch.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        idx.swap(i, rng.below(i + 1));
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_subset_loads() {
        let s = embedded();
        assert_eq!((s.train.len(), s.test.len()), (10_000, 2_000));
        assert_eq!(s.train.example_dims, vec![28, 28]);
        assert_eq!(s.train.classes(), 10);
        assert!(s.train.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    }

    #[test]
    fn shuffles_are_seeded_permutations() {
        let a = shuffled(1000, 1, 0);
        assert_eq!(a, shuffled(1000, 1, 0));
        assert_ne!(a, shuffled(1000, 1, 1));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn jitter_shifts_within_two_pixels() {
        let mut img = vec![0.0; 28 * 28];
        img[14 * 28 + 14] = 1.0;
        let ds = Dataset { images: img, labels: vec![3], example_dims: vec![28, 28] };
        let mut rng = Rng::new(5);
        let (mut out, mut y) = (Vec::new(), Vec::new());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            ds.gather(&[0], 2, &mut rng, &mut out, &mut y);
            let pos = out.iter().position(|&v| v == 1.0).unwrap();
            let (r, c) = (pos / 28, pos % 28);
            assert!(r.abs_diff(14) <= 2 && c.abs_diff(14) <= 2);
            seen.insert(pos);
        }
        assert_eq!(seen.len(), 25, "every shift in [-2, 2]^2 occurs");
        assert_eq!(y, vec![3]);
    }

    #[test]
    fn mismatched_counts_and_missing_files_are_errors() {
        let imgs = parse_idx(&idx::encode_idx_u8(&[3, 2, 2], &[0; 12])).unwrap();
        let labels = parse_idx(&idx::encode_idx_u8(&[2], &[0, 1])).unwrap();
        assert!(Dataset::from_idx(imgs, labels).unwrap_err().contains("3 images but 2 labels"));
        let e = load_dir(Path::new("/nonexistent/mnist")).unwrap_err().to_string();
        assert!(e.contains("not a folder"), "{e}");
    }
}
