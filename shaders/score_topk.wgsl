// Pass 1 of GPU top-k: each workgroup streams through a span of `tiles_per_group` × TILE
// positions (rows of one chunk of the item index, or entries of a candidate list) for one query
// of the batch (workgroup_id.y) and writes the span's best `k` in rank order. Needs
// topk_common.wgsl and unpack.wgsl (or, for f16 rows on a device with `shader-f16`,
// f16_native.wgsl) prepended.
//
// Streaming top-k with a threshold: the tile arrays are a buffer holding at least the best `k`
// seen so far. Each round scores WORKGROUP positions (one per invocation); a position is
// appended (atomic slot) only when it ranks before the buffer's k-th entry, the threshold. When
// the next round might not fit, the buffer is sorted and cut to `k`, which also raises the
// threshold. Sorting — the bitonic network's 66 barrier steps — is thus paid per span plus once
// per ~TILE passing rows, not once per TILE rows, and once the threshold is good almost no row
// passes: the pass reads the stored rows at close to memory speed (the bound a scan has).
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
    tiles_per_group: u32,  // span of one workgroup, in TILEs of positions
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

// Next free slot of the tile buffer (appends), and its value as of the last round for the
// uniform "does the next round fit?" decision. Beyond the two 8 KiB tile arrays: the device is
// asked for 16 KiB + 32 (`WORKGROUP_STORAGE_BYTES`; Dawn rounds each variable to 16 bytes).
var<workgroup> fill: atomic<u32>;
var<workgroup> fill_seen: u32;

// The (key, id) of one position, or (0, PAD_ID) when it is out of range, outside this chunk or
// masked.
fn score_position(pos: u32, q0: u32) -> vec2<u32> {
    var row = params.first_row + pos;
    if ((params.flags & 2u) != 0u) {
        row = candidates[pos];
    }
    let local_row = row - params.first_row; // wraps for rows below the chunk: rejected next
    let in_chunk = row >= params.first_row && local_row < params.chunk_rows;
    let masked = (params.flags & 1u) != 0u && (mask[row / 32u] & (1u << (row % 32u))) != 0u;
    if (in_chunk && !masked) {
        return vec2<u32>(score_key(dot_row(local_row, q0) * row_mult[row]), row);
    }
    return vec2<u32>(0u, PAD_ID);
}

// Pads the buffer from `count` on, sorts it in rank order and keeps the best k: entry k - 1 is
// then the threshold (a pad while fewer than k real entries are kept, which every row passes).
fn keep_best_k(lid: u32, count: u32) {
    for (var slot = count + lid; slot < TILE; slot = slot + WORKGROUP) {
        tile_keys[slot] = 0u;
        tile_ids[slot] = PAD_ID;
    }
    bitonic_sort_tile(lid);
    if (lid == 0u) {
        atomicStore(&fill, params.k);
    }
}

@compute @workgroup_size(256)
fn score_tiles(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let query = wid.y;
    let q0 = query * params.query_vec4s;
    let first = wid.x * params.tiles_per_group * TILE;
    let end = min(first + params.tiles_per_group * TILE, params.positions);
    if (lid == 0u) {
        atomicStore(&fill, 0u);
    }
    // Until the first cut the buffer holds fewer than k sorted entries: every row is appended.
    var cut = false;
    var count = 0u;
    for (var base = first; base < end; base = base + WORKGROUP) {
        // At most WORKGROUP appends per round: sort and cut first when they might not fit.
        if (count > TILE - WORKGROUP) {
            keep_best_k(lid, count);
            cut = true;
        }
        workgroupBarrier();
        let pos = base + lid;
        if (pos < end) {
            let entry = score_position(pos, q0);
            var keep = entry.y != PAD_ID;
            if (keep && cut) {
                // After a cut, appends land at slots >= k: the threshold slot is stable all round.
                keep = ranks_before(entry.x, entry.y, tile_keys[params.k - 1u], tile_ids[params.k - 1u]);
            }
            if (keep) {
                let at = atomicAdd(&fill, 1u);
                tile_keys[at] = entry.x;
                tile_ids[at] = entry.y;
            }
        }
        workgroupBarrier();
        if (lid == 0u) {
            fill_seen = atomicLoad(&fill);
        }
        count = workgroupUniformLoad(&fill_seen);
    }
    keep_best_k(lid, count);
    let out = (query * params.lists_per_query + params.first_list + wid.x) * params.k;
    for (var j = lid; j < params.k; j = j + WORKGROUP) {
        out_lists[out + j] = vec2<u32>(tile_keys[j], tile_ids[j]);
    }
}
