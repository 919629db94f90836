// Prepended to kd_loss.wgsl and dkd_loss.wgsl (after common.wgsl): the buffers both loss modules
// bind, one workgroup per row. Forward kernels write each row's loss to dst; backward kernels
// write the gradient on the student's logits, scaled by dloss[0] over the rows.

@group(0) @binding(1) var<storage, read> zs: array<f32>;      // student logits, rows x cols
@group(0) @binding(2) var<storage, read> zt: array<f32>;      // teacher logits, rows x cols
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read> dloss: array<f32>;   // backward: the upstream gradient
@group(0) @binding(5) var<storage, read_write> dst: array<f32>;
