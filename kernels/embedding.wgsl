// Token and position embeddings, forward and backward, deterministic (no atomics).
//   forward:  x[b,t,:] = tokens[tok[b,t]] + positions[t]
//   backward: dtokens[v] = Σ of dx over the rows whose token is v, in the order of a CSR index
//             built on the CPU (rows grouped by token, then example, then t);
//             dpositions[t] = Σ_b dx[b,t] (batch_sum, also used for the ViT's CLS and positions).
// A 2-D grid covers more than 65535 workgroups: flat index = x + y * (num_workgroups.x * 256).

const WG: u32 = 256u;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ---- forward: one invocation per output element --------------------------------------------

struct ForwardParams {
  n: u32,        // batch * seq_len * d
  seq_len: u32,
  d: u32,
  vocab: u32,
}

@group(0) @binding(0) var<uniform> fp: ForwardParams;
@group(0) @binding(1) var<storage, read> tokens: array<i32>;
@group(0) @binding(2) var<storage, read> token_weight: array<f32>;
@group(0) @binding(3) var<storage, read> position_weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG)
fn embed_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= fp.n) { return; }
  let row = i / fp.d;
  let c = i % fp.d;
  // A negative id becomes a huge u32, so one test catches both ends; such ids embed as zero.
  let v = u32(tokens[row]);
  var token_part = 0.0;
  if (v < fp.vocab) { token_part = token_weight[v * fp.d + c]; }
  x[i] = token_part + position_weight[(row % fp.seq_len) * fp.d + c];
}

// ---- token gradient: one invocation per (vocabulary row, column) ----------------------------

struct TokenGradParams {
  n: u32,          // vocab * d
  d: u32,
  accumulate: u32, // 1: dtokens += sum (tied LM head wrote its part first); 0: dtokens = sum
}

@group(0) @binding(0) var<uniform> tp: TokenGradParams;
@group(0) @binding(1) var<storage, read> dx: array<f32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>; // [vocab + 1]: rows of v are
@group(0) @binding(3) var<storage, read> rows: array<u32>;    // rows[offsets[v] .. offsets[v+1])
@group(0) @binding(4) var<storage, read_write> dtokens: array<f32>;

@compute @workgroup_size(WG)
fn token_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= tp.n) { return; }
  let v = i / tp.d;
  let c = i % tp.d;
  var acc = 0.0;
  for (var k = offsets[v]; k < offsets[v + 1u]; k++) {
    acc += dx[rows[k] * tp.d + c];
  }
  // Overwrite mode must not read dtokens: it may hold NaN from an earlier use.
  if (tp.accumulate != 0u) { acc = dtokens[i] + acc; }
  dtokens[i] = acc;
}

// ---- sum over the batch: out[t,:] = Σ_b dx[b,t,:] for t < seq_len, 0 for seq_len <= t < n_rows

struct BatchSumParams {
  n: u32,       // n_rows * d
  batch: u32,
  seq_len: u32, // rows per example in dx
  d: u32,
}

@group(0) @binding(0) var<uniform> bp: BatchSumParams;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> summed: array<f32>;

@compute @workgroup_size(WG)
fn batch_sum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= bp.n) { return; }
  let t = i / bp.d;
  var acc = 0.0;
  if (t < bp.seq_len) {
    for (var b = 0u; b < bp.batch; b++) {
      acc += grad[(b * bp.seq_len + t) * bp.d + i % bp.d];
    }
  }
  summed[i] = acc;
}
