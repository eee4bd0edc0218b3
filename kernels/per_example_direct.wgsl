// The CPU kernel (entry point `direct`), appended to per_example.wgsl.
//
// Each invocation owns a 32×16 block of dW and loads its x and dy quads straight from the
// storage buffers: on CPU adapters (lavapipe) every load is a per-lane scalar loop whatever
// memory it reads, so workgroup memory would only add copies and barriers, and a large block
// amortises those loads over more multiply-adds (32×16 runs about twice as fast as 16×8).
// Register arrays are indexed by constants only, written out: lavapipe keeps an array indexed
// in a loop in memory, which costs 3-7× here.

const TM: u32 = 32u;   // rows of dW per invocation (the code below is written for 32)
const TN: u32 = 16u;   // columns of dW per invocation (written for 16)

alias Row = array<vec4<f32>, 4>;      // 16 columns of one row of the block
alias XQuads = array<vec4<f32>, 8>;   // x[r, m0 .. m0+31]

alias StatsRow = array<QuadStats, 4>;

// g[i] = the current example's x_bᵀ·dy_b at row m0 + i, columns n0 .. n0 + 15 (unscaled).
var<private> g: array<Row, 32>;
// st[i] = the running statistics of row m0 + i.
var<private> st: array<StatsRow, 32>;

fn outer(r: Row, a: f32, d: Row) -> Row {
  let s = vec4<f32>(a);
  return Row(fma(d[0], s, r[0]), fma(d[1], s, r[1]), fma(d[2], s, r[2]), fma(d[3], s, r[3]));
}

// g += x[r, m0 .. m0+31]ᵀ · dy[r, n0 .. n0+15]: eight x quads and one Row of dy.
fn add_row(a: XQuads, d: Row) {
  g[0] = outer(g[0], a[0].x, d);
  g[1] = outer(g[1], a[0].y, d);
  g[2] = outer(g[2], a[0].z, d);
  g[3] = outer(g[3], a[0].w, d);
  g[4] = outer(g[4], a[1].x, d);
  g[5] = outer(g[5], a[1].y, d);
  g[6] = outer(g[6], a[1].z, d);
  g[7] = outer(g[7], a[1].w, d);
  g[8] = outer(g[8], a[2].x, d);
  g[9] = outer(g[9], a[2].y, d);
  g[10] = outer(g[10], a[2].z, d);
  g[11] = outer(g[11], a[2].w, d);
  g[12] = outer(g[12], a[3].x, d);
  g[13] = outer(g[13], a[3].y, d);
  g[14] = outer(g[14], a[3].z, d);
  g[15] = outer(g[15], a[3].w, d);
  g[16] = outer(g[16], a[4].x, d);
  g[17] = outer(g[17], a[4].y, d);
  g[18] = outer(g[18], a[4].z, d);
  g[19] = outer(g[19], a[4].w, d);
  g[20] = outer(g[20], a[5].x, d);
  g[21] = outer(g[21], a[5].y, d);
  g[22] = outer(g[22], a[5].z, d);
  g[23] = outer(g[23], a[5].w, d);
  g[24] = outer(g[24], a[6].x, d);
  g[25] = outer(g[25], a[6].y, d);
  g[26] = outer(g[26], a[6].z, d);
  g[27] = outer(g[27], a[6].w, d);
  g[28] = outer(g[28], a[7].x, d);
  g[29] = outer(g[29], a[7].y, d);
  g[30] = outer(g[30], a[7].z, d);
  g[31] = outer(g[31], a[7].w, d);
}

fn fold_row(s: StatsRow, r: Row) -> StatsRow {
  return StatsRow(fold_quad(s[0], r[0]), fold_quad(s[1], r[1]), fold_quad(s[2], r[2]), fold_quad(s[3], r[3]));
}

