// Batched, register-tiled matmul: C = alpha·op(A)·op(B) + beta·C (+ bias[n] on every row).
//
// Each invocation owns a TM×TN block of C held in registers (`acc`). Two entry points feed it:
//  - `direct`: every invocation reads its A rows and B columns straight from the storage
//    buffers, four values of k at a time (vec4 loads when VEC4_A / VEC4_B say the rows are
//    16-byte aligned). On CPU adapters (lavapipe) every load is a per-lane scalar loop whatever
//    memory it reads, so staging through workgroup memory only adds copies and barriers.
//  - `staged`: the workgroup copies BK-deep tiles of op(A) and op(B) into workgroup memory and
//    each invocation reads vec4s from there: the classic layout for discrete GPUs.
//
// Edges never branch in the inner loops: rows and columns past M and N are clamped to valid
// ones (their results are dropped by the bounds-checked store) and K is split into a main loop
// over groups of four and a scalar tail (direct) or zero-filled tiles (staged).
//
// Batches: workgroup_id.z = outer * inner + i, and each operand starts at
// off + outer * s0 + i * s1 (element units), so head splits and broadcasts (stride 0) are free.

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
// Quads along A's (B's) contiguous dimension are 16-byte aligned: offsets, row and batch
// strides are multiples of 4, and, when that dimension is M (N), M (N) is a multiple of 4.
override VEC4_A: bool = false;
override VEC4_B: bool = false;
override USE_BETA: bool = false;  // read C; with beta = 0 C is never read (it may hold NaN)
override HAS_BIAS: bool = false;
override WG_M: u32 = 8u;          // invocations per workgroup along M
override WG_N: u32 = 8u;          // invocations per workgroup along N
override BK: u32 = 16u;           // k-depth of a workgroup-memory tile (staged), a multiple of 4

const TM: u32 = 16u;              // rows of C per invocation
const TN: u32 = 8u;               // columns of C per invocation

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
// The same buffers as `a` and `b`, seen as quads for aligned loads.
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<f32>>;

// acc[i][j] = C[m0 + i][n0 + 4j .. n0 + 4j + 3]
var<private> acc: array<array<vec4<f32>, TN / 4u>, TM>;

alias ColA = array<vec4<f32>, TM / 4u>;   // op(A)[m0 .. m0 + TM][k]
alias RowB = array<vec4<f32>, TN / 4u>;   // op(B)[k][n0 .. n0 + TN]

struct Bases { a: u32, b: u32, c: u32 }

fn bases(z: u32) -> Bases {
  let o = z / p.inner;
  let i = z % p.inner;
  return Bases(p.a_off + o * p.a_s0 + i * p.a_s1, p.b_off + o * p.b_s0 + i * p.b_s1,
               p.c_off + o * p.c_s0 + i * p.c_s1);
}

// Storage index of op(A)[m][k] and op(B)[k][n].
fn a_index(base: u32, m: u32, k: u32) -> u32 {
  if (TRANS_A) { return base + k * p.lda + m; }
  return base + m * p.lda + k;
}

fn b_index(base: u32, k: u32, n: u32) -> u32 {
  if (TRANS_B) { return base + n * p.ldb + k; }
  return base + k * p.ldb + n;
}

fn a_at(base: u32, m: u32, k: u32) -> f32 {
  return a[a_index(base, min(m, p.M - 1u), k)];
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  return b[b_index(base, k, min(n, p.N - 1u))];
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

// op(A)[m .. m + 3][k] when A is stored K×M (contiguous along m).
fn a_quad_m(base: u32, m: u32, k: u32) -> vec4<f32> {
  if (VEC4_A) { return a4[a_index(base, min(m, p.M - 4u), k) / 4u]; }
  return vec4<f32>(a_at(base, m, k), a_at(base, m + 1u, k), a_at(base, m + 2u, k), a_at(base, m + 3u, k));
}

// op(B)[k][n .. n + 3] when B is stored K×N (contiguous along n).
fn b_quad_n(base: u32, k: u32, n: u32) -> vec4<f32> {
  if (VEC4_B) { return b4[b_index(base, k, min(n, p.N - 4u)) / 4u]; }
  return vec4<f32>(b_at(base, k, n), b_at(base, k, n + 1u), b_at(base, k, n + 2u), b_at(base, k, n + 3u));
}

// acc += op(A)[m0.., k] ⊗ op(B)[k, n0..]: one step of k as TM·TN/4 vec4 FMAs.
fn fma_step(av: ColA, bv: RowB) {
  for (var i = 0u; i < TM; i++) {
    let s = vec4<f32>(av[i / 4u][i % 4u]);
    for (var j = 0u; j < TN / 4u; j++) { acc[i][j] = fma(s, bv[j], acc[i][j]); }
  }
}

// Four steps of k (k + 3 < K): TM + TN quad loads whatever the transposes.
fn fma_step4(base: Bases, m0: u32, n0: u32, k: u32) {
  var av: array<ColA, 4>;
  var bv: array<RowB, 4>;
  if (TRANS_A) {
    for (var q = 0u; q < 4u; q++) {
      for (var g = 0u; g < TM / 4u; g++) { av[q][g] = a_quad_m(base.a, m0 + 4u * g, k + q); }
    }
  } else {
    for (var i = 0u; i < TM; i++) {
      let v = a_quad(a_index(base.a, min(m0 + i, p.M - 1u), k));
      for (var q = 0u; q < 4u; q++) { av[q][i / 4u][i % 4u] = v[q]; }
    }
  }
  if (TRANS_B) {
    for (var j = 0u; j < TN; j++) {
      let v = b_quad(b_index(base.b, k, min(n0 + j, p.N - 1u)));
      for (var q = 0u; q < 4u; q++) { bv[q][j / 4u][j % 4u] = v[q]; }
    }
  } else {
    for (var q = 0u; q < 4u; q++) {
      for (var g = 0u; g < TN / 4u; g++) { bv[q][g] = b_quad_n(base.b, k + q, n0 + 4u * g); }
    }
  }
  for (var q = 0u; q < 4u; q++) { fma_step(av[q], bv[q]); }
}

// One step of k with scalar loads (the K % 4 tail).
fn fma_step1(base: Bases, m0: u32, n0: u32, k: u32) {
  var av: ColA;
  var bv: RowB;
  for (var i = 0u; i < TM; i++) { av[i / 4u][i % 4u] = a_at(base.a, m0 + i, k); }
  for (var j = 0u; j < TN; j++) { bv[j / 4u][j % 4u] = b_at(base.b, k, n0 + j); }
  fma_step(av, bv);
}

// C[m0.., n0..] = alpha·acc + beta·C + bias, inside the M×N bounds only.
fn store(base: u32, m0: u32, n0: u32) {
  for (var i = 0u; i < TM; i++) {
    let m = m0 + i;
    for (var j = 0u; j < TN; j++) {
      let n = n0 + j;
      if (m < p.M && n < p.N) {
        let e = base + m * p.ldc + n;
        var v = p.alpha * acc[i][j / 4u][j % 4u];
        if (USE_BETA) { v = fma(p.beta, c[e], v); }
        if (HAS_BIAS) { v += bias[n]; }
        c[e] = v;
      }
    }
  }
}

@compute @workgroup_size(WG_N, WG_M)
fn direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let m0 = (wg.y * WG_M + lid.y) * TM;
  let n0 = (wg.x * WG_N + lid.x) * TN;
  let base = bases(wg.z);
  let k4 = p.K & ~3u;
  for (var k = 0u; k < k4; k += 4u) { fma_step4(base, m0, n0, k); }
  for (var k = k4; k < p.K; k++) { fma_step1(base, m0, n0, k); }
  store(base.c, m0, n0);
}

