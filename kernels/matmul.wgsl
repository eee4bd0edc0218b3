// Batched, register-tiled matmul: C = alpha·op(A)·op(B) + beta·C (+ bias[n] on every row).
//
// Each invocation owns a 12×16 block of C held in registers (`acc`). Four steps of k at a time
// arrive as 4×4 blocks: `am[g]` holds rows m0+4g .. m0+4g+3 of op(A) (column c = row m0+4g+c,
// components = k .. k+3) and `bm[h]` holds rows k .. k+3 of op(B) (column q = row k+q,
// components = n0+4h .. n0+4h+3). Two entry points feed them:
//  - `direct`: every invocation reads its blocks straight from the storage buffers (vec4 loads
//    when VEC4_A / VEC4_B say the quads are 16-byte aligned). On CPU adapters (lavapipe) each
//    load is a per-lane scalar loop whatever memory it reads, so workgroup memory would only
//    add copies and barriers: this path is about 1.8× faster there.
//  - `staged`: the workgroup copies BK-deep tiles of op(A) and op(B) into workgroup memory,
//    and each invocation reads its blocks from there as vec4s: the usual GPU layout.
//
// Register arrays are only indexed by constants (written out, or rotated inside loops):
// lavapipe moves an array indexed by a loop variable to memory, which costs 7× here.
//
// Edges never branch in the inner loop: rows and columns past M and N are clamped to valid
// ones (their results are dropped by the bounds-checked store). `direct` runs the K % 4 tail
// one k at a time; `staged` zero-fills the tile that straddles K.
//
// Batches: workgroup_id.z = outer · inner + i, and each operand starts at
// off + outer · s0 + i · s1 (element units), so head splits and broadcasts (stride 0) are free.

struct Params {
  M: u32, N: u32, K: u32, inner: u32,
  lda: u32, ldb: u32, ldc: u32, _pad0: u32,
  a_off: u32, a_s0: u32, a_s1: u32, _pad1: u32,
  b_off: u32, b_s0: u32, b_s1: u32, _pad2: u32,
  c_off: u32, c_s0: u32, c_s1: u32, _pad3: u32,
  alpha: f32, beta: f32, _pad4: u32, _pad5: u32,
}

override TRANS_A: bool = false;   // A is stored K×M (op(A) = Aᵀ)
override TRANS_B: bool = false;   // B is stored N×K (op(B) = Bᵀ)
// Quads along A's (B's) stored rows are 16-byte aligned: offsets, row and batch strides are
// multiples of 4, and, when the stored rows run along M (N), M (N) is a multiple of 4.
override VEC4_A: bool = false;
override VEC4_B: bool = false;
override USE_BETA: bool = false;  // read C; with beta = 0 C is never read (it may hold NaN)
override HAS_BIAS: bool = false;
override WG_M: u32 = 2u;          // invocations per workgroup along M
override WG_N: u32 = 8u;          // invocations per workgroup along N
override BK: u32 = 16u;           // k-depth of a workgroup-memory tile (staged), a multiple of 4

const TM: u32 = 12u;              // rows of C per invocation (the code below is written for 12)
const TN: u32 = 16u;              // columns of C per invocation (written for 16)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
// The same buffers as `a` and `b`, seen as quads for aligned loads.
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<f32>>;

alias Row = array<vec4<f32>, 4>;          // 16 columns of one row of C
alias ABlocks = array<mat4x4<f32>, 3>;    // 12 rows × 4 k of op(A)
alias BBlocks = array<mat4x4<f32>, 4>;    // 4 k × 16 columns of op(B)
alias ACol = array<vec4<f32>, 3>;         // 12 rows of op(A) at one k

// acc[i] = C[m0 + i][n0 .. n0 + 15]
var<private> acc: array<Row, 12>;

struct Bases { a: u32, b: u32, c: u32 }

fn bases(z: u32) -> Bases {
  let o = z / p.inner;
  let i = z % p.inner;
  return Bases(p.a_off + o * p.a_s0 + i * p.a_s1, p.b_off + o * p.b_s0 + i * p.b_s1,
               p.c_off + o * p.c_s0 + i * p.c_s1);
}

// ---- loads ----

// Storage index of op(A)[m][k] and op(B)[k][n].
fn a_index(base: u32, m: u32, k: u32) -> u32 {
  if (TRANS_A) { return base + k * p.lda + m; }
  return base + m * p.lda + k;
}

fn b_index(base: u32, k: u32, n: u32) -> u32 {
  if (TRANS_B) { return base + n * p.ldb + k; }
  return base + k * p.ldb + n;
}

