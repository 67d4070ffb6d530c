// MMoE mixing (Ma et al., KDD 2018, eq. 5): mixed[b][t][d] = Σ_e gates[t][b][e] · experts[e][b][d].
// One invocation per (output d, row b, task t). The experts' and gates' outputs are the dense
// kernel's padded activation rows, stacked on the device by buffer copies: expert e's batch
// starts at experts[e · batch · expert_stride], gate t's at gates[t · batch · gate_stride].
// Bindings: shaders/README.md.

struct MixParams {
    batch: u32,
    tasks: u32,
    experts: u32,
    dim: u32,            // outputs per expert
    expert_stride: u32,  // f32 per expert output row
    gate_stride: u32,    // f32 per gate output row
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> params: MixParams;
@group(0) @binding(1) var<storage, read> experts: array<f32>;
@group(0) @binding(2) var<storage, read> gates: array<f32>;
@group(0) @binding(3) var<storage, read_write> mixed: array<f32>;

@compute @workgroup_size(64)
fn mix_experts(@builtin(global_invocation_id) gid: vec3<u32>) {
    let d = gid.x;
    let b = gid.y;
    let t = gid.z;
    if (d >= params.dim || b >= params.batch || t >= params.tasks) {
        return;
    }
    let gate = (t * params.batch + b) * params.gate_stride;
    var acc = 0.0;
    for (var e = 0u; e < params.experts; e = e + 1u) {
        acc = fma(gates[gate + e], experts[(e * params.batch + b) * params.expert_stride + d], acc);
    }
    mixed[(b * params.tasks + t) * params.dim + d] = acc;
}
