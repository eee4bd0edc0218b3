// ViT patch input. Images are [B, C, S, S]; patch p = py * (S/ps) + px (row-major) is the
// vector ordered (c, dy, dx) of length K = C·ps·ps. The sequence is [CLS, patch 0, ..., N-1].
//   gather:          patches[b*N + p, k] = image pixel (im2col)
//   assemble:        x[b,0] = cls + positions[0];  x[b,1+p] = patch_out[b*N + p] + positions[1+p]
//   assemble_grad:   dpatch_out[b*N + p] = dx[b,1+p]   (dcls, dpositions: embedding.wgsl batch_sum)
// One invocation per output element; a 2-D grid covers more than 65535 workgroups.

const WG: u32 = 256u;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ---- im2col -------------------------------------------------------------------------------

struct GatherParams {
  n: u32,          // B * N * K
  channels: u32,
  image_side: u32, // S
  patch_side: u32, // ps ("patch" is a WGSL reserved word)
}

@group(0) @binding(0) var<uniform> gp: GatherParams;
@group(0) @binding(1) var<storage, read> images: array<f32>;
@group(0) @binding(2) var<storage, read_write> patches: array<f32>;

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= gp.n) { return; }
  let ps = gp.patch_side;
  let per_side = gp.image_side / ps;
  let k_len = gp.channels * ps * ps;
  let row = i / k_len;
  let k = i % k_len;
  let b = row / (per_side * per_side);
  let p = row % (per_side * per_side);
  let c = k / (ps * ps);
  let y = (p / per_side) * ps + (k / ps) % ps;
  let x = (p % per_side) * ps + k % ps;
  patches[i] = images[((b * gp.channels + c) * gp.image_side + y) * gp.image_side + x];
}

// ---- sequence assembly ----------------------------------------------------------------------

struct AssembleParams {
  n: u32,         // B * (N + 1) * d
  n_patches: u32, // N
  d: u32,
}

@group(0) @binding(0) var<uniform> ap: AssembleParams;
@group(0) @binding(1) var<storage, read> patch_out: array<f32>;
@group(0) @binding(2) var<storage, read> cls: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<f32>;
@group(0) @binding(4) var<storage, read_write> seq: array<f32>;

@compute @workgroup_size(WG)
fn assemble(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= ap.n) { return; }
  let seq_len = ap.n_patches + 1u;
  let row = i / ap.d;
  let c = i % ap.d;
  let b = row / seq_len;
  let t = row % seq_len;
  var token = 0.0;
  if (t == 0u) {
    token = cls[c];
  } else {
    token = patch_out[(b * ap.n_patches + t - 1u) * ap.d + c];
  }
  seq[i] = token + positions[t * ap.d + c];
}

// ---- backward of the assembly for the patch rows ----------------------------------------------

@group(0) @binding(1) var<storage, read> dseq: array<f32>;
@group(0) @binding(2) var<storage, read_write> dpatch_out: array<f32>;

@compute @workgroup_size(WG)
fn assemble_grad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // ap.n is B * N * d here: one invocation per patch-row element.
  let i = flat_index(gid, nwg);
  if (i >= ap.n) { return; }
  let row = i / ap.d;
  let b = row / ap.n_patches;
  let p = row % ap.n_patches;
  dpatch_out[i] = dseq[(b * (ap.n_patches + 1u) + 1u + p) * ap.d + i % ap.d];
}
