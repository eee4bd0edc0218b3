// Elementwise kernels over flat f32 buffers. A 2-D grid covers buffers longer than
// 65535 workgroups: the flat index is x + y * (num_workgroups.x * 256).

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
  _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

// out = alpha * a + beta * out   (add: alpha = beta = 1; scale: beta = 0)
@compute @workgroup_size(256)
fn axpby(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  // beta == 0 must not read `out`: it may hold NaN from an earlier use.
  var prev = 0.0;
  if (p.beta != 0.0) { prev = p.beta * out[i]; }
  out[i] = p.alpha * a[i] + prev;
}

// In place: x = alpha * x. A separate binding, because WebGPU forbids binding one buffer
// both read-only and writable in the same dispatch.
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(256)
fn scale_in_place(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flat_index(gid, nwg);
  if (i >= p.n) { return; }
  x[i] = p.alpha * x[i];
}
