// Shared prologue and epilogue of the optimizer kernels (src/optim/): one invocation per
// element of the flat parameter buffer. A rule module (optim_rules.wgsl, or a later one) is
// appended to this text and declares its own bindings from @binding(6) on: first its state
// slots, then any extra gradient statistics (Σ_b g_b², Σ_b sign g_b) it reads.
//
// For element i of block b (found through the granule table: one u32 per 64 floats, since
// block offsets are multiples of 64):
//   g  = grad_scale · grad[i] + l2_b · θ               clipping, then coupled (L2) decay
//   d  = rule(g, state)                                  the entry point
//   θ ← θ − (lr · (α_b · d + λlr_b · θ) + λ_b · θ)       schedule, per-block multiplier α_b,
//                                                        decoupled decay scaled by lr or not
// Elements in the gaps between blocks (i ≥ end_b) are neither read nor written.

const WG: u32 = 256u;
const GRANULE: u32 = 64u;

struct Params {
  n: u32,
  // B, the examples the gradient statistics come from (GradStats.batchSize).
  batch: u32,
  _p1: u32,
  _p2: u32,
  // Rule hyperparameters; each entry point documents their order.
  h0: vec4<f32>,
  h1: vec4<f32>,
}

// Written once per step by optim_control.wgsl. bc1, bc2 = 1 − β^t (1 when unused).
struct Control {
  step: f32,
  lr: f32,
  grad_norm: f32,
  grad_scale: f32,
  bc1: f32,
  bc2: f32,
  _r0: f32,
  _r1: f32,
}

// Per-block coefficients built in src/optim/plan.ts; `end` is the block's end offset.
struct Block {
  end: u32,
  alpha: f32,
  decay_lr: f32,
  decay: f32,
  l2: f32,
  _r0: f32,
  _r1: f32,
  _r2: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read> ctrl: Control;
@group(0) @binding(4) var<storage, read> granule_block: array<u32>;
@group(0) @binding(5) var<storage, read> blocks: array<Block>;

struct Elem {
  i: u32,
  live: bool,
  blk: u32,
  theta: f32,
  g: f32,
}

// The element this invocation owns, with its preprocessed gradient. `live` is false past the
// end of the buffer and in the gaps between blocks.
fn load(gid: vec3<u32>, nwg: vec3<u32>) -> Elem {
  var e: Elem;
  e.i = gid.x + gid.y * nwg.x * WG;
  e.live = false;
  if (e.i >= p.n) { return e; }
  e.blk = granule_block[e.i / GRANULE];
  let b = blocks[e.blk];
  if (e.i >= b.end) { return e; }
  e.live = true;
  e.theta = param[e.i];
  e.g = ctrl.grad_scale * grad[e.i] + b.l2 * e.theta;
  return e;
}

// Applies the update direction d to the element's parameter.
fn store(e: Elem, d: f32) {
  let b = blocks[e.blk];
  param[e.i] = e.theta - (ctrl.lr * (b.alpha * d + b.decay_lr * e.theta) + b.decay * e.theta);
}
