//! The tensor handle: a shape and a shared device buffer. Cloning is cheap (the buffer is
//! reference-counted); writing through [`Tensor::storage_mut`] copies only if shared.

use crate::backend::{Device, LabelStorage, Storage};
use std::sync::Arc;

/// An f32 array on a device, row-major.
#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    shape: Vec<usize>,
    device: Device,
}

impl Tensor {
    /// A tensor of `shape` holding `data` (row-major). Panics if the lengths differ.
    pub fn from_slice(device: &Device, shape: &[usize], data: &[f32]) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "Tensor::from_slice: shape {shape:?} needs {} values, got {}",
            shape.iter().product::<usize>(),
            data.len()
        );
        Tensor { storage: Arc::new(device.upload(data)), shape: shape.to_vec(), device: device.clone() }
    }

    /// A tensor of zeros.
    pub fn zeros(device: &Device, shape: &[usize]) -> Self {
        Tensor { storage: Arc::new(device.zeros(shape.iter().product())), shape: shape.to_vec(), device: device.clone() }
    }

    /// A tensor whose values are unspecified, for an op that overwrites all of them: on the CPU a
    /// recycled buffer, without the memset of [`Tensor::zeros`].
    pub(crate) fn empty(device: &Device, shape: &[usize]) -> Self {
        Tensor { storage: Arc::new(device.empty(shape.iter().product())), shape: shape.to_vec(), device: device.clone() }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tensor as a matrix: first dimension by the product of the rest.
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.split_first() {
            Some((&r, rest)) => (r, rest.iter().product()),
            None => (1, 1),
        }
    }

    /// Copies the values back to the host.
    pub fn to_vec(&self) -> Vec<f32> {
        self.device.download(&self.storage)
    }

    /// The single value of a one-element tensor (a loss).
    pub fn item(&self) -> f32 {
        assert_eq!(self.len(), 1, "Tensor::item on shape {:?}", self.shape);
        self.to_vec()[0]
    }

    /// The same values under another shape of the same size; no copy.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), self.len(), "reshape {:?} to {shape:?}", self.shape);
        Tensor { storage: self.storage.clone(), shape: shape.to_vec(), device: self.device.clone() }
    }

    /// The same values on `device`.
    pub fn to_device(&self, device: &Device) -> Tensor {
        Tensor::from_slice(device, &self.shape, &self.to_vec())
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Writable access; copies the buffer first if another handle shares it.
    pub(crate) fn storage_mut(&mut self) -> &mut Storage {
        Arc::make_mut(&mut self.storage)
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?} on {}", self.shape, self.device.kind())
    }
}

/// Class labels on a device, one per row of a batch.
#[derive(Clone)]
pub struct Labels {
    storage: Arc<LabelStorage>,
    len: usize,
}

impl Labels {
    pub fn from_slice(device: &Device, labels: &[u32]) -> Self {
        Labels { storage: Arc::new(device.upload_labels(labels)), len: labels.len() }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub(crate) fn storage(&self) -> &LabelStorage {
        &self.storage
    }
}
