//! The operands of a GEMM as the threads and the tiles take them: a strided [`View`], a
//! [`Gather`]ed matrix read through offset tables, the left operand as either ([`Lhs`]), and how
//! the product is stored ([`Epilogue`], and [`Store`], its raw form).

/// A strided read-only matrix view: element `(i, j)` at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct View {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

impl View {
    /// SAFETY: the caller keeps `(i, j)` inside the matrix the view was made from.
    pub unsafe fn at(self, i: usize, j: usize) -> *const f32 {
        unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) }
    }
}

/// A read-only matrix gathered from a buffer: element `(i, p)` at `ptr + rows[i] + steps[p]`.
/// A convolution's column matrix without building it: `rows` are the output pixels' corners in
/// the padded image, `steps` the kernel taps' offsets from them (or, transposed for the weight
/// gradient, the other way round).
#[derive(Clone, Copy)]
pub(crate) struct Gather {
    pub ptr: *const f32,
    pub rows: *const u32,
    pub steps: *const u32,
}

/// What a GEMM adds to `A B` as it stores it: `C = relu?(A B + beta C + bias)`, `bias` one
/// value per column. A layer's bias and ReLU applied in the register tile, on values still in
/// registers, instead of a pass over the output after it.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    pub beta: f32,
    pub bias: Option<&'a [f32]>,
    pub relu: bool,
}

impl Epilogue<'_> {
    /// `C = A B + beta C`.
    pub fn beta(beta: f32) -> Self {
        Epilogue { beta, bias: None, relu: false }
    }
}

/// [`Epilogue`] as the kernels take it: the bias a raw pointer (null: none) to its first
/// column, so it crosses to rayon's threads and moves with a piece's columns.
#[derive(Clone, Copy)]
pub(crate) struct Store {
    pub beta: f32,
    pub bias: *const f32,
    pub relu: bool,
}

impl Store {
    pub fn beta(beta: f32) -> Self {
        Store { beta, bias: std::ptr::null(), relu: false }
    }
    /// `out` as a raw store: its bias, if any, from its first column.
    pub fn of(out: Epilogue) -> Self {
        Store { beta: out.beta, bias: out.bias.map_or(std::ptr::null(), <[f32]>::as_ptr), relu: out.relu }
    }
    /// The store of the columns from `j` on. SAFETY: `j` inside the bias, where there is one.
    pub unsafe fn at_col(self, j: usize) -> Self {
        Store { bias: if self.bias.is_null() { self.bias } else { unsafe { self.bias.add(j) } }, ..self }
    }
    /// Whether there is anything past `A B + beta C` to do.
    pub fn has_epilogue(self) -> bool {
        !self.bias.is_null() || self.relu
    }
    /// `relu?(v + bias[j])`, the epilogue of one value. SAFETY: as [`Store::at_col`].
    #[inline(always)]
    pub unsafe fn finish(self, v: f32, j: usize) -> f32 {
        let v = if self.bias.is_null() { v } else { v + unsafe { *self.bias.add(j) } };
        if self.relu { crate::elementwise::relu_of(v) } else { v }
    }
    /// The epilogue over an `m x n` block of `c` (row stride `rsc`) that holds `A B + beta C`:
    /// for the paths without it in their tile. SAFETY: `c` a writable `m x n` block.
    pub unsafe fn finish_block(self, m: usize, n: usize, c: *mut f32, rsc: usize) {
        if self.has_epilogue() {
            for i in 0..m {
                for j in 0..n {
                    unsafe {
                        let p = c.add(i * rsc + j);
                        *p = self.finish(*p, j);
                    }
                }
            }
        }
    }
}

/// The left operand of a GEMM: strided, or gathered through offset tables.
#[derive(Clone, Copy)]
pub(crate) enum Lhs {
    Strided(View),
    Gathered(Gather),
}

impl Lhs {
    /// The same matrix from `(i, p)` on.
    /// SAFETY: the caller keeps `(i, p)` inside the matrix the operand was made from.
    pub unsafe fn at(self, i: usize, p: usize) -> Lhs {
        unsafe {
            match self {
                Lhs::Strided(v) => Lhs::Strided(View { ptr: v.at(i, p), ..v }),
                Lhs::Gathered(g) => Lhs::Gathered(Gather { rows: g.rows.add(i), steps: g.steps.add(p), ..g }),
            }
        }
    }

    /// Element `(i, p)`. SAFETY: as [`Lhs::at`].
    pub unsafe fn get(self, i: usize, p: usize) -> f32 {
        unsafe {
            match self {
                Lhs::Strided(v) => *v.at(i, p),
                Lhs::Gathered(g) => *g.ptr.add(*g.rows.add(i) as usize + *g.steps.add(p) as usize),
            }
        }
    }
}

// SAFETY: the operands are only read (the bias too), and the data they point to outlives the
// scope that uses them.
unsafe impl Send for View {}
unsafe impl Sync for View {}
unsafe impl Send for Gather {}
unsafe impl Sync for Gather {}
unsafe impl Send for Store {}
unsafe impl Sync for Store {}
