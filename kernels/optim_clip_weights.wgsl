// Per-example clipping weights for the DP-SGD "second pass" (src/optim/per_example_clip.ts):
// from a row-major [B, n_cols] table of per-example squared norms (one column per parameter
// block), example b's squared norm is the sum of columns [first, end) of row b, added in
// column order (deterministic), and its weight is
//   w_b = min(1, C / ‖g_b‖)  (= 1 when ‖g_b‖ ≤ C, including ‖g_b‖ = 0).

const WG: u32 = 64u;

struct Params {
  batch: u32,
  n_cols: u32,
  first: u32,
  end: u32,
  max_norm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;

@compute @workgroup_size(WG)
fn clip_weights(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x;
  if (b >= p.batch) { return; }
  var sq = 0.0;
  for (var c = p.first; c < p.end; c++) { sq += table[b * p.n_cols + c]; }
  let norm = sqrt(sq);
  // Written as a comparison, not a division, so that a zero norm gives 1 and never inf.
  weights[b] = select(1.0, p.max_norm / norm, norm > p.max_norm);
}
