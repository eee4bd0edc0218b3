// Small kernels for training metrics and evaluation (src/train/metrics.ts, src/train/eval.ts).
// Deterministic: fixed-order trees, no atomics.

struct Params {
  n: u32,    // rows (row_argmax) or elements (abs_values)
  cols: u32, // row_argmax only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const WG: u32 = 256u;
const NONE: u32 = 0xffffffffu;

var<workgroup> best_value: array<f32, WG>;
var<workgroup> best_index: array<u32, WG>;

// Whether (v, i) beats (bv, bi): a larger value, or an equal one at a smaller index, so that
// ties go to the first maximum whatever the reduction order.
fn beats(v: f32, i: u32, bv: f32, bi: u32) -> bool {
  if (i == NONE) { return false; }
  if (bi == NONE) { return true; }
  return v > bv || (v == bv && i < bi);
}

// out[r] = the first index of the maximum of row r of input [n, cols], as a float (exact
// below 2^24). One workgroup per row; the grid folds into 2-D past 65535 rows.
@compute @workgroup_size(WG)
fn row_argmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  // Uniform per workgroup, so the barriers below stay in uniform control flow.
  if (row >= p.n) { return; }
  let base = row * p.cols;
  var bv = 0.0;
  var bi = NONE;
  for (var j = lid; j < p.cols; j += WG) {
    let v = input[base + j];
    if (beats(v, j, bv, bi)) {
      bv = v;
      bi = j;
    }
  }
  best_value[lid] = bv;
  best_index[lid] = bi;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride && beats(best_value[lid + stride], best_index[lid + stride], best_value[lid], best_index[lid])) {
      best_value[lid] = best_value[lid + stride];
      best_index[lid] = best_index[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out[row] = f32(best_index[0]); }
}

// out[i] = |input[i]| for i < n; the flat index is x + y * (num_workgroups.x * 256).
@compute @workgroup_size(WG)
fn abs_values(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.n) { out[i] = abs(input[i]); }
}
