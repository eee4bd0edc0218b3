// The GPU kernel (entry point `staged`), appended to per_example.wgsl.
//
// Each invocation owns a 4×4 block of dW (rows m0 .. m0+3, columns n0 .. n0+3), so its
// registers hold g and the running statistics in 4 × 16 floats; the workgroup's WG_M × WG_N
// invocations cover a (4·WG_M) × (4·WG_N) tile. For each BK rows of an example the workgroup
// copies x[rows, tile rows] and dy[rows, tile columns] into workgroup memory (zero past the
// example's last row), and each invocation reads one x quad and one dy quad per row from
// there. The invocations' norm partials of an example are added in workgroup memory with a
// fixed tree, giving one partial per (workgroup, example): n_tiles counts workgroups here.

// xs[k · WG_M + i] = x[r0 + k, row0 + 4i .. +3];  ds[k · WG_N + j] = dy[r0 + k, col0 + 4j .. +3]
var<workgroup> xs: array<vec4<f32>, BK * WG_M>;
var<workgroup> ds: array<vec4<f32>, BK * WG_N>;
var<workgroup> red: array<f32, WG_M * WG_N>;

// g[i] = the current example's x_bᵀ·dy_b at row m0 + i, columns n0 .. n0 + 3 (unscaled).
var<private> g: array<vec4<f32>, 4>;
// st[i] = the running statistics of row m0 + i.
var<private> st: array<QuadStats, 4>;

// Copies rows [r0, r0 + BK) of the workgroup's columns of x and dy, zero from row `end` on.
fn load_tiles(r0: u32, end: u32, row0: u32, col0: u32, li: u32) {
  for (var e = li; e < BK * WG_M; e += WG_M * WG_N) {
    let r = r0 + e / WG_M;
    xs[e] = select(vec4<f32>(0.0), x_quad(min(r, end - 1u), row0 + 4u * (e % WG_M)), r < end);
  }
  for (var e = li; e < BK * WG_N; e += WG_M * WG_N) {
    let r = r0 + e / WG_N;
    ds[e] = select(vec4<f32>(0.0), dy_quad(min(r, end - 1u), col0 + 4u * (e % WG_N)), r < end);
  }
}

// Adds the invocations' norm partials in a fixed tree; invocation 0 writes the total.
fn reduce_norm(li: u32, slot: u32) {
  let n = WG_M * WG_N;
  red[li] = (nrm.x + nrm.y) + (nrm.z + nrm.w);
  nrm = vec4<f32>(0.0);
  workgroupBarrier();
  // The smallest power of two ≥ n, halved: the first stride of the tree.
  var stride = select(1u << (32u - countLeadingZeros(n - 1u)), 1u, n == 1u) / 2u;
  for (; stride > 0u; stride /= 2u) {
    if (li < stride && li + stride < n) { red[li] += red[li + stride]; }
    workgroupBarrier();
  }
  if (li == 0u) { partials[slot] = red[0]; }
  // The next example's writes to `red` wait until invocation 0 has read it.
  workgroupBarrier();
}

@compute @workgroup_size(WG_N, WG_M)
fn staged(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32, @builtin(num_workgroups) nwg: vec3<u32>) {
  let row0 = wg.y * WG_M * 4u;
  let col0 = wg.x * WG_N * 4u;
  let tile = wg.y * nwg.x + wg.x;
  let rows = group_rows();
  for (var b = 0u; b < groups(); b++) {
    let end = (b + 1u) * rows;
    for (var r0 = b * rows; r0 < end; r0 += BK) {
      load_tiles(r0, end, row0, col0, li);
      workgroupBarrier();
      for (var k = 0u; k < BK; k++) {
        let a = xs[k * WG_M + lid.y];
        let d = ds[k * WG_N + lid.x];
        g[0] = fma(d, vec4<f32>(a.x), g[0]);
        g[1] = fma(d, vec4<f32>(a.y), g[1]);
        g[2] = fma(d, vec4<f32>(a.z), g[2]);
        g[3] = fma(d, vec4<f32>(a.w), g[3]);
      }
      workgroupBarrier();
    }
    st[0] = fold_quad(st[0], g[0]);
    st[1] = fold_quad(st[1], g[1]);
    st[2] = fold_quad(st[2], g[2]);
    st[3] = fold_quad(st[3], g[3]);
    g = array<vec4<f32>, 4>();
    if (WANT_NORMS) { reduce_norm(li, b * p.n_tiles + tile); }
  }
  let m0 = row0 + 4u * lid.y;
  let n0 = col0 + 4u * lid.x;
  store_quad(m0, n0, st[0]);
  store_quad(m0 + 1u, n0, st[1]);
  store_quad(m0 + 2u, n0, st[2]);
  store_quad(m0 + 3u, n0, st[3]);
}
