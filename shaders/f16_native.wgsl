enable f16;

// Native f16 storage for devices with `shader-f16` (prepended instead of unpack.wgsl, and first:
// WGSL wants `enable` before any declaration). A module built with it serves f16 data only and
// reads no `DTYPE`. The bytes are those of the packed path — eight f16 per 16-byte word-vector,
// little-endian — declared as f16 in storage (16-bit storage access), so the driver loads and
// widens them; every product and sum stays in f32, as on the packed path, so both give the same
// bits.
//
// Not `bitcast<vec2<f16>>(u32)`: naga (wgpu 30) lowers `bitcast<T>` to a same-width cast of T's
// scalar kind, dropping T's width and vector size, so that expression validates but computes
// `vec2(bitcast<f32>(word))` (gfx-rs/wgpu#8896, #4403). tests/shaders.rs keeps it out.

// One stored word-vector: values 0..3 in `lo`, 4..7 in `hi` (size 16, align 8).
struct Word {
    lo: vec4<f16>,
    hi: vec4<f16>,
}

// vec4<f32> groups per word-vector.
fn word_parts() -> u32 {
    return 2u;
}

// The `part`-th group of four values of `w`, widened to f32 (exact).
fn widen(w: Word, part: u32) -> vec4<f32> {
    return vec4<f32>(select(w.hi, w.lo, part == 0u));
}
