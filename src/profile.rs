//! Where a step's time goes, op by op (`retort bench train --profile`). Off unless started:
//! then every node the tape records is timed from the previous one (its forward pass), every
//! backward call on its own, each after a device sync so a GPU's queued work is counted where
//! it was issued; times are summed per op and output shape. The syncs slow a GPU step down:
//! the shares are the point, not the absolute figures. On the CPU the backend's GEMMs (the
//! linear layers'; a convolution's run inside its kernel) are also timed call by call, by shape.

use crate::backend::Device;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The summed time of one op at one output shape.
#[derive(Clone, Debug, PartialEq)]
pub struct OpTime {
    /// The op and its output shape, e.g. `matmul [25088, 16]`.
    pub op: String,
    /// Forward calls recorded.
    pub calls: usize,
    pub forward_s: f64,
    pub backward_s: f64,
}

/// A GEMM's shape: `C (m x n) = op(A) op(B)` over `k`, `op` a transpose where asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmShape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl GemmShape {
    pub fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n) as f64
    }
}

/// The summed time of one GEMM shape's calls (on the CPU, where a call's time is its own).
#[derive(Clone, Debug, PartialEq)]
pub struct GemmTime {
    pub shape: GemmShape,
    pub calls: usize,
    pub seconds: f64,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static TABLE: Mutex<Option<HashMap<String, OpTime>>> = Mutex::new(None);
static GEMMS: Mutex<Option<HashMap<GemmShape, GemmTime>>> = Mutex::new(None);

/// Starts recording, from empty tables.
pub fn start() {
    *TABLE.lock().unwrap_or_else(|e| e.into_inner()) = Some(HashMap::new());
    *GEMMS.lock().unwrap_or_else(|e| e.into_inner()) = Some(HashMap::new());
    ENABLED.store(true, Ordering::Release);
}

/// The GEMMs recorded since [`start`], the most expensive first (call after [`finish`]).
pub fn take_gemms() -> Vec<GemmTime> {
    let table = GEMMS.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
    let mut rows: Vec<GemmTime> = table.into_values().collect();
    rows.sort_by(|a, b| b.seconds.total_cmp(&a.seconds).then_with(|| a.shape.flops().total_cmp(&b.shape.flops())));
    rows
}

/// Adds one call of `shape` taking `seconds`.
pub(crate) fn record_gemm(shape: GemmShape, seconds: f64) {
    let mut table = GEMMS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(table) = table.as_mut() else { return };
    let row = table.entry(shape).or_insert(GemmTime { shape, calls: 0, seconds: 0.0 });
    row.calls += 1;
    row.seconds += seconds;
}

/// Stops recording; the table, the most expensive op first.
pub fn finish() -> Vec<OpTime> {
    ENABLED.store(false, Ordering::Release);
    let table = TABLE.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
    let mut rows: Vec<OpTime> = table.into_values().collect();
    rows.sort_by(|a, b| (b.forward_s + b.backward_s).total_cmp(&(a.forward_s + a.backward_s)).then_with(|| a.op.cmp(&b.op)));
    rows
}

pub(crate) fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Adds `seconds` to `op`'s forward or backward time.
pub(crate) fn record(op: impl FnOnce() -> String, backward: bool, seconds: f64) {
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let Some(table) = table.as_mut() else { return };
    let op = op();
    let row = table.entry(op.clone()).or_insert(OpTime { op, calls: 0, forward_s: 0.0, backward_s: 0.0 });
    if backward {
        row.backward_s += seconds;
    } else {
        row.calls += 1;
        row.forward_s += seconds;
    }
}

/// Runs `f`, recording its time (after a device sync) as the forward time of `name`: the work
/// outside the tape, such as the optimizer's update.
pub(crate) fn scope<R>(device: &Device, name: &str, f: impl FnOnce() -> R) -> R {
    if !enabled() {
        return f();
    }
    device.sync();
    let start = Instant::now();
    let out = f();
    device.sync();
    record(|| name.to_string(), false, start.elapsed().as_secs_f64());
    out
}

/// The clock of one tape: when its last node was recorded.
pub(crate) struct Clock(Option<Instant>);

impl Clock {
    pub fn new() -> Self {
        Clock(enabled().then(Instant::now))
    }

    /// The time since the last lap (after a device sync), recorded under `op`; `None` when off.
    pub fn lap(&mut self, device: &Device, op: impl FnOnce() -> String, backward: bool) {
        let Some(last) = self.0 else { return };
        device.sync();
        let now = Instant::now();
        record(op, backward, (now - last).as_secs_f64());
        self.0 = Some(now);
    }

    /// Restarts the clock now (after a device sync), so the next lap counts from here.
    pub fn reset(&mut self, device: &Device) {
        if self.0.is_some() {
            device.sync();
            self.0 = Some(Instant::now());
        }
    }
}
