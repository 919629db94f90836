//! One wgpu device and what every op shares: compiled pipelines, a pool of buffers, and the
//! command encoder that collects a step's dispatches until something needs the results.
//!
//! Ordering: every op records into the one pending encoder, so ops run in program order. A
//! buffer dropped by its tensor goes back to the pool at once, even while recorded commands
//! still use it; that is safe because whatever reuses it is recorded (or, for an upload,
//! submitted) after those commands, and the queue runs in order.

use super::params::Params;
use super::shaders::{Kernel, Shader};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Bytes of one dispatch's parameters in the uniform arena: the largest
/// `min_uniform_buffer_offset_alignment` WebGPU allows.
const PARAM_SLOT: u64 = 256;
/// Dispatches recorded before the parameters arena is full and the encoder is submitted.
const PARAM_SLOTS: u64 = 2048;

/// The adapter that runs the ops, as printed to the user.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    /// A CPU rasterizer (lavapipe, WARP): correct, but slower than the CPU backend.
    pub software: bool,
    pub timestamps: bool,
}

pub(crate) struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<PipelineKey, (wgpu::ComputePipeline, wgpu::BindGroupLayout)>>,
    pool: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    pending: Mutex<Pending>,
    /// Dispatch parameters, one `PARAM_SLOT` each, written just before each submit.
    arena: wgpu::Buffer,
}

/// A compiled variant: the module, the entry point and the bits of its boolean overrides.
type PipelineKey = (Shader, &'static str, u32);

struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    params: Vec<u8>,
}

