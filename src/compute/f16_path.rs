//! How the GPU kernels read f16 data — a name the CPU-only build (no `gpu` feature) shares, so
//! the engine's reports compile the same way in both.

/// How the kernels read f16 data (item rows, dense weights, embedding tables), chosen once per
/// context. Both read the same bytes and compute in f32, so they give the same results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F16Path {
    /// The device has `shader-f16`: the kernels declare f16 storage and the hardware widens it
    /// (`shaders/f16_native.wgsl`).
    ShaderF16,
    /// f16 pairs are read as `u32` words and widened with `unpack2x16float`, core WGSL that every
    /// device runs (`shaders/unpack.wgsl`).
    Unpack,
}

impl F16Path {
    /// `"shader-f16"` or `"unpack"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ShaderF16 => "shader-f16",
            Self::Unpack => "unpack",
        }
    }
}

impl std::fmt::Display for F16Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
