// Widening helpers for packed storage (prepended at load time). The including shader declares
// `override DTYPE: u32` (0 f32, 1 f16, 2 int8); WGSL resolves module-scope names in any order.
// f16 pairs are unpacked with `unpack2x16float` (core WGSL): no `shader-f16` needed. On devices
// with `shader-f16`, f16 modules get f16_native.wgsl instead, which declares the same `Word`,
// `word_parts` and `widen` over natively typed f16 storage.

// One stored word-vector: 16 bytes of f32, f16 or int8 values.
alias Word = vec4<u32>;

// Sign-extends the four int8 lanes of `w` (little-endian) to f32.
fn unpack_i8x4(w: u32) -> vec4<f32> {
    let shifted = bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u));
    return vec4<f32>(shifted >> vec4<u32>(24u));
}

// vec4<f32> groups one stored vec4<u32> word-vector holds: 1 (f32), 2 (f16), 4 (int8).
fn word_parts() -> u32 {
    return select(select(1u, 2u, DTYPE == 1u), 4u, DTYPE == 2u);
}

// The `part`-th group of four values of word-vector `w`, widened to f32.
fn widen(w: Word, part: u32) -> vec4<f32> {
    if (DTYPE == 0u) {
        return bitcast<vec4<f32>>(w);
    } else if (DTYPE == 1u) {
        let pair = select(w.zw, w.xy, part == 0u);
        return vec4<f32>(unpack2x16float(pair.x), unpack2x16float(pair.y));
    }
    return unpack_i8x4(w[part]);
}
