// The update rules d = rule(g, state) of src/optim/rules.ts, one entry point each, appended
// to optim_apply.wgsl. Each entry documents its hyperparameters in p.h0 / p.h1. The
// complement 1 − β is passed separately, computed in float64, so β close to 1 loses nothing.

@group(0) @binding(6) var<storage, read_write> s0: array<f32>;
@group(0) @binding(7) var<storage, read_write> s1: array<f32>;

// Identity (plain SGD): d = g.
@compute @workgroup_size(WG)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  store(e, e.g);
}

// torch SGD momentum. h0 = (μ, 1 − dampening, nesterov ? 1 : 0, _); s0 = momentum buffer b.
// Step 1: b = g (torch clones the gradient); later b ← μ·b + (1 − dampening)·g.
// d = g + μ·b with Nesterov, else d = b.
@compute @workgroup_size(WG)
fn momentum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let mu = p.h0.x;
  var b = e.g;
  if (ctrl.step > 1.0) { b = mu * s0[e.i] + p.h0.y * e.g; }
  s0[e.i] = b;
  var d = b;
  if (p.h0.z != 0.0) { d = e.g + mu * b; }
  store(e, d);
}

// Adam. h0 = (β1, 1 − β1, β2, 1 − β2), h1 = (ε, _, _, _); s0 = m, s1 = v.
// m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;  d = (m / bc1) / (√v / √bc2 + ε).
@compute @workgroup_size(WG)
fn adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let m = p.h0.x * s0[e.i] + p.h0.y * e.g;
  let v = p.h0.z * s1[e.i] + p.h0.w * e.g * e.g;
  s0[e.i] = m;
  s1[e.i] = v;
  store(e, (m / ctrl.bc1) / (sqrt(v) / sqrt(ctrl.bc2) + p.h1.x));
}

// RMSprop (torch, not centered, no momentum). h0 = (α, 1 − α, ε, _); s0 = v.
// v ← α·v + (1 − α)·g²;  d = g / (√v + ε).
@compute @workgroup_size(WG)
fn rmsprop(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let v = p.h0.x * s0[e.i] + p.h0.y * e.g * e.g;
  s0[e.i] = v;
  store(e, e.g / (sqrt(v) + p.h0.z));
}

// SignSGD: d = sign(g), with sign(0) = 0.
@compute @workgroup_size(WG)
fn sign_sgd(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  store(e, sign(e.g));
}

// Signum. h0 = (β, 1 − β, _, _); s0 = m.  m ← β·m + (1 − β)·g;  d = sign(m).
@compute @workgroup_size(WG)
fn signum(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let m = p.h0.x * s0[e.i] + p.h0.y * e.g;
  s0[e.i] = m;
  store(e, sign(m));
}

// Lion. h0 = (β1, 1 − β1, β2, 1 − β2); s0 = m.
// c = β1·m + (1 − β1)·g;  d = sign(c);  m ← β2·m + (1 − β2)·g.
@compute @workgroup_size(WG)
fn lion(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let m = s0[e.i];
  let c = p.h0.x * m + p.h0.y * e.g;
  s0[e.i] = p.h0.z * m + p.h0.w * e.g;
  store(e, sign(c));
}
