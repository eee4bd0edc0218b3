// LayerNorm over the last dimension d of a row-major [rows, d] tensor:
//   y = (x − mean)·rstd·γ + β,  rstd = 1/√(var + eps),  var biased (divided by d).
// Forward and dx use one workgroup per row: a strided loop over the row, then a fixed-order
// tree in workgroup memory, so row statistics are reproducible bit for bit. Rows past 65535
// workgroups fold into y: row = workgroup_id.x + workgroup_id.y·num_workgroups.x.
// dγ = Σ_rows dy·n (n the normalised input) is reduced without atomics: `param_partials` sums
// chunks of rows per column, and the host adds the chunks with the column-sum op.

// 64 threads per row: d = 768 gives 12 elements each, and the tree needs only 6 barrier steps.
const WG: u32 = 64u;

struct Params {
  rows: u32,
  d: u32,
  // forward only.
  eps: f32,
  // backward_dx only: 1 adds into dx (a residual stream's gradient), 0 overwrites it.
  accumulate: u32,
  // param_partials only: rows summed per chunk.
  rows_per_chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> scratch: array<vec2<f32>, WG>;

// Sums v over the workgroup in a fixed tree order; every invocation gets the total.
fn workgroup_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
  scratch[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
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

@group(0) @binding(1) var<storage, read> fwd_x: array<f32>;
@group(0) @binding(2) var<storage, read> fwd_gamma: array<f32>;
@group(0) @binding(3) var<storage, read> fwd_beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> fwd_y: array<f32>;
@group(0) @binding(5) var<storage, read_write> fwd_mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> fwd_rstd: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  // Uniform control flow: every invocation of the workgroup takes the same branch.
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let inv_d = 1.0 / f32(p.d);
  var sum = 0.0;
  for (var i = lid; i < p.d; i += WG) { sum += fwd_x[base + i]; }
  let mean = workgroup_sum2(vec2(sum, 0.0), lid).x * inv_d;
  // Two passes (mean, then squared deviations) avoid the cancellation of E[x²] − E[x]².
  var sq = 0.0;
  for (var i = lid; i < p.d; i += WG) {
    let c = fwd_x[base + i] - mean;
    sq += c * c;
  }
  let rstd = inverseSqrt(workgroup_sum2(vec2(sq, 0.0), lid).x * inv_d + p.eps);
  for (var i = lid; i < p.d; i += WG) {
    fwd_y[base + i] = (fwd_x[base + i] - mean) * rstd * fwd_gamma[i] + fwd_beta[i];
  }
  if (lid == 0u) {
    fwd_mean[row] = mean;
    fwd_rstd[row] = rstd;
  }
}

@group(0) @binding(1) var<storage, read> bwd_dy: array<f32>;
@group(0) @binding(2) var<storage, read> bwd_x: array<f32>;
@group(0) @binding(3) var<storage, read> bwd_mean: array<f32>;
@group(0) @binding(4) var<storage, read> bwd_rstd: array<f32>;
@group(0) @binding(5) var<storage, read> bwd_gamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> bwd_dx: array<f32>;

// dx = rstd·(g − mean(g) − n·mean(g·n)),  g = dy·γ,  n = (x − mean)·rstd.
@compute @workgroup_size(WG)
fn backward_dx(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let mean = bwd_mean[row];
  let rstd = bwd_rstd[row];
  var acc = vec2(0.0, 0.0);
  for (var i = lid; i < p.d; i += WG) {
    let g = bwd_dy[base + i] * bwd_gamma[i];
    acc += vec2(g, g * (bwd_x[base + i] - mean) * rstd);
  }
  let means = workgroup_sum2(acc, lid) / f32(p.d);
  for (var i = lid; i < p.d; i += WG) {
    let n = (bwd_x[base + i] - mean) * rstd;
    var dx = rstd * (bwd_dy[base + i] * bwd_gamma[i] - means.x - n * means.y);
    if (p.accumulate != 0u) { dx += bwd_dx[base + i]; }
    bwd_dx[base + i] = dx;
  }
}

@group(0) @binding(1) var<storage, read> par_dy: array<f32>;
@group(0) @binding(2) var<storage, read> par_x: array<f32>;
@group(0) @binding(3) var<storage, read> par_mean: array<f32>;
@group(0) @binding(4) var<storage, read> par_rstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> par_partials: array<f32>;

// partials[k, c] = Σ over rows r of chunk k of dy[r, c]·n[r, c], in row order. One invocation
// per (column, chunk); neighbouring invocations read neighbouring columns (coalesced).
@compute @workgroup_size(WG)
fn param_partials(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let k = gid.y;
  if (c >= p.d) { return; }
  let start = k * p.rows_per_chunk;
  let end = min(p.rows, start + p.rows_per_chunk);
  var acc = 0.0;
  for (var r = start; r < end; r++) {
    let i = r * p.d + c;
    acc += par_dy[i] * (par_x[i] - par_mean[r]) * par_rstd[r];
  }
  par_partials[k * p.d + c] = acc;
}
