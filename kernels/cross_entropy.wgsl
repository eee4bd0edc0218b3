// Softmax cross-entropy, forward and backward in one pass, and the deterministic reduction of
// the per-row losses into per-example and batch losses (no atomics, fixed tree orders).
//
// src/nn/cross_entropy.ts prepends one of two headers that declare the logits binding and
// `fn store_grad(i, g)`:
//   out of place: logits at @binding(1) read-only, dlogits at @binding(5), store_grad writes dlogits
//   in place:     logits at @binding(1) read_write, store_grad overwrites logits (saves a
//                 [rows, C] buffer, 1.6 GB for GPT-2's vocabulary at B·T = 8192)
//
// forward_backward, one workgroup per row r (rows beyond 65535 fold into a 2-D grid):
//   loss[r]       = logsumexp(logits[r]) − logits[r, target[r]]
//   dlogits[r, c] = w[r] · (softmax(logits[r])_c − [c == target[r]])
// A target outside [0, C) (−1 by convention) marks an ignored row: loss 0, dlogits 0.
// ("target" is a WGSL reserved word, hence target_id.)

const WG: u32 = 256u;
const LOWEST: f32 = -3.4028234663852886e38;

struct Params {
  rows: u32,
  n_classes: u32,
  rows_per_example: u32, // example_losses only
  batch: u32,            // batch_loss only
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> losses: array<f32>;

var<workgroup> scratch: array<vec2<f32>, WG>;

fn row_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

fn is_valid(t: i32) -> bool {
  return t >= 0 && u32(t) < p.n_classes;
}

// Merges two (max, Σ exp(x − max)) pairs of an online softmax.
fn merge_softmax(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// Fixed-order tree over scratch: scratch[0] ends as the merge of all WG entries.
fn tree_softmax(lid: u32) {
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { scratch[lid] = merge_softmax(scratch[lid], scratch[lid + stride]); }
  }
  workgroupBarrier();
}

fn tree_sum(lid: u32) {
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn forward_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let row = row_index(wid, nwg);
  // Uniform control flow: the whole workgroup takes the same branch.
  if (row >= p.rows) { return; }
  let base = row * p.n_classes;
  let target_id = targets[row];
  let valid = is_valid(target_id);
  // Read the target's logit before anything is overwritten (in-place mode).
  var target_logit = 0.0;
  if (lid == 0u && valid) { target_logit = logits[base + u32(target_id)]; }

  // Online softmax statistics of this invocation's strided columns: one exp per element.
  var m = LOWEST;
  var s = 0.0;
  for (var c = lid; c < p.n_classes; c += WG) {
    let x = logits[base + c];
    if (x > m) {
      s = s * exp(m - x) + 1.0;
      m = x;
    } else {
      s += exp(x - m);
    }
  }
  scratch[lid] = vec2(m, s);
  tree_softmax(lid);
  let stats = scratch[0];
  let inv_sum = 1.0 / stats.y;

  if (lid == 0u) { losses[row] = select(0.0, stats.x + log(stats.y) - target_logit, valid); }
  let w = select(0.0, weights[row], valid);
  for (var c = lid; c < p.n_classes; c += WG) {
    let prob = exp(logits[base + c] - stats.x) * inv_sum;
    store_grad(base + c, w * (prob - select(0.0, 1.0, i32(c) == target_id)));
  }
}

// ---- per-example and batch losses ----------------------------------------------------------

@group(0) @binding(1) var<storage, read> row_losses: array<f32>;
@group(0) @binding(3) var<storage, read_write> example_losses: array<f32>;

// One workgroup per example: mean loss over its valid rows [b·R, (b+1)·R), 0 if it has none.
@compute @workgroup_size(WG)
fn example_loss(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
  let b = row_index(wid, nwg);
  if (b >= p.batch) { return; }
  var acc = vec2(0.0, 0.0); // (Σ loss, valid rows)
  for (var k = lid; k < p.rows_per_example; k += WG) {
    let r = b * p.rows_per_example + k;
    if (is_valid(targets[r])) { acc += vec2(row_losses[r], 1.0); }
  }
  scratch[lid] = acc;
  tree_sum(lid);
  if (lid == 0u) {
    let total = scratch[0];
    example_losses[b] = select(0.0, total.x / total.y, total.y > 0.0);
  }
}

@group(0) @binding(1) var<storage, read> example_in: array<f32>;
@group(0) @binding(2) var<storage, read_write> batch_out: array<f32>;

// One workgroup: batch_out[0] = mean over the B examples of their losses.
@compute @workgroup_size(WG)
fn batch_loss(@builtin(local_invocation_index) lid: u32) {
  var acc = 0.0;
  for (var b = lid; b < p.batch; b += WG) { acc += example_in[b]; }
  scratch[lid] = vec2(acc, 0.0);
  tree_sum(lid);
  if (lid == 0u) { batch_out[0] = scratch[0].x / f32(p.batch); }
}