// Four consecutive stored values from index e (one vec4 load when aligned).
fn a_quad(e: u32) -> vec4<f32> {
  if (VEC4_A) { return a4[e / 4u]; }
  return vec4<f32>(a[e], a[e + 1u], a[e + 2u], a[e + 3u]);
}

fn b_quad(e: u32) -> vec4<f32> {
  if (VEC4_B) { return b4[e / 4u]; }
  return vec4<f32>(b[e], b[e + 1u], b[e + 2u], b[e + 3u]);
}

// op(A)[m .. m+3][k], rows clamped into the matrix: one vec4 load when A's stored rows run
// along m and are aligned, else four.
fn a_rows4(base: u32, m: u32, k: u32) -> vec4<f32> {
  if (TRANS_A && VEC4_A) { return a4[a_index(base, min(m, p.M - 4u), k) / 4u]; }
  let last = p.M - 1u;
  return vec4<f32>(a[a_index(base, min(m, last), k)], a[a_index(base, min(m + 1u, last), k)],
                   a[a_index(base, min(m + 2u, last), k)], a[a_index(base, min(m + 3u, last), k)]);
}

// op(B)[k][n .. n+3], columns clamped into the matrix.
fn b_cols4(base: u32, k: u32, n: u32) -> vec4<f32> {
  if (!TRANS_B && VEC4_B) { return b4[b_index(base, k, min(n, p.N - 4u)) / 4u]; }
  let last = p.N - 1u;
  return vec4<f32>(b[b_index(base, k, min(n, last))], b[b_index(base, k, min(n + 1u, last))],
                   b[b_index(base, k, min(n + 2u, last))], b[b_index(base, k, min(n + 3u, last))]);
}

// Rows m .. m+3 of op(A) at k .. k+3 (k + 3 < K): column c = row m + c.
fn a_block(base: u32, m: u32, k: u32) -> mat4x4<f32> {
  if (TRANS_A) {
    return transpose(mat4x4<f32>(a_rows4(base, m, k), a_rows4(base, m, k + 1u), a_rows4(base, m, k + 2u),
                                 a_rows4(base, m, k + 3u)));
  }
  let last = p.M - 1u;
  return mat4x4<f32>(a_quad(a_index(base, min(m, last), k)),
                     a_quad(a_index(base, min(m + 1u, last), k)),
                     a_quad(a_index(base, min(m + 2u, last), k)),
                     a_quad(a_index(base, min(m + 3u, last), k)));
}

// Rows k .. k+3 of op(B) at n .. n+3 (k + 3 < K): column q = row k + q.
fn b_block(base: u32, k: u32, n: u32) -> mat4x4<f32> {
  if (TRANS_B) {
    let last = p.N - 1u;
    return transpose(mat4x4<f32>(b_quad(b_index(base, k, min(n, last))),
                                 b_quad(b_index(base, k, min(n + 1u, last))),
                                 b_quad(b_index(base, k, min(n + 2u, last))),
                                 b_quad(b_index(base, k, min(n + 3u, last)))));
  }
  return mat4x4<f32>(b_cols4(base, k, n), b_cols4(base, k + 1u, n), b_cols4(base, k + 2u, n),
                     b_cols4(base, k + 3u, n));
}

// ---- arithmetic ----

// r + Σ_q av[q]·bq[q], in the order q = 0, 1, 2, 3.
fn fma4(bq: mat4x4<f32>, av: vec4<f32>, r: vec4<f32>) -> vec4<f32> {
  return fma(bq[3], vec4<f32>(av.w), fma(bq[2], vec4<f32>(av.z), fma(bq[1], vec4<f32>(av.y),
             fma(bq[0], vec4<f32>(av.x), r))));
}

fn row_update4(r: Row, av: vec4<f32>, bm: BBlocks) -> Row {
  return Row(fma4(bm[0], av, r[0]), fma4(bm[1], av, r[1]), fma4(bm[2], av, r[2]), fma4(bm[3], av, r[3]));
}

fn row_update1(r: Row, s: f32, bv: Row) -> Row {
  let v = vec4<f32>(s);
  return Row(fma(v, bv[0], r[0]), fma(v, bv[1], r[1]), fma(v, bv[2], r[2]), fma(v, bv[3], r[3]));
}

// acc += op(A)[m0 .., k .. k+3] · op(B)[k .. k+3, n0 ..]
fn step4(am: ABlocks, bm: BBlocks) {
  acc[0] = row_update4(acc[0], am[0][0], bm);
  acc[1] = row_update4(acc[1], am[0][1], bm);
  acc[2] = row_update4(acc[2], am[0][2], bm);
  acc[3] = row_update4(acc[3], am[0][3], bm);
  acc[4] = row_update4(acc[4], am[1][0], bm);
  acc[5] = row_update4(acc[5], am[1][1], bm);
  acc[6] = row_update4(acc[6], am[1][2], bm);
  acc[7] = row_update4(acc[7], am[1][3], bm);
  acc[8] = row_update4(acc[8], am[2][0], bm);
  acc[9] = row_update4(acc[9], am[2][1], bm);
  acc[10] = row_update4(acc[10], am[2][2], bm);
  acc[11] = row_update4(acc[11], am[2][3], bm);
}

