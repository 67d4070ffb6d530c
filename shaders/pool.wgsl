// History pooling for the user tower: one workgroup per history (workgroup_id.x) gathers up to
// 256 item rows from the embedding table and reduces them to one vector — weighted mean, or
// attention a_i ∝ w_i·exp(scale·q·x_i) (DIN-style, weight as prior). Needs unpack.wgsl
// prepended (f16_native.wgsl for f16 tables with `shader-f16`). Table rows are `Word`s (DTYPE 0 f32, 1 f16, 2 int8 with `row_scale`).
// Bindings: shaders/README.md.

override DTYPE: u32 = 0u;

const EMPTY_SLOT: u32 = 0xffffffffu;
const POOL_WORKGROUP: u32 = 64u;

struct PoolParams {
    slots: u32,        // history slots (<= 256)
    dim: u32,          // embedding dimension
    row_vec4s: u32,    // vec4<u32> per table row
    query_vec4s: u32,  // vec4<f32> per (padded) query
    attention: u32,    // 0 mean, 1 attention
    scale: f32,        // attention: multiplies q·x
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: PoolParams;
@group(0) @binding(1) var<storage, read> table: array<Word>;
@group(0) @binding(2) var<storage, read> row_scale: array<f32>;
@group(0) @binding(3) var<storage, read> ids: array<u32>;
@group(0) @binding(4) var<storage, read> weights: array<f32>;
@group(0) @binding(5) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> pooled: array<f32>;

var<workgroup> coef: array<f32, 256>;

// Element j of table row `row`, dequantized (row_scale is 1 for f32 and f16 tables).
fn element(row: u32, j: u32) -> f32 {
    let per_vec4 = 4u * word_parts();
    let lane = j % per_vec4;
    return widen(table[row * params.row_vec4s + j / per_vec4], lane / 4u)[lane % 4u] * row_scale[row];
}

// q · row, dequantized, with vec4 loads (the query is padded to the row's value count).
fn dot_query(row: u32, q0: u32) -> f32 {
    let base = row * params.row_vec4s;
    var acc = vec4<f32>(0.0);
    let parts = word_parts();
    for (var c = 0u; c < params.row_vec4s; c = c + 1u) {
        let w = table[base + c];
        for (var p = 0u; p < parts; p = p + 1u) {
            acc = fma(widen(w, p), queries[q0 + c * parts + p], acc);
        }
    }
    return ((acc.x + acc.y) + (acc.z + acc.w)) * row_scale[row];
}

@compute @workgroup_size(64)
fn pool_histories(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let h = wid.x;
    let first = h * params.slots;
    // 1. One logit (attention) or weight (mean) per slot; invalid slots get weight 0.
    for (var i = lid; i < params.slots; i = i + POOL_WORKGROUP) {
        let id = ids[first + i];
        var value = 0.0;
        if (id != EMPTY_SLOT && weights[first + i] > 0.0) {
            value = 1.0;
            if (params.attention == 1u) {
                value = params.scale * dot_query(id, h * params.query_vec4s);
            }
        }
        coef[i] = value;
    }
    workgroupBarrier();
    // 2. Normalize (serially: at most 256 slots, once per history).
    if (lid == 0u) {
        var top = bitcast<f32>(0xff7fffffu); // -f32::MAX (a literal would round past it in Tint)
        for (var i = 0u; i < params.slots; i = i + 1u) {
            let id = ids[first + i];
            if (id != EMPTY_SLOT && weights[first + i] > 0.0) {
                top = max(top, coef[i]);
            }
        }
        var total = 0.0;
        for (var i = 0u; i < params.slots; i = i + 1u) {
            let id = ids[first + i];
            var c = 0.0;
            if (id != EMPTY_SLOT && weights[first + i] > 0.0) {
                c = weights[first + i];
                if (params.attention == 1u) {
                    c = c * exp(coef[i] - top);
                }
            }
            coef[i] = c;
            total = total + c;
        }
        for (var i = 0u; i < params.slots; i = i + 1u) {
            coef[i] = select(0.0, coef[i] / total, total > 0.0);
        }
    }
    workgroupBarrier();
    // 3. Weighted sum, one output dimension per invocation.
    for (var j = lid; j < params.dim; j = j + POOL_WORKGROUP) {
        var acc = 0.0;
        for (var i = 0u; i < params.slots; i = i + 1u) {
            let c = coef[i];
            if (c > 0.0) {
                acc = fma(c, element(ids[first + i], j), acc);
            }
        }
        pooled[h * params.dim + j] = acc;
    }
}
