//! One `#[repr(C)]` parameter block per shader, mirrored field for field by the `Params` struct
//! of its WGSL (a test holds the two together through naga). A dispatch uploads its block as the
//! kernel's uniform; fields a kernel does not read stay zero.

use super::shaders::Shader;
use bytemuck::{Pod, Zeroable};

/// A kernel parameter block, and the shaders whose `Params` it mirrors.
pub(crate) trait Params: Pod {
    const SHADERS: &'static [Shader];
}

macro_rules! params {
    ($( $(#[$doc:meta])* $name:ident for [$($shader:ident),+] { $( $field:ident: $ty:ty ),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[repr(C)]
            #[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
            pub(crate) struct $name {
                $( pub $field: $ty ),*
            }
            impl Params for $name {
                const SHADERS: &'static [Shader] = &[$(Shader::$shader),+];
            }
        )*
        /// Every block: its shaders, its fields in order, its size in bytes.
        #[cfg(test)]
        pub(crate) const ALL: &[(&[Shader], &[&str], usize)] =
            &[$( (<$name as Params>::SHADERS, &[$(stringify!($field)),*], std::mem::size_of::<$name>()) ),*];
    };
}

params! {
    /// `c = op(a) op(b) + beta c`, `m x k` by `k x n`.
    MatmulParams for [Matmul] { m: u32, k: u32, n: u32, beta: f32 }
    /// `n` elements; `cols` the bias length and `relu` for add_bias; `scale` for scale, scale_by, axpy.
    ElementwiseParams for [Elementwise] { n: u32, cols: u32, scale: f32, relu: u32 }
    /// Inverted dropout of `n` values at rate `p` (`scale = 1 / (1 - p)`), mask key `seed`.
    DropoutParams for [Dropout] { n: u32, p: f32, scale: f32, seed_lo: u32, seed_hi: u32 }
    /// sum: `n` values times `scale`; col_sums: `rows x cols`, `beta`.
    ReduceParams for [Reduce] { n: u32, rows: u32, cols: u32, scale: f32, beta: f32 }
    /// Row-wise softmax of `rows x cols` at `1 / inv_t`; `log` = 1 for log-softmax.
    SoftmaxParams for [Softmax] { rows: u32, cols: u32, inv_t: f32, log: u32 }
    /// Hinton KD at temperature `t`, soft weight `alpha`.
    KdLossParams for [KdLoss] { rows: u32, cols: u32, t: f32, alpha: f32, scale: f32, outputs: u32 }
    /// Decoupled KD at temperature `t`, TCKD weight `alpha`, NCKD weight `beta`.
    DkdLossParams for [DkdLoss] { rows: u32, cols: u32, t: f32, alpha: f32, beta: f32 }
    /// sgd_momentum and adam over `n` weights; max_norm_columns over a `rows x cols` matrix.
    OptimParams for [Optim] {
        n: u32, rows: u32, cols: u32, lr: f32, momentum: f32, weight_decay: f32,
        beta1: f32, beta2: f32, eps: f32, c1: f32, c2: f32, max_norm: f32,
    }
    /// A window over NHWC images (`retort_kernels::window`); `total` values written by the dispatch.
    WindowParams for [Im2col, Pool] {
        total: u32, batch: u32, height: u32, width: u32, channels: u32,
        kernel: u32, stride: u32, padding: u32, out_height: u32, out_width: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shader's `Params`, as naga lays it out, has the Rust block's fields in the same order
    /// and the same size; every shader with a `Params` has a block.
    #[test]
    fn every_block_mirrors_its_shader() {
        let mut covered = Vec::new();
        for &(shaders, fields, size) in ALL {
            for &shader in shaders {
                let module = naga::front::wgsl::parse_str(shader.source()).unwrap();
                let (members, span) = module
                    .types
                    .iter()
                    .find_map(|(_, ty)| match (&ty.name, &ty.inner) {
                        (Some(n), naga::TypeInner::Struct { members, span }) if n == "Params" => Some((members, *span)),
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("{}: no struct Params", shader.file()));
                let names: Vec<&str> = members.iter().map(|m| m.name.as_deref().unwrap_or("")).collect();
                assert_eq!(names, fields, "{}: Params fields", shader.file());
                assert_eq!(span as usize, size, "{}: Params size", shader.file());
                covered.push(shader);
            }
        }
        for shader in Shader::ALL {
            assert!(covered.contains(&shader), "{}: no parameter block", shader.file());
        }
    }
}
