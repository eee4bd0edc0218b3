// Pooling of the final hidden states h [B, T, d] for the classifier head, and its backward.
//   cls:  pooled[b] = h[b,0]
//   mean: pooled[b] = mean over t < len_b of h[b,t], len_b = clamp(lengths[b], 0, T);
//         an example with no valid position pools to zero.
// Backward writes dh (or adds to it when accumulate = 1; untouched positions are then unchanged).
// One invocation per output element; a 2-D grid covers more than 65535 workgroups.

const WG: u32 = 256u;

struct Params {
  n: u32,          // outputs: B * d (forward) or B * T * d (backward)
  seq_len: u32,
  d: u32,
  accumulate: u32, // backward only
}

@group(0) @binding(0) var<uniform> p: Params;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ---- forward ------------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read> hidden: array<f32>;
@group(0) @binding(2) var<storage, read_write> pooled: array<f32>;

@compute @workgroup_size(WG)
fn pool_cls(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  pooled[i] = hidden[(i / p.d) * p.seq_len * p.d + i % p.d];
}

@group(0) @binding(2) var<storage, read> lengths: array<i32>;
@group(0) @binding(3) var<storage, read_write> pooled_mean: array<f32>;

fn valid_length(b: u32) -> u32 {
  return u32(clamp(lengths[b], 0, i32(p.seq_len)));
}

@compute @workgroup_size(WG)
fn pool_mean(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let b = i / p.d;
  let len = valid_length(b);
  var acc = 0.0;
  for (var t = 0u; t < len; t++) {
    acc += hidden[(b * p.seq_len + t) * p.d + i % p.d];
  }
  pooled_mean[i] = select(0.0, acc / f32(len), len > 0u);
}

// ---- backward -----------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read> dpooled: array<f32>;
@group(0) @binding(2) var<storage, read_write> dhidden: array<f32>;
@group(0) @binding(3) var<storage, read_write> dhidden_mean: array<f32>;

@compute @workgroup_size(WG)
fn unpool_cls(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.d;
  let t = row % p.seq_len;
  let g = select(0.0, dpooled[(row / p.seq_len) * p.d + i % p.d], t == 0u);
  // Overwrite mode must not read dhidden: it may hold NaN from an earlier use.
  if (p.accumulate != 0u) {
    if (t == 0u) { dhidden[i] = dhidden[i] + g; }
  } else {
    dhidden[i] = g;
  }
}

@compute @workgroup_size(WG)
fn unpool_mean(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.d;
  let b = row / p.seq_len;
  let len = valid_length(b);
  let inside = row % p.seq_len < len;
  var g = 0.0;
  if (inside) { g = dpooled[b * p.d + i % p.d] / f32(len); }
  if (p.accumulate != 0u) {
    if (inside) { dhidden_mean[i] = dhidden_mean[i] + g; }
  } else {
    dhidden_mean[i] = g;
  }
}
