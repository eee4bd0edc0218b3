// Per-example statistics of a linear layer's weight gradient: the declarations shared by the
// two kernels, per_example_direct.wgsl (CPU adapters) and per_example_staged.wgsl (GPUs),
// each of which is appended to this text.
//
// x is [R, n_in] and dy is [R, n_out], row-major, R = batch · rows_per_example. Example b owns
// rows [b·T, (b+1)·T) and its gradient is G_b = s · x_bᵀ·dy_b, an [n_in, n_out] matrix. Each
// invocation owns a block of it: for each example it sums the example's rows into registers
// `g` (one outer product x[r, block rows]ᵀ·dy[r, block columns] per row: the multiply-adds
// of the plain weight gradient), then folds `g` into the running statistics and zeroes it:
//   sum += g,  sq += g ⊙ g,  sgn += sign(g),  ‖G_b‖² partial = Σ g ⊙ g.
// The scale s is applied once at the store (s/B, s², sign(s)); the norm partial of each
// (tile, example) goes to `partials[b · n_tiles + tile]`, which per_example_norms.wgsl
// reduces over tiles in a fixed order. No float atomics: results are bitwise reproducible.
//
// When only the mean is requested (no per-example statistic), all R rows form one group:
// this is the plain weight gradient, with no fold per example.
//
// Edges: rows and columns of dW past n_in / n_out load zeros, so their g is 0 and they add
// nothing to the norm partials; stores are bounds-checked.

struct Params {
  n_in: u32, n_out: u32, rows_per_example: u32, batch: u32,
  n_tiles: u32, _pad0: u32, _pad1: u32, _pad2: u32,
  mean_scale: f32,   // s / B
  sq_scale: f32,     // s²
  sign_scale: f32,   // sign(s)
  _pad3: f32,
}

override WANT_MEAN: bool = true;
override WANT_SUMSQ: bool = false;
override WANT_SIGN: bool = false;
override WANT_NORMS: bool = false;
// x (dy) quads are 16-byte aligned: n_in (n_out) is a multiple of 4 and the binding starts at
// a multiple of 4 elements.
override VEC4_X: bool = false;
override VEC4_DY: bool = false;
override WG_M: u32 = 1u;   // invocations per workgroup along n_in
override WG_N: u32 = 16u;  // invocations per workgroup along n_out
override BK: u32 = 16u;    // rows per workgroup-memory tile (staged)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> sumsq: array<f32>;
@group(0) @binding(5) var<storage, read_write> sumsign: array<f32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
// The same buffers as `x` and `dy`, seen as quads for aligned loads.
@group(0) @binding(7) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> dy4: array<vec4<f32>>;

fn per_example() -> bool {
  return WANT_SUMSQ || WANT_SIGN || WANT_NORMS;
}

// Groups of rows folded separately: the examples, or all rows at once for the mean alone.
fn groups() -> u32 {
  return select(1u, p.batch, per_example());
}

fn group_rows() -> u32 {
  return select(p.batch * p.rows_per_example, p.rows_per_example, per_example());
}

// x[r, m .. m+3], zero past n_in.
fn x_quad(r: u32, m: u32) -> vec4<f32> {
  let e = r * p.n_in;
  if (VEC4_X) { return select(vec4<f32>(0.0), x4[(e + min(m, p.n_in - 4u)) / 4u], m < p.n_in); }
  let last = p.n_in - 1u;
  return vec4<f32>(select(0.0, x[e + min(m, last)], m < p.n_in),
                   select(0.0, x[e + min(m + 1u, last)], m + 1u < p.n_in),
                   select(0.0, x[e + min(m + 2u, last)], m + 2u < p.n_in),
                   select(0.0, x[e + min(m + 3u, last)], m + 3u < p.n_in));
}

// dy[r, n .. n+3], zero past n_out.
fn dy_quad(r: u32, n: u32) -> vec4<f32> {
  let e = r * p.n_out;
  if (VEC4_DY) { return select(vec4<f32>(0.0), dy4[(e + min(n, p.n_out - 4u)) / 4u], n < p.n_out); }
  let last = p.n_out - 1u;
  return vec4<f32>(select(0.0, dy[e + min(n, last)], n < p.n_out),
                   select(0.0, dy[e + min(n + 1u, last)], n + 1u < p.n_out),
                   select(0.0, dy[e + min(n + 2u, last)], n + 2u < p.n_out),
                   select(0.0, dy[e + min(n + 3u, last)], n + 3u < p.n_out));
}

// Running statistics of four neighbouring coordinates over the examples folded so far
// (unscaled): Σ g, Σ g ⊙ g, Σ sign(g).
struct QuadStats { sum: vec4<f32>, sq: vec4<f32>, sgn: vec4<f32> }

// Four partial sums of the current example's Σ g ⊙ g over the invocation's block.
var<private> nrm: vec4<f32>;

// Folds one quad of the finished example's g into the running statistics and the norm.
fn fold_quad(s: QuadStats, g: vec4<f32>) -> QuadStats {
  var o = s;
  let q = g * g;
  if (WANT_MEAN) { o.sum = s.sum + g; }
  if (WANT_SUMSQ) { o.sq = s.sq + q; }
  if (WANT_SIGN) { o.sgn = s.sgn + sign(g); }
  if (WANT_NORMS) { nrm += q; }
  return o;
}

// Writes the scaled statistics of dW[m, n] (inside the matrix only).
fn store_one(m: u32, n: u32, sum: f32, sq: f32, sgn: f32) {
  if (m < p.n_in && n < p.n_out) {
    let e = m * p.n_out + n;
    if (WANT_MEAN) { mean[e] = p.mean_scale * sum; }
    if (WANT_SUMSQ) { sumsq[e] = p.sq_scale * sq; }
    if (WANT_SIGN) { sumsign[e] = p.sign_scale * sgn; }
  }
}

// Writes dW[m, n .. n+3].
fn store_quad(m: u32, n: u32, s: QuadStats) {
  store_one(m, n, s.sum.x, s.sq.x, s.sgn.x);
  store_one(m, n + 1u, s.sum.y, s.sq.y, s.sgn.y);
  store_one(m, n + 2u, s.sum.z, s.sq.z, s.sgn.z);
  store_one(m, n + 3u, s.sum.w, s.sq.w, s.sgn.w);
}
