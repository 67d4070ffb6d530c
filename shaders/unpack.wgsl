// Widening helpers for packed storage (prepended at load time).

// Sign-extends the four int8 lanes of `w` (little-endian) to f32.
fn unpack_i8x4(w: u32) -> vec4<f32> {
    let shifted = bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u));
    return vec4<f32>(shifted >> vec4<u32>(24u));
}
