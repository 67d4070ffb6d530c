// Pass 1 of GPU top-k: each workgroup scores TILE positions (rows of one chunk of the item
// index, or entries of a candidate list) against one query of the batch (workgroup_id.y) and
// writes the tile's best `k` in rank order. Needs topk_common.wgsl and unpack.wgsl (or, for f16
// rows on a device with `shader-f16`, f16_native.wgsl) prepended.
//
// Stored rows are 16-byte `Word`s: DTYPE 0 = f32 bits (4 values per word-vector), 1 = f16 pairs
// (8 values, `unpack2x16float`, or f16 storage), 2 = int8 quads (16 values, sign-extended). Rows are
// zero-padded to whole word-vectors, queries to the matching number of vec4<f32>. The score is
// `row_mult[row] · Σ q·stored` — row_mult folds the int8 scale and 1/‖x‖ for cosine (queries
// arrive normalized). Bindings: see shaders/README.md.

override DTYPE: u32 = 0u;

struct ScoreParams {
    chunk_rows: u32,       // rows stored in this chunk's buffer
    first_row: u32,        // global row of the chunk's first row
    row_vec4s: u32,        // vec4<u32> per stored row
    query_vec4s: u32,      // vec4<f32> per query
    positions: u32,        // positions to score: chunk_rows, or the candidate count
    k: u32,                // entries kept per list (power of two, <= TILE / 2)
    flags: u32,            // bit 0: honour the mask; bit 1: positions index the candidate list
    first_list: u32,       // list index of this chunk's first tile, within a query's lists
    lists_per_query: u32,  // stride between queries in out_lists, in lists
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: ScoreParams;
@group(0) @binding(1) var<storage, read> items: array<Word>;
@group(0) @binding(2) var<storage, read> row_mult: array<f32>;
@group(0) @binding(3) var<storage, read> queries: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> mask: array<u32>;
@group(0) @binding(5) var<storage, read> candidates: array<u32>;
@group(0) @binding(6) var<storage, read_write> out_lists: array<vec2<u32>>;

fn dot_row(local_row: u32, q0: u32) -> f32 {
    let base = local_row * params.row_vec4s;
    var acc = vec4<f32>(0.0);
    let parts = word_parts();
    for (var c = 0u; c < params.row_vec4s; c = c + 1u) {
        let w = items[base + c];
        for (var p = 0u; p < parts; p = p + 1u) {
            acc = fma(widen(w, p), queries[q0 + c * parts + p], acc);
        }
    }
    return (acc.x + acc.y) + (acc.z + acc.w);
}

@compute @workgroup_size(256)
fn score_tiles(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let query = wid.y;
    let q0 = query * params.query_vec4s;
    for (var slot = lid; slot < TILE; slot = slot + WORKGROUP) {
        let pos = wid.x * TILE + slot;
        var key = 0u;
        var id = PAD_ID;
        if (pos < params.positions) {
            var row = params.first_row + pos;
            if ((params.flags & 2u) != 0u) {
                row = candidates[pos];
            }
            let local_row = row - params.first_row; // wraps for rows below the chunk: rejected next
            let in_chunk = row >= params.first_row && local_row < params.chunk_rows;
            let masked = (params.flags & 1u) != 0u && (mask[row / 32u] & (1u << (row % 32u))) != 0u;
            if (in_chunk && !masked) {
                key = score_key(dot_row(local_row, q0) * row_mult[row]);
                id = row;
            }
        }
        tile_keys[slot] = key;
        tile_ids[slot] = id;
    }
    bitonic_sort_tile(lid);
    let out = (query * params.lists_per_query + params.first_list + wid.x) * params.k;
    for (var j = lid; j < params.k; j = j + WORKGROUP) {
        out_lists[out + j] = vec2<u32>(tile_keys[j], tile_ids[j]);
    }
}
