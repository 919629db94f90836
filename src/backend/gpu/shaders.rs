//! The registry of WGSL shaders: every file in `shaders/`, embedded with `include_str!`. A test
//! validates each module with naga and fails on a file missing from this list.

/// One WGSL module of `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Matmul,
    Elementwise,
    Dropout,
    Reduce,
    Softmax,
    KdLoss,
    DkdLoss,
    Optim,
    Im2col,
    Pool,
}

impl Shader {
    pub const ALL: [Shader; 10] = [
        Shader::Matmul,
        Shader::Elementwise,
        Shader::Dropout,
        Shader::Reduce,
        Shader::Softmax,
        Shader::KdLoss,
        Shader::DkdLoss,
        Shader::Optim,
        Shader::Im2col,
        Shader::Pool,
    ];

    /// The file name in `shaders/`.
    pub fn file(self) -> &'static str {
        match self {
            Shader::Matmul => "matmul.wgsl",
            Shader::Elementwise => "elementwise.wgsl",
            Shader::Dropout => "dropout.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::Softmax => "softmax.wgsl",
            Shader::KdLoss => "kd_loss.wgsl",
            Shader::DkdLoss => "dkd_loss.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Im2col => "im2col.wgsl",
            Shader::Pool => "pool.wgsl",
        }
    }

    /// The module's source: `shaders/common.wgsl` (shared helpers; WGSL has no includes), the
    /// window geometry for the image kernels or the bindings of the loss kernels, then the file.
    pub fn source(self) -> &'static str {
        macro_rules! module {
            ($($file:literal),+) => {
                concat!(include_str!("../../../shaders/common.wgsl"), $(include_str!(concat!("../../../shaders/", $file))),+)
            };
        }
        match self {
            Shader::Matmul => module!("matmul.wgsl"),
            Shader::Elementwise => module!("elementwise.wgsl"),
            Shader::Dropout => module!("dropout.wgsl"),
            Shader::Reduce => module!("reduce.wgsl"),
            Shader::Softmax => module!("softmax.wgsl"),
            Shader::KdLoss => module!("loss.wgsl", "kd_loss.wgsl"),
            Shader::DkdLoss => module!("loss.wgsl", "dkd_loss.wgsl"),
            Shader::Optim => module!("optim.wgsl"),
            Shader::Im2col => module!("window.wgsl", "im2col.wgsl"),
            Shader::Pool => module!("window.wgsl", "pool.wgsl"),
        }
    }
}

/// The file prepended to every module, and those prepended to the image and the loss kernels.
pub const PRELUDES: [&str; 3] = ["common.wgsl", "window.wgsl", "loss.wgsl"];

/// A compute entry point, with the names of its boolean pipeline constants (`override`s): a
/// dispatch picks a variant, bit `i` giving the `i`-th constant.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub overrides: &'static [&'static str],
}

impl Kernel {
    pub const fn new(shader: Shader, entry: &'static str) -> Self {
        Kernel { shader, entry, overrides: &[] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and validates every registered shader, and finds every file of `shaders/` in the
    /// registry.
    #[test]
    fn every_shader_is_registered_and_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".wgsl"))
            .collect();
        on_disk.sort();
        let mut registered: Vec<String> = Shader::ALL.iter().map(|s| s.file().to_string()).chain(PRELUDES.map(String::from)).collect();
        registered.sort();
        assert_eq!(on_disk, registered, "shaders/ and the registry differ");
        for shader in Shader::ALL {
            let module = naga::front::wgsl::parse_str(shader.source())
                .unwrap_or_else(|e| panic!("{}: {}", shader.file(), e.emit_to_string(shader.source())));
            naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::default())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{}: {}", shader.file(), e.emit_to_string(shader.source())));
            assert!(!module.entry_points.is_empty(), "{} has no entry point", shader.file());
        }
    }
}
