// Second pass of the per-example norms: partials[b · n_tiles + tile] holds each tile's part of
// Σ G_b ⊙ G_b / s² for one parameter block; workgroup b adds its n_tiles partials in a fixed
// order (strided loop, then a tree) and writes s² times the total into column `col` of the
// row-major [batch, n_cols] norm table. No float atomics: bitwise reproducible.

struct Params {
  n_tiles: u32, batch: u32, n_cols: u32, col: u32,
  sq_scale: f32,   // s²
}

const WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> table: array<f32>;

var<workgroup> scratch: array<f32, WG>;

@compute @workgroup_size(WG)
fn norms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
  let b = wid.x + wid.y * nwg.x;
  // Uniform control flow: every invocation of the workgroup takes the same branch.
  if (b >= p.batch) { return; }
  let start = b * p.n_tiles;
  var acc = 0.0;
  for (var i = lid; i < p.n_tiles; i += WG) {
    acc += partials[start + i];
  }
  scratch[lid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
    workgroupBarrier();
  }
  if (lid == 0u) { table[b * p.n_cols + p.col] = p.sq_scale * scratch[0]; }
}
