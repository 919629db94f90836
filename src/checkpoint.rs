//! Checkpoints in safetensors: the parameters, the optimizer's state, and in the metadata the
//! model spec and training state. Written to a temporary file and renamed, so a crash never
//! leaves a half-written checkpoint where a good one was.

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::nn::{Model, ModelSpec};
use crate::tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

const SPEC_KEY: &str = "retort.spec";
const STATE_PREFIX: &str = "optimizer.state.";

/// A loaded checkpoint: the model, the other named tensors (a method's parameters), optimizer
/// state tensors (empty if none) and metadata.
pub struct Checkpoint {
    pub model: Model,
    pub extra: Vec<(String, Tensor)>,
    pub optimizer_state: Vec<Tensor>,
    pub metadata: HashMap<String, String>,
}

/// Saves a model of `spec` as the named tensors `params` (its own first, in
/// [`ModelSpec::param_shapes`] order, then any others), `optimizer_state` and `metadata` (plus
/// the spec) to `path`, atomically.
pub fn save(
    path: &Path, spec: &ModelSpec, params: &[(String, &Tensor)], optimizer_state: &[Tensor], metadata: &HashMap<String, String>,
) -> Result<()> {
    let names: Vec<String> =
        params.iter().map(|(n, _)| n.clone()).chain((0..optimizer_state.len()).map(|i| format!("{STATE_PREFIX}{i}"))).collect();
    let tensors: Vec<&Tensor> = params.iter().map(|(_, t)| *t).chain(optimizer_state).collect();
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|t| t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = names
        .iter()
        .zip(&tensors)
        .zip(&bytes)
        .map(|((n, t), b)| (n.clone(), TensorView::new(Dtype::F32, t.shape().to_vec(), b).expect("shape matches data")));
    let mut meta = metadata.clone();
    meta.insert(SPEC_KEY.into(), spec.to_string());
    let err = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
    let mut data = safetensors::tensor::serialize(views, Some(meta)).map_err(|e| err(e.to_string()))?;
    sort_header(&mut data).map_err(err)?;
    write_atomic(path, &data)
}

/// Rewrites a safetensors header with its keys sorted: the metadata comes out of a hash map in
/// a different order every run, and the same training must give the same bytes. The header
/// keeps its length (the same keys, reordered, padded with spaces), so no offset moves.
fn sort_header(data: &mut [u8]) -> std::result::Result<(), String> {
    let len = data.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize).ok_or("no header")?;
    let header = data.get_mut(8..8 + len).ok_or("a header longer than the file")?;
    let value: serde_json::Value = serde_json::from_slice(header).map_err(|e| e.to_string())?;
    // serde_json's map is a BTreeMap: its keys serialise in order.
    let sorted = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    if sorted.len() > len {
        return Err(format!("the sorted header has {} bytes, the original {len}", sorted.len()));
    }
    header[..sorted.len()].copy_from_slice(&sorted);
    header[sorted.len()..].fill(b' ');
    Ok(())
}

/// Loads a checkpoint onto `device`. With `expect`, a checkpoint of another architecture is an error.
pub fn load(path: &Path, device: &Device, expect: Option<&ModelSpec>) -> Result<Checkpoint> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&raw, path, device, expect)
}

/// [`load`] from the file's bytes (`path` names it in errors): what the fuzzer drives.
pub fn from_bytes(raw: &[u8], path: &Path, device: &Device, expect: Option<&ModelSpec>) -> Result<Checkpoint> {
    let err = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
    let (_, header) = SafeTensors::read_metadata(raw).map_err(|e| err(format!("not a safetensors file: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let spec_str = metadata.get(SPEC_KEY).ok_or_else(|| err("no model spec in its metadata: not a Retort checkpoint".into()))?;
    let spec = ModelSpec::parse(spec_str)?;
    if let Some(want) = expect.filter(|w| **w != spec) {
        return Err(err(format!("holds a {spec}, expected a {want}")));
    }
    let st = SafeTensors::deserialize(raw).map_err(|e| err(format!("corrupt safetensors data: {e}")))?;
    let read = |name: &str, shape: Option<&[usize]>| -> Result<Tensor> {
        let view = st.tensor(name).map_err(|_| err(format!("tensor `{name}` is missing for a {spec}")))?;
        if view.dtype() != Dtype::F32 {
            return Err(err(format!("tensor `{name}` is {:?}, expected F32", view.dtype())));
        }
        if let Some(s) = shape.filter(|s| *s != view.shape()) {
            return Err(err(format!("tensor `{name}` has shape {:?}, a {spec} needs {s:?}", view.shape())));
        }
        let values: Vec<f32> = view.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(err(format!("tensor `{name}` holds {} at value {i}: a diverged or damaged model", values[i])));
        }
        Ok(Tensor::from_slice(device, view.shape(), &values))
    };
    let shapes = spec.param_shapes();
    let params = shapes.iter().map(|(n, s)| read(n, Some(s))).collect::<Result<Vec<_>>>()?;
    let mut extra = Vec::new();
    let mut others: Vec<&str> =
        st.names().into_iter().filter(|n| !n.starts_with(STATE_PREFIX) && !shapes.iter().any(|(m, _)| m == n)).collect();
    others.sort();
    for name in others {
        extra.push((name.to_string(), read(name, None)?));
    }
    let mut optimizer_state = Vec::new();
    while st.names().contains(&format!("{STATE_PREFIX}{}", optimizer_state.len()).as_str()) {
        optimizer_state.push(read(&format!("{STATE_PREFIX}{}", optimizer_state.len()), None)?);
    }
    Ok(Checkpoint { model: Model { spec, params }, extra, optimizer_state, metadata })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_architectures() {
        let dir = std::env::temp_dir().join(format!("retort-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        let dev = Device::cpu();
        let model = Model::new(ModelSpec::parse("mlp:6-5-3").unwrap(), &dev, 1);
        let state = vec![Tensor::from_slice(&dev, &[2], &[1.0, 2.0])];
        let meta = HashMap::from([("retort.epoch".to_string(), "4".to_string())]);
        save(&path, &model.spec, &model.named_params(), &state, &meta).unwrap();
        let ck = load(&path, &dev, Some(&model.spec)).unwrap();
        assert_eq!(ck.metadata["retort.epoch"], "4");
        assert_eq!(ck.optimizer_state[0].to_vec(), vec![1.0, 2.0]);
        for (a, b) in ck.model.params.iter().zip(&model.params) {
            assert_eq!(a.to_vec(), b.to_vec());
        }
        let other = ModelSpec::parse("mlp:6-4-3").unwrap();
        let e = load(&path, &dev, Some(&other)).err().unwrap().to_string();
        assert!(e.contains("holds a mlp:6-5-3, expected a mlp:6-4-3"), "{e}");
        // A truncated file is an error, not a panic; no temporary file is left behind.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(load(&path, &dev, None).is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