impl Context {
    /// Opens the adapter wgpu ranks first (a discrete GPU before an integrated one before a
    /// software rasterizer), asking for every limit it has.
    pub fn open() -> Result<Context> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::PRIMARY,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        }))
        .map_err(|e| {
            Error::Device(format!(
                "no GPU adapter found ({e}). Retort needs a Vulkan, Metal or DX12 driver; on Linux without a GPU, \
                 Mesa's software Vulkan (lavapipe) works: apt-get install mesa-vulkan-drivers libvulkan1"
            ))
        })?;
        let info = adapter.get_info();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        let features = if timestamps { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() };
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("retort"),
            required_features: features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| Error::Device(format!("{}: cannot open the device: {e}", info.name)))?;
        let arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("dispatch parameters"),
            size: PARAM_SLOT * PARAM_SLOTS,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Context {
            adapter: AdapterSummary {
                name: info.name,
                backend: format!("{:?}", info.backend),
                device_type: format!("{:?}", info.device_type),
                software: info.device_type == wgpu::DeviceType::Cpu,
                timestamps,
            },
            device,
            queue,
            limits,
            modules: Mutex::default(),
            pipelines: Mutex::default(),
            pool: Mutex::default(),
            pending: Mutex::new(Pending { encoder: None, params: Vec::new() }),
            arena,
        })
    }

    /// Whether the adapter is a CPU rasterizer (lavapipe, WARP): correct but slower than the CPU backend.
    pub fn is_software(&self) -> bool {
        self.adapter.software
    }

    /// The longest f32 buffer a kernel can bind.
    pub fn max_elems(&self) -> usize {
        (self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size) / 4) as usize
    }

    /// A buffer of at least `len` f32 (or u32) values from the pool; its contents are undefined.
    pub fn take(&self, len: usize) -> wgpu::Buffer {
        assert!(
            len <= self.max_elems(),
            "a GPU buffer of {len} values exceeds this adapter's binding limit of {} values",
            self.max_elems()
        );
        let bytes = (len.max(1) * 4) as u64;
        if let Some(buf) = lock(&self.pool).get_mut(&bytes).and_then(Vec::pop) {
            return buf;
        }
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    pub fn recycle(&self, buf: wgpu::Buffer) {
        lock(&self.pool).entry(buf.size()).or_default().push(buf);
    }

    /// Writes `data` into `buf` in queue order with everything recorded so far.
    pub fn write(&self, buf: &wgpu::Buffer, data: &[u8]) {
        // queue.write_buffer lands before the commands of the next submit: submit what is
        // recorded first, so commands that read the buffer's old contents see them.
        self.flush();
        if !data.is_empty() {
            self.queue.write_buffer(buf, 0, data);
        }
    }

    pub fn clear(&self, buf: &wgpu::Buffer) {
        self.record(|enc| enc.clear_buffer(buf, 0, None));
    }

    pub fn copy(&self, src: &wgpu::Buffer, dst: &wgpu::Buffer, bytes: u64) {
        self.record(|enc| enc.copy_buffer_to_buffer(src, 0, dst, 0, bytes));
    }

    /// Reads `bytes` of `buf` back: submits everything recorded and waits for it.
    pub fn read(&self, buf: &wgpu::Buffer, bytes: u64) -> Vec<u8> {
        if bytes == 0 {
            return Vec::new();
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.copy(buf, &staging, bytes);
        self.flush();
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.device.poll(wgpu::PollType::wait_indefinitely()).expect("GPU: waiting for a readback failed");
        rx.recv().expect("GPU: the readback callback was dropped").expect("GPU: mapping a readback buffer failed");
        let out = staging.get_mapped_range(..).expect("GPU: a mapped readback range").to_vec();
        staging.unmap();
        out
    }

    /// Records one dispatch of `kernel` (variant bits `variant`) with its parameters in binding 0
    /// and `buffers` at their bindings, over `groups` workgroups.
    pub fn dispatch<P: Params>(&self, kernel: Kernel, variant: u32, params: &P, buffers: &[(u32, &wgpu::Buffer)], groups: [u32; 3]) {
        debug_assert!(P::SHADERS.contains(&kernel.shader), "{}: parameters of another shader", kernel.entry);
        if groups.contains(&0) {
            return;
        }
        let (pipeline, layout) = self.pipeline(kernel, variant);
        let mut pending = lock(&self.pending);
        if pending.params.len() as u64 + PARAM_SLOT > PARAM_SLOT * PARAM_SLOTS {
            self.submit(&mut pending);
        }
        let offset = pending.params.len() as u64;
        let mut slot = [0u8; PARAM_SLOT as usize];
        let bytes = bytemuck::bytes_of(params);
        slot[..bytes.len()].copy_from_slice(bytes);
        pending.params.extend_from_slice(&slot);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.arena,
                offset,
                size: wgpu::BufferSize::new(PARAM_SLOT),
            }),
        }];
        entries.extend(buffers.iter().map(|&(binding, buf)| wgpu::BindGroupEntry { binding, resource: buf.as_entire_binding() }));
        let bind_group =
            self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(kernel.entry), layout: &layout, entries: &entries });
        let encoder = pending.encoder.get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(kernel.entry), timestamp_writes: None });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }

    /// Workgroups for `count` independent items laid out on a 2-D grid within the per-dimension
    /// limit; kernels index them as `wid.x + wid.y * num_workgroups.x`.
    pub fn grid(&self, count: usize) -> [u32; 3] {
        let max = self.limits.max_compute_workgroups_per_dimension as usize;
        let x = count.clamp(1, max);
        let y = count.div_ceil(x);
        assert!(y <= max, "GPU: {count} workgroups exceed the adapter's grid");
        [if count == 0 { 0 } else { x as u32 }, y as u32, 1]
    }

    /// Records a non-dispatch command (a copy, a clear) in order with the dispatches.
    pub fn record(&self, f: impl FnOnce(&mut wgpu::CommandEncoder)) {
        let mut pending = lock(&self.pending);
        let encoder = pending.encoder.get_or_insert_with(|| self.device.create_command_encoder(&Default::default()));
        f(encoder);
    }

    /// Submits what is recorded, without waiting.
    pub fn flush(&self) {
        let mut pending = lock(&self.pending);
        self.submit(&mut pending);
    }

    /// Submits what is recorded and waits until the device has run it.
    pub fn sync(&self) {
        self.flush();
        self.device.poll(wgpu::PollType::wait_indefinitely()).expect("GPU: waiting for the device failed");
    }

    /// Seconds the device spends on the work `f` records, from timestamp queries written before
    /// and after it where the adapter has them, else from the wall clock around a device sync.
    pub fn time(&self, f: impl FnOnce()) -> f64 {
        self.sync();
        if !self.adapter.timestamps {
            let start = std::time::Instant::now();
            f();
            self.sync();
            return start.elapsed().as_secs_f64();
        }
        let queries =
            self.device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("timer"), ty: wgpu::QueryType::Timestamp, count: 2 });
        let resolved = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timer"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        // Empty passes carry the timestamps: only TIMESTAMP_QUERY is needed, not writes inside encoders.
        let mark = |index: u32| {
            self.record(|enc| {
                let writes = wgpu::ComputePassTimestampWrites {
                    query_set: &queries,
                    beginning_of_pass_write_index: Some(index),
                    end_of_pass_write_index: None,
                };
                drop(enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("timer"), timestamp_writes: Some(writes) }));
            })
        };
        mark(0);
        f();
        mark(1);
        self.record(|enc| enc.resolve_query_set(&queries, 0..2, &resolved, 0));
        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&self.read(&resolved, 16));
        ticks[1].saturating_sub(ticks[0]) as f64 * self.queue.get_timestamp_period() as f64 * 1e-9
    }

    fn submit(&self, pending: &mut Pending) {
        let Some(encoder) = pending.encoder.take() else { return };
        if !pending.params.is_empty() {
            // Lands before this submit's commands and after every earlier submit's.
            self.queue.write_buffer(&self.arena, 0, &pending.params);
            pending.params.clear();
        }
        self.queue.submit([encoder.finish()]);
    }

    fn pipeline(&self, kernel: Kernel, variant: u32) -> (wgpu::ComputePipeline, wgpu::BindGroupLayout) {
        let key = (kernel.shader, kernel.entry, variant);
        if let Some(found) = lock(&self.pipelines).get(&key) {
            return found.clone();
        }
        let module = lock(&self.modules)
            .entry(kernel.shader)
            .or_insert_with(|| {
                self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(kernel.shader.file()),
                    source: wgpu::ShaderSource::Wgsl(kernel.shader.source().into()),
                })
            })
            .clone();
        let constants: Vec<(&str, f64)> =
            kernel.overrides.iter().enumerate().map(|(i, &name)| (name, ((variant >> i) & 1) as f64)).collect();
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.entry),
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &constants, ..Default::default() },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        lock(&self.pipelines).insert(key, (pipeline.clone(), layout.clone()));
        (pipeline, layout)
    }
}

/// A poisoned lock means a panic mid-op on another thread; the state is still a valid queue.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A device buffer of `len` f32 (or u32 label) values, returned to the pool when dropped.
pub struct GpuBuf {
    raw: Option<wgpu::Buffer>,
    len: usize,
    ctx: Arc<Context>,
}

impl GpuBuf {
    pub(crate) fn new(ctx: &Arc<Context>, len: usize) -> Self {
        GpuBuf { raw: Some(ctx.take(len)), len, ctx: ctx.clone() }
    }

    pub(crate) fn raw(&self) -> &wgpu::Buffer {
        self.raw.as_ref().expect("a live GPU buffer")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Clone for GpuBuf {
    /// A device-side copy, recorded in order with the ops.
    fn clone(&self) -> Self {
        let out = GpuBuf::new(&self.ctx, self.len);
        if self.len > 0 {
            self.ctx.copy(self.raw(), out.raw(), self.len as u64 * 4);
        }
        out
    }
}

impl Drop for GpuBuf {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            self.ctx.recycle(raw);
        }
    }
}
