// Shared by score_topk.wgsl and merge_topk.wgsl (prepended at load time; WGSL has no #include).
//
// A tile of TILE (key, id) pairs lives in workgroup memory and is sorted with a bitonic network
// (Batcher 1968) into rank order: key descending, then id ascending. Keys are scores mapped to
// u32 so that unsigned order equals float order (see `score_key`); ids break exact ties toward
// the lower row, matching the CPU reference.

const TILE: u32 = 2048u;       // pairs per workgroup: 2 × 2048 × 4 B = 16 KiB, WebGPU's default limit
const WORKGROUP: u32 = 256u;   // WebGPU's default max invocations per workgroup
const PAD_ID: u32 = 0xffffffffu;

var<workgroup> tile_keys: array<u32, 2048>;
var<workgroup> tile_ids: array<u32, 2048>;

// Maps an f32 to a u32 whose unsigned order is the float order. -0.0 is folded into +0.0 so
// that equal scores compare equal and the id decides, as on the CPU. Padding uses key 0, below
// every finite score (the smallest, -f32::MAX, maps to 0x00800000).
fn score_key(score: f32) -> u32 {
    let bits = select(bitcast<u32>(score), 0u, score == 0.0);
    if ((bits & 0x80000000u) != 0u) {
        return ~bits;
    }
    return bits | 0x80000000u;
}

// True when (ka, ia) ranks strictly before (kb, ib).
fn ranks_before(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
    return ka > kb || (ka == kb && ia < ib);
}

// Sorts tile_keys/tile_ids in rank order. Every invocation of the workgroup must call it.
fn bitonic_sort_tile(lid: u32) {
    for (var size = 2u; size <= TILE; size = size << 1u) {
        for (var stride = size >> 1u; stride > 0u; stride = stride >> 1u) {
            workgroupBarrier();
            for (var t = lid; t < TILE / 2u; t = t + WORKGROUP) {
                // The t-th compare-exchange pair of this step: i has bit `stride` clear.
                let i = 2u * t - (t & (stride - 1u));
                let j = i + stride;
                let forward = (i & size) == 0u;
                let ka = tile_keys[i];
                let kb = tile_keys[j];
                let ia = tile_ids[i];
                let ib = tile_ids[j];
                if (ranks_before(ka, ia, kb, ib) != forward) {
                    tile_keys[i] = kb;
                    tile_keys[j] = ka;
                    tile_ids[i] = ib;
                    tile_ids[j] = ia;
                }
            }
        }
    }
    workgroupBarrier();
}