// Folds the finished example (group) `b` into the statistics and zeroes g.
fn fold(b: u32, tile: u32) {
  st[0] = fold_row(st[0], g[0]);
  st[1] = fold_row(st[1], g[1]);
  st[2] = fold_row(st[2], g[2]);
  st[3] = fold_row(st[3], g[3]);
  st[4] = fold_row(st[4], g[4]);
  st[5] = fold_row(st[5], g[5]);
  st[6] = fold_row(st[6], g[6]);
  st[7] = fold_row(st[7], g[7]);
  st[8] = fold_row(st[8], g[8]);
  st[9] = fold_row(st[9], g[9]);
  st[10] = fold_row(st[10], g[10]);
  st[11] = fold_row(st[11], g[11]);
  st[12] = fold_row(st[12], g[12]);
  st[13] = fold_row(st[13], g[13]);
  st[14] = fold_row(st[14], g[14]);
  st[15] = fold_row(st[15], g[15]);
  st[16] = fold_row(st[16], g[16]);
  st[17] = fold_row(st[17], g[17]);
  st[18] = fold_row(st[18], g[18]);
  st[19] = fold_row(st[19], g[19]);
  st[20] = fold_row(st[20], g[20]);
  st[21] = fold_row(st[21], g[21]);
  st[22] = fold_row(st[22], g[22]);
  st[23] = fold_row(st[23], g[23]);
  st[24] = fold_row(st[24], g[24]);
  st[25] = fold_row(st[25], g[25]);
  st[26] = fold_row(st[26], g[26]);
  st[27] = fold_row(st[27], g[27]);
  st[28] = fold_row(st[28], g[28]);
  st[29] = fold_row(st[29], g[29]);
  st[30] = fold_row(st[30], g[30]);
  st[31] = fold_row(st[31], g[31]);
  if (WANT_NORMS) {
    partials[b * p.n_tiles + tile] = (nrm.x + nrm.y) + (nrm.z + nrm.w);
    nrm = vec4<f32>(0.0);
  }
  g = array<Row, 32>();
}

fn store_row(m: u32, n0: u32, s: StatsRow) {
  store_quad(m, n0, s[0]);
  store_quad(m, n0 + 4u, s[1]);
  store_quad(m, n0 + 8u, s[2]);
  store_quad(m, n0 + 12u, s[3]);
}

// Stores the block one row at a time from st[0], shifting the other rows up: a loop with a
// run-time trip count, so the compiler neither unrolls it nor indexes registers dynamically
// (32 written-out rows of per-lane store loops take lavapipe tens of seconds to compile).
fn store(m0: u32, n0: u32) {
  let rows = select(0u, min(TM, p.n_in - m0), m0 < p.n_in);
  for (var i = 0u; i < rows; i++) {
    store_row(m0 + i, n0, st[0]);
    st[0] = st[1];
    st[1] = st[2];
    st[2] = st[3];
    st[3] = st[4];
    st[4] = st[5];
    st[5] = st[6];
    st[6] = st[7];
    st[7] = st[8];
    st[8] = st[9];
    st[9] = st[10];
    st[10] = st[11];
    st[11] = st[12];
    st[12] = st[13];
    st[13] = st[14];
    st[14] = st[15];
    st[15] = st[16];
    st[16] = st[17];
    st[17] = st[18];
    st[18] = st[19];
    st[19] = st[20];
    st[20] = st[21];
    st[21] = st[22];
    st[22] = st[23];
    st[23] = st[24];
    st[24] = st[25];
    st[25] = st[26];
    st[26] = st[27];
    st[27] = st[28];
    st[28] = st[29];
    st[29] = st[30];
    st[30] = st[31];
  }
}


@compute @workgroup_size(WG_N, WG_M)
fn direct(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let m0 = gid.y * TM;
  let n0 = gid.x * TN;
  let tile = gid.y * nwg.x * WG_N + gid.x;
  let rows = group_rows();
  for (var b = 0u; b < groups(); b++) {
    let end = (b + 1u) * rows;
    for (var r = b * rows; r < end; r++) {
      add_row(XQuads(x_quad(r, m0), x_quad(r, m0 + 4u), x_quad(r, m0 + 8u), x_quad(r, m0 + 12u),
                     x_quad(r, m0 + 16u), x_quad(r, m0 + 20u), x_quad(r, m0 + 24u), x_quad(r, m0 + 28u)),
              Row(dy_quad(r, n0), dy_quad(r, n0 + 4u), dy_quad(r, n0 + 8u), dy_quad(r, n0 + 12u)));
    }
    fold(b, tile);
  }
  store(m0, n0);
}
