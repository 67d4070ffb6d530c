// Pass 1 of GPU top-k: score a tile of TILE item rows against the query and keep the tile's best
// `params.k` in rank order. Needs topk_common.wgsl prepended.
//
// Bindings (group 0): see shaders/README.md.

@group(0) @binding(0) var<uniform> params: PassParams;
@group(0) @binding(1) var<storage, read> items: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> query: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out_lists: array<vec2<u32>>;

@compute @workgroup_size(256)
fn score_tiles(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let first_row = wid.x * TILE;
    for (var slot = lid; slot < TILE; slot = slot + WORKGROUP) {
        let row = first_row + slot;
        var key = 0u;
        var id = PAD_ID;
        if (row < params.rows) {
            let base = row * params.dim4;
            var acc = vec4<f32>(0.0);
            for (var c = 0u; c < params.dim4; c = c + 1u) {
                acc = fma(items[base + c], query[c], acc);
            }
            key = score_key((acc.x + acc.y) + (acc.z + acc.w));
            id = row;
        }
        tile_keys[slot] = key;
        tile_ids[slot] = id;
    }
    bitonic_sort_tile(lid);
    for (var j = lid; j < params.k; j = j + WORKGROUP) {
        out_lists[wid.x * params.k + j] = vec2<u32>(tile_keys[j], tile_ids[j]);
    }
}