// ---- staged: tiles of op(A) and op(B) in workgroup memory ----

// a_tile[kk][mm] = op(A)[row0 + mm][k0 + kk], b_tile[kk][nn] = op(B)[k0 + kk][col0 + nn], as quads
// along m and n, zero past K.
var<workgroup> a_tile: array<vec4<f32>, BK * WG_M * TM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * WG_N * TN / 4u>;

// Copies the k0.. tiles: each invocation moves quads along the stored contiguous dimension.
fn load_tiles(base: Bases, row0: u32, col0: u32, k0: u32, li: u32) {
  let threads = WG_M * WG_N;
  let bm = WG_M * TM;
  let bn = WG_N * TN;
  for (var e = li; e < BK * bm / 4u; e += threads) {
    var kk: u32;
    var mm: u32;
    var v: vec4<f32>;
    if (TRANS_A) {
      kk = e / (bm / 4u);
      mm = (e % (bm / 4u)) * 4u;
      v = select(vec4<f32>(0.0), a_quad_m(base.a, row0 + mm, min(k0 + kk, p.K - 1u)), k0 + kk < p.K);
      a_tile[e] = v;
    } else {
      mm = e / (BK / 4u);
      kk = (e % (BK / 4u)) * 4u;
      let k = k0 + kk;
      let m = min(row0 + mm, p.M - 1u);
      if (k + 3u < p.K) {
        v = a_quad(a_index(base.a, m, k));
      } else {
        for (var q = 0u; q < 4u; q++) {
          v[q] = select(0.0, a[a_index(base.a, m, min(k + q, p.K - 1u))], k + q < p.K);
        }
      }
      for (var q = 0u; q < 4u; q++) { a_tile[((kk + q) * bm + mm) / 4u][mm % 4u] = v[q]; }
    }
  }
  for (var e = li; e < BK * bn / 4u; e += threads) {
    var kk: u32;
    var nn: u32;
    var v: vec4<f32>;
    if (TRANS_B) {
      nn = e / (BK / 4u);
      kk = (e % (BK / 4u)) * 4u;
      let k = k0 + kk;
      let n = min(col0 + nn, p.N - 1u);
      if (k + 3u < p.K) {
        v = b_quad(b_index(base.b, k, n));
      } else {
        for (var q = 0u; q < 4u; q++) {
          v[q] = select(0.0, b[b_index(base.b, min(k + q, p.K - 1u), n)], k + q < p.K);
        }
      }
      for (var q = 0u; q < 4u; q++) { b_tile[((kk + q) * bn + nn) / 4u][nn % 4u] = v[q]; }
    } else {
      kk = e / (bn / 4u);
      nn = (e % (bn / 4u)) * 4u;
      let v = b_quad_n(base.b, min(k0 + kk, p.K - 1u), col0 + nn);
      b_tile[e] = select(vec4<f32>(0.0), v, k0 + kk < p.K);
    }
  }
}

@compute @workgroup_size(WG_N, WG_M)
fn staged(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * WG_M * TM;
  let col0 = wg.x * WG_N * TN;
  let base = bases(wg.z);
  let am = lid.y * (TM / 4u);
  let bn = lid.x * (TN / 4u);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    load_tiles(base, row0, col0, k0, li);
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var av: ColA;
      var bv: RowB;
      for (var g = 0u; g < TM / 4u; g++) { av[g] = a_tile[kk * (WG_M * TM / 4u) + am + g]; }
      for (var g = 0u; g < TN / 4u; g++) { bv[g] = b_tile[kk * (WG_N * TN / 4u) + bn + g]; }
      fma_step(av, bv);
    }
    workgroupBarrier();
  }
  store(base.c, row0 + lid.y * TM, col0 + lid.x * TN);
}
