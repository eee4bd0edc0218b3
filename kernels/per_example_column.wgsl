// Per-example statistics of column-sum gradients (biases, LayerNorm β and γ, direct slices).
//
// u (and v when HAS_V) are [R, n], row-major, R = batch · rows_per_example. Example b's
// gradient is G_b[c] = s · Σ_{r ∈ b} u[r, c] (· v[r, c]): a bias gradient, or LayerNorm γ's
// with u = dy and v = x̂. With rows_per_example = 1 it is s · u[b, c], a given slice per
// example (the "direct" case, e.g. position embeddings).
//
// One invocation owns one column: for each example it sums the example's rows in row order,
// then folds the sum into the running sum, sum of squares and sum of signs (scaled once at
// the store). Per-example norms: the workgroup adds its columns' squares with a fixed tree
// and writes partials[b · n_tiles + workgroup]; per_example_norms.wgsl reduces those.
// Neighbouring invocations read neighbouring columns, so row reads are coalesced.

struct Params {
  n: u32, rows_per_example: u32, batch: u32, n_tiles: u32,
  mean_scale: f32,   // s / B
  sq_scale: f32,     // s²
  sign_scale: f32,   // sign(s)
  _pad: f32,
}

override WANT_MEAN: bool = true;
override WANT_SUMSQ: bool = false;
override WANT_SIGN: bool = false;
override WANT_NORMS: bool = false;
override HAS_V: bool = false;   // multiply each row by v elementwise before summing

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> sumsq: array<f32>;
@group(0) @binding(5) var<storage, read_write> sumsign: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;

var<workgroup> scratch: array<f32, WG>;

fn per_example() -> bool {
  return WANT_SUMSQ || WANT_SIGN || WANT_NORMS;
}

fn term(e: u32) -> f32 {
  if (HAS_V) { return u[e] * v[e]; }
  return u[e];
}

// Adds the workgroup's squares of one example in a fixed tree; lid 0 writes the partial.
fn norm_partial(q: f32, lid: u32, slot: u32) {
  scratch[lid] = q;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[slot] = scratch[0]; }
  // The next example's writes to scratch wait until lid 0 has read it.
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn column(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
  let tile = wid.x + wid.y * nwg.x;
  let c = tile * WG + lid;
  let valid = c < p.n;
  let col = min(c, p.n - 1u);
  // Groups of rows folded separately: the examples, or all rows at once for the mean alone.
  let groups = select(1u, p.batch, per_example());
  let rows = select(p.batch * p.rows_per_example, p.rows_per_example, per_example());
  var sum = 0.0;
  var sq = 0.0;
  var sgn = 0.0;
  for (var b = 0u; b < groups; b++) {
    var acc = 0.0;
    for (var r = b * rows; r < (b + 1u) * rows; r++) {
      acc += term(r * p.n + col);
    }
    acc = select(0.0, acc, valid);
    sum += acc;
    sq = fma(acc, acc, sq);
    sgn += sign(acc);
    if (WANT_NORMS) { norm_partial(acc * acc, lid, b * p.n_tiles + tile); }
  }
  if (valid) {
    if (WANT_MEAN) { mean[c] = p.mean_scale * sum; }
    if (WANT_SUMSQ) { sumsq[c] = p.sq_scale * sq; }
    if (WANT_SIGN) { sumsign[c] = p.sign_scale * sgn; }
  }
}