// acc += op(A)[m0 .., k] ⊗ op(B)[k, n0 ..]
fn step1(av: ACol, bv: Row) {
  acc[0] = row_update1(acc[0], av[0][0], bv);
  acc[1] = row_update1(acc[1], av[0][1], bv);
  acc[2] = row_update1(acc[2], av[0][2], bv);
  acc[3] = row_update1(acc[3], av[0][3], bv);
  acc[4] = row_update1(acc[4], av[1][0], bv);
  acc[5] = row_update1(acc[5], av[1][1], bv);
  acc[6] = row_update1(acc[6], av[1][2], bv);
  acc[7] = row_update1(acc[7], av[1][3], bv);
  acc[8] = row_update1(acc[8], av[2][0], bv);
  acc[9] = row_update1(acc[9], av[2][1], bv);
  acc[10] = row_update1(acc[10], av[2][2], bv);
  acc[11] = row_update1(acc[11], av[2][3], bv);
}

fn step1_at(base: Bases, m0: u32, n0: u32, k: u32) {
  step1(ACol(a_rows4(base.a, m0, k), a_rows4(base.a, m0 + 4u, k), a_rows4(base.a, m0 + 8u, k)),
        Row(b_cols4(base.b, k, n0), b_cols4(base.b, k, n0 + 4u), b_cols4(base.b, k, n0 + 8u),
            b_cols4(base.b, k, n0 + 12u)));
}

// ---- store ----

fn store_one(base: u32, m: u32, n: u32, x: f32) {
  if (n < p.N) {
    let e = base + m * p.ldc + n;
    var v = p.alpha * x;
    if (USE_BETA) { v = fma(p.beta, c[e], v); }
    if (HAS_BIAS) { v += bias[n]; }
    c[e] = v;
  }
}

// Loops rotate the registers instead of indexing them, so they stay registers (and the
// compiled shader stays small: lavapipe compiles every store as a per-lane loop).
fn store_row(base: u32, m: u32, n0: u32, r: Row) {
  var q = r;
  for (var j = 0u; j < TN; j += 4u) {
    store_one(base, m, n0 + j, q[0].x);
    store_one(base, m, n0 + j + 1u, q[0].y);
    store_one(base, m, n0 + j + 2u, q[0].z);
    store_one(base, m, n0 + j + 3u, q[0].w);
    q[0] = q[1];
    q[1] = q[2];
    q[2] = q[3];
  }
}

// C[m0 .., n0 ..] = alpha·acc + beta·C + bias, inside the M×N bounds only.
fn store(base: u32, m0: u32, n0: u32) {
  let rows = min(TM, p.M - min(m0, p.M));
  for (var i = 0u; i < rows; i++) {
    store_row(base, m0 + i, n0, acc[0]);
    acc[0] = acc[1];
    acc[1] = acc[2];
    acc[2] = acc[3];
    acc[3] = acc[4];
    acc[4] = acc[5];
    acc[5] = acc[6];
    acc[6] = acc[7];
    acc[7] = acc[8];
    acc[8] = acc[9];
    acc[9] = acc[10];
    acc[10] = acc[11];
  }
}

// ---- direct: blocks straight from the storage buffers ----

// Four k per iteration pays off when a stored operand runs along k and is aligned (one vec4
// load covers four steps); otherwise one k per iteration loads the same and compiles smaller.
override STEP4: bool = (!TRANS_A && VEC4_A) || (TRANS_B && VEC4_B);

@compute @workgroup_size(WG_N, WG_M)
fn direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = (wg.y * WG_M + lid.y) * TM;
  let n0 = (wg.x * WG_N + lid.x) * TN;
  let base = bases(wg.z);
  var k = 0u;
  if (STEP4) {
    for (; k + 3u < p.K; k += 4u) {
      step4(ABlocks(a_block(base.a, m0, k), a_block(base.a, m0 + 4u, k), a_block(base.a, m0 + 8u, k)),
            BBlocks(b_block(base.b, k, n0), b_block(base.b, k, n0 + 4u), b_block(base.b, k, n0 + 8u),
                    b_block(base.b, k, n0 + 12u)));
    }
  }
  for (; k < p.K; k++) { step1_at(base, m0, n0, k); }
  store(base.c, m0, n0);
}

