// Deterministic segmented reductions (no float atomics): one workgroup per segment,
// a strided loop, then a fixed-order tree in workgroup memory.
// Segment s covers input[ranges[s].x .. ranges[s].y).
// OP: 0 = sum, 1 = sum of squares, 2 = max. Empty segments give 0 (sum) or -inf (max).

override OP: u32 = 0u;
const WG: u32 = 256u;

struct Params {
  n_segments: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read> ranges: array<vec2<u32>>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> scratch: array<f32, WG>;

fn identity() -> f32 {
  if (OP == 2u) { return -3.4028234663852886e38; }
  return 0.0;
}

fn combine(acc: f32, x: f32) -> f32 {
  if (OP == 2u) { return max(acc, x); }
  return acc + x;
}

fn lift(x: f32) -> f32 {
  if (OP == 1u) { return x * x; }
  return x;
}

@compute @workgroup_size(WG)
fn segmented(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let s = wid.x + wid.y * nwg.x;
  // Uniform control flow: every invocation of the workgroup takes the same branch.
  if (s >= p.n_segments) { return; }
  let start = ranges[s].x;
  let end = ranges[s].y;
  var acc = identity();
  for (var i = start + lid; i < end; i += WG) {
    acc = combine(acc, lift(input[i]));
  }
  scratch[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] = combine(scratch[lid], scratch[lid + stride]); }
    workgroupBarrier();
  }
  if (lid == 0u) { out[s] = scratch[0]; }
}
