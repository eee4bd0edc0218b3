// Masked, scaled softmax over attention scores S [B, H, T, T] (query rows, key columns),
// in place, one workgroup per row: a strided loop over the row, then fixed-order trees in
// workgroup memory, so results are reproducible bit for bit.
//   forward:  P[i, j] = exp(z_j − max z) / Σ exp(z − max z),  z = scale·S[i, j], over the keys
//             j < limit = min(T, lengths[b], causal ? i + 1 : T); masked keys get P = 0, and a
//             row with no key (lengths[b] = 0) is all zeros rather than NaN.
//   backward: dS = scale·P ⊙ (dP − Σ_j P_j·dP_j). Masked entries have P = 0, so they get 0.
// Rows past 65535 workgroups fold into y: row = workgroup_id.x + workgroup_id.y·num_workgroups.x.

// 64 threads per row: T = 1024 gives 16 keys each, and the tree needs only 6 barrier steps.
const WG: u32 = 64u;

struct Params {
  batch: u32,
  heads: u32,
  seq: u32,
  scale: f32,
  causal: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> scratch: array<f32, WG>;

// Reduces v over the workgroup in a fixed tree order (sum, or max when `is_max`); every
// invocation gets the result.
fn workgroup_reduce(v: f32, lid: u32, is_max: bool) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) {
      let other = scratch[lid + stride];
      scratch[lid] = select(scratch[lid] + other, max(scratch[lid], other), is_max);
    }
    workgroupBarrier();
  }
  let total = scratch[0];
  // Nobody may overwrite scratch[0] with the next reduction before all have read it.
  workgroupBarrier();
  return total;
}

fn row_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

@group(0) @binding(1) var<storage, read_write> fwd_scores: array<f32>;
@group(0) @binding(2) var<storage, read> fwd_lengths: array<i32>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  let t = p.seq;
  // Uniform control flow: every invocation of the workgroup takes the same branch.
  if (row >= p.batch * p.heads * t) { return; }
  let query = row % t;
  let b = row / (p.heads * t);
  var limit = u32(clamp(fwd_lengths[b], 0, i32(t)));
  if (p.causal != 0u) { limit = min(limit, query + 1u); }
  let base = row * t;
  var m = -3.4028234663852886e38;
  for (var j = lid; j < limit; j += WG) { m = max(m, p.scale * fwd_scores[base + j]); }
  m = workgroup_reduce(m, lid, true);
  var sum = 0.0;
  for (var j = lid; j < limit; j += WG) { sum += exp(p.scale * fwd_scores[base + j] - m); }
  sum = workgroup_reduce(sum, lid, false);
  // limit == 0 leaves sum == 0 and no key to write: the whole row becomes 0.
  let inv = select(0.0, 1.0 / sum, sum > 0.0);
  for (var j = lid; j < t; j += WG) {
    var prob = 0.0;
    if (j < limit) { prob = exp(p.scale * fwd_scores[base + j] - m) * inv; }
    fwd_scores[base + j] = prob;
  }
}

@group(0) @binding(1) var<storage, read> bwd_probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> bwd_grad: array<f32>;

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  let t = p.seq;
  if (row >= p.batch * p.heads * t) { return; }
  let base = row * t;
  var dot = 0.0;
  for (var j = lid; j < t; j += WG) { dot += bwd_probs[base + j] * bwd_grad[base + j]; }
  dot = workgroup_reduce(dot, lid, false);
  for (var j = lid; j < t; j += WG) {
    bwd_grad[base + j] = p.scale * bwd_probs[base + j] * (bwd_grad[base + j] - dot);
  }
}