// ---- staged: tiles of op(A) and op(B) in workgroup memory ----

// a_tile[kq · BM + mm] = op(A)[row0 + mm][k0 + 4kq .. k0 + 4kq + 3]
// b_tile[kk · BN/4 + nq] = op(B)[k0 + kk][col0 + 4nq .. col0 + 4nq + 3]
// Both zero past K.
var<workgroup> a_tile: array<vec4<f32>, BK * WG_M * TM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * WG_N * TN / 4u>;

// Per-element loads, zero past K, for the tile that straddles K.
fn a_at(base: u32, m: u32, k: u32) -> f32 {
  return select(0.0, a[a_index(base, min(m, p.M - 1u), min(k, p.K - 1u))], k < p.K);
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  return select(0.0, b[b_index(base, min(k, p.K - 1u), min(n, p.N - 1u))], k < p.K);
}

fn a_block_edge(base: u32, m: u32, k: u32) -> mat4x4<f32> {
  var blk: mat4x4<f32>;
  for (var i = 0u; i < 4u; i++) {
    blk[i] = vec4<f32>(a_at(base, m + i, k), a_at(base, m + i, k + 1u), a_at(base, m + i, k + 2u),
                       a_at(base, m + i, k + 3u));
  }
  return blk;
}

fn b_block_edge(base: u32, k: u32, n: u32) -> mat4x4<f32> {
  var blk: mat4x4<f32>;
  for (var q = 0u; q < 4u; q++) {
    blk[q] = vec4<f32>(b_at(base, k + q, n), b_at(base, k + q, n + 1u), b_at(base, k + q, n + 2u),
                       b_at(base, k + q, n + 3u));
  }
  return blk;
}

fn load_tiles(base: Bases, row0: u32, col0: u32, k0: u32, li: u32) {
  let threads = WG_M * WG_N;
  let bm = WG_M * TM;
  let bn4 = WG_N * TN / 4u;
  for (var e = li; e < bm * BK / 16u; e += threads) {
    let mm = (e / (BK / 4u)) * 4u;
    let kq = e % (BK / 4u);
    let k = k0 + 4u * kq;
    var blk: mat4x4<f32>;
    if (k + 3u < p.K) {
      blk = a_block(base.a, row0 + mm, k);
    } else {
      blk = a_block_edge(base.a, row0 + mm, k);
    }
    let t = kq * bm + mm;
    a_tile[t] = blk[0];
    a_tile[t + 1u] = blk[1];
    a_tile[t + 2u] = blk[2];
    a_tile[t + 3u] = blk[3];
  }
  for (var e = li; e < bn4 * BK / 4u; e += threads) {
    let kk = (e / bn4) * 4u;
    let nq = e % bn4;
    let k = k0 + kk;
    var blk: mat4x4<f32>;
    if (k + 3u < p.K) {
      blk = b_block(base.b, k, col0 + 4u * nq);
    } else {
      blk = b_block_edge(base.b, k, col0 + 4u * nq);
    }
    let t = kk * bn4 + nq;
    b_tile[t] = blk[0];
    b_tile[t + bn4] = blk[1];
    b_tile[t + 2u * bn4] = blk[2];
    b_tile[t + 3u * bn4] = blk[3];
  }
}

fn a_tile_block(t: u32) -> mat4x4<f32> {
  return mat4x4<f32>(a_tile[t], a_tile[t + 1u], a_tile[t + 2u], a_tile[t + 3u]);
}

fn b_tile_block(t: u32, bn4: u32) -> mat4x4<f32> {
  return mat4x4<f32>(b_tile[t], b_tile[t + bn4], b_tile[t + 2u * bn4], b_tile[t + 3u * bn4]);
}

@compute @workgroup_size(WG_N, WG_M)
fn staged(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * WG_M * TM;
  let col0 = wg.x * WG_N * TN;
  let base = bases(wg.z);
  let bm = WG_M * TM;
  let bn4 = WG_N * TN / 4u;
  let mi = lid.y * TM;
  let nq = lid.x * (TN / 4u);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    load_tiles(base, row0, col0, k0, li);
    workgroupBarrier();
    for (var kq = 0u; kq < BK / 4u; kq++) {
      let ta = kq * bm + mi;
      let tb = 4u * kq * bn4 + nq;
      step4(ABlocks(a_tile_block(ta), a_tile_block(ta + 4u), a_tile_block(ta + 8u)),
            BBlocks(b_tile_block(tb, bn4), b_tile_block(tb + 1u, bn4), b_tile_block(tb + 2u, bn4),
                    b_tile_block(tb + 3u, bn4)));
    }
    workgroupBarrier();
  }
  store(base.c, row0 + mi, col0 + lid.x * TN);
}
