// Passes 2..n of GPU top-k: for one query of the batch (workgroup_id.y), each workgroup merges
// TILE / k sorted lists of length k into one list of the best k, so every pass divides the
// number of lists by at least two. Needs topk_common.wgsl prepended. Bindings: shaders/README.md.

struct MergeParams {
    lists: u32,      // input lists per query
    k: u32,          // entries per list (power of two, <= TILE / 2)
    out_lists: u32,  // output lists per query
    pad0: u32,
}

@group(0) @binding(0) var<uniform> params: MergeParams;
@group(0) @binding(1) var<storage, read> in_lists: array<vec2<u32>>;
@group(0) @binding(2) var<storage, read_write> out_lists: array<vec2<u32>>;

@compute @workgroup_size(256)
fn merge_lists(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let query = wid.y;
    let lists_per_tile = TILE / params.k;
    let first_list = wid.x * lists_per_tile;
    for (var slot = lid; slot < TILE; slot = slot + WORKGROUP) {
        let list = first_list + slot / params.k;
        var entry = vec2<u32>(0u, PAD_ID);
        if (list < params.lists) {
            entry = in_lists[(query * params.lists + list) * params.k + slot % params.k];
        }
        tile_keys[slot] = entry.x;
        tile_ids[slot] = entry.y;
    }
    bitonic_sort_tile(lid);
    let out = (query * params.out_lists + wid.x) * params.k;
    for (var j = lid; j < params.k; j = j + WORKGROUP) {
        out_lists[out + j] = vec2<u32>(tile_keys[j], tile_ids[j]);
    }
}
