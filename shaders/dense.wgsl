// A dense layer for a batch: one invocation per (output neuron, batch row) computes
// y = act(mult[o] · Σ_j W[o][j] · x[j] + bias[o]). Needs unpack.wgsl prepended (f16_native.wgsl
// for f16 weights on a device with `shader-f16`).
//
// Weights are stored rows (one per output neuron) of 16-byte `Word`s — DTYPE 0 = f32, 1 = f16,
// 2 = int8, as in score_topk.wgsl; `mult` holds the int8 per-neuron scale (1 otherwise).
// Activations travel between layers in rows padded to a multiple of 16 floats; padding columns
// are written as zeros so the next layer's vec4 loads read zeros. Bindings: shaders/README.md.
//
// Softmax (activation 3) needs every output of a row, which one invocation does not see:
// `dense_forward` writes the logits z unchanged, and `softmax_rows` — dispatched right after it
// in the same compute pass, same bind group — normalizes each row in place on the device.

override DTYPE: u32 = 0u;

struct DenseParams {
    batch: u32,
    out_dim: u32,
    row_vec4s: u32,   // vec4<u32> per weight row
    in_stride: u32,   // vec4<f32> per input row
    out_stride: u32,  // f32 per output row (multiple of 16)
    activation: u32,  // 0 identity, 1 relu, 2 sigmoid, 3 softmax (by softmax_rows)
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: DenseParams;
@group(0) @binding(1) var<storage, read> weights: array<Word>;
@group(0) @binding(2) var<storage, read> mult: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> inputs: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> outputs: array<f32>;

@compute @workgroup_size(64)
fn dense_forward(@builtin(global_invocation_id) gid: vec3<u32>) {
    let o = gid.x;
    let b = gid.y;
    if (b >= params.batch || o >= params.out_stride) {
        return;
    }
    if (o >= params.out_dim) {
        outputs[b * params.out_stride + o] = 0.0;
        return;
    }
    let base = o * params.row_vec4s;
    let x0 = b * params.in_stride;
    var acc = vec4<f32>(0.0);
    let parts = word_parts();
    for (var c = 0u; c < params.row_vec4s; c = c + 1u) {
        let w = weights[base + c];
        for (var p = 0u; p < parts; p = p + 1u) {
            acc = fma(widen(w, p), inputs[x0 + c * parts + p], acc);
        }
    }
    var z = ((acc.x + acc.y) + (acc.z + acc.w)) * mult[o] + bias[o];
    if (params.activation == 1u) {
        z = max(z, 0.0);
    } else if (params.activation == 2u) {
        z = 1.0 / (1.0 + exp(-z));
    }
    outputs[b * params.out_stride + o] = z;
}

const SOFTMAX_WORKGROUP: u32 = 64u;
var<workgroup> partial: array<f32, 64>;

// Tree reduction of `partial` (max when `take_max`, else sum); every invocation returns the
// result. Called in uniform control flow only.
fn reduce_partial(lid: u32, take_max: bool) -> f32 {
    for (var stride = SOFTMAX_WORKGROUP / 2u; stride > 0u; stride = stride / 2u) {
        if (lid < stride) {
            let other = partial[lid + stride];
            partial[lid] = select(partial[lid] + other, max(partial[lid], other), take_max);
        }
        workgroupBarrier();
    }
    let result = partial[0];
    workgroupBarrier();
    return result;
}

// Row-wise stable softmax over the first out_dim outputs of row workgroup_id.y, in place:
// y_o = exp(z_o − max z) / Σ_j exp(z_j − max z). Padding columns stay zero.
@compute @workgroup_size(64)
fn softmax_rows(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let row = wid.y * params.out_stride;
    var top = bitcast<f32>(0xff7fffffu); // -f32::MAX (a literal would round past it in Tint)
    for (var o = lid; o < params.out_dim; o = o + SOFTMAX_WORKGROUP) {
        top = max(top, outputs[row + o]);
    }
    partial[lid] = top;
    workgroupBarrier();
    top = reduce_partial(lid, true);
    var total = 0.0;
    for (var o = lid; o < params.out_dim; o = o + SOFTMAX_WORKGROUP) {
        let e = exp(outputs[row + o] - top);
        outputs[row + o] = e;
        total = total + e;
    }
    partial[lid] = total;
    workgroupBarrier();
    let inv = 1.0 / reduce_partial(lid, false);
    for (var o = lid; o < params.out_dim; o = o + SOFTMAX_WORKGROUP) {
        outputs[row + o] = outputs[row + o] * inv;
    }
}
