// Update rules that read per-example gradient statistics (src/optim/per_example_rules.ts),
// appended to optim_apply.wgsl. For element i, with B = p.batch examples g_1 … g_B:
//   grad[i] = ḡ = (1/B) Σ_b g_b,   S = Σ_b g_b²,   Z = Σ_b sign(g_b).
// Each entry point binds its own resources from @binding(6) on (its state slots, then the
// statistics). Entry points use different variables at the same binding: WGSL only forbids
// two variables at one binding within the same entry point.

// mean_sign: 6 = Z.
@group(0) @binding(6) var<storage, read> mean_sign_z: array<f32>;
// mean_sign_ema: 6 = m, 7 = Z.
@group(0) @binding(6) var<storage, read_write> sign_ema_m: array<f32>;
@group(0) @binding(7) var<storage, read> sign_ema_z: array<f32>;
// micro_adam, micro_adam_var, micro_adam_msq: 6 = m, 7 = ν, 8 = S.
@group(0) @binding(6) var<storage, read_write> micro_m: array<f32>;
@group(0) @binding(7) var<storage, read_write> micro_nu: array<f32>;
@group(0) @binding(8) var<storage, read> micro_s: array<f32>;

// Mean of the per-example signs: d = Z / B. The clipping scale c > 0 changes no sign, and
// coupled decay is rejected by the plan, so g itself is not used.
@compute @workgroup_size(WG)
fn mean_sign(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  store(e, mean_sign_z[e.i] / f32(p.batch));
}

// EMA of the mean of per-example signs. h0 = (β, 1 − β, _, _); m ← β·m + (1 − β)·Z/B; d = m.
@compute @workgroup_size(WG)
fn mean_sign_ema(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let m = p.h0.x * sign_ema_m[e.i] + p.h0.y * (sign_ema_z[e.i] / f32(p.batch));
  sign_ema_m[e.i] = m;
  store(e, m);
}

// The unbiased variance of the raw per-example gradients, (S − B·ḡ²)/(B − 1): 0 for B = 1, and
// clamped at 0, which rounding can cross when the examples nearly agree.
fn example_variance(i: u32) -> f32 {
  if (p.batch < 2u) { return 0.0; }
  let b = f32(p.batch);
  let mean = grad[i];
  return max((micro_s[i] - b * mean * mean) / (b - 1.0), 0.0);
}

// The Adam step with second-moment input q. h0 = (β1, 1 − β1, β2, 1 − β2), h1 = (ε, _, _, _).
// m ← β1·m + (1 − β1)·g;  ν ← β2·ν + (1 − β2)·q;  d = (m / bc1) / (√ν / √bc2 + ε).
fn micro_step(e: Elem, q: f32) {
  let m = p.h0.x * micro_m[e.i] + p.h0.y * e.g;
  let nu = p.h0.z * micro_nu[e.i] + p.h0.w * q;
  micro_m[e.i] = m;
  micro_nu[e.i] = nu;
  store(e, (m / ctrl.bc1) / (sqrt(nu) / sqrt(ctrl.bc2) + p.h1.x));
}

// The chain preprocesses every example alike, g'_b = c·g_b + λθ (clipping scale c, coupled
// decay λ), so that g = c·ḡ + λθ and the statistics of the g'_b follow from S, ḡ and B:
//   (1/B) Σ_b g'_b² = c²·S/B + λθ·(2c·ḡ + λθ),   Var(g'_b) = c²·Var(g_b).

// MicroAdam: q = (1/B) Σ_b g'_b² (= S/B without clipping and coupled decay).
@compute @workgroup_size(WG)
fn micro_adam(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let c = ctrl.grad_scale;
  let shift = blocks[e.blk].l2 * e.theta;
  let q = (c * c) * micro_s[e.i] / f32(p.batch) + shift * (2.0 * c * grad[e.i] + shift);
  micro_step(e, max(q, 0.0));
}

// MicroAdamVar: q = Var(g'_b) = c²·(S − B·ḡ²)/(B − 1), 0 for B = 1.
@compute @workgroup_size(WG)
fn micro_adam_var(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let c = ctrl.grad_scale;
  micro_step(e, (c * c) * example_variance(e.i));
}

// MicroAdamMSQ: q = max(g² − Var(g'_b)/B, 0), the unbiased estimate of the squared mean
// gradient, clipped at 0.
@compute @workgroup_size(WG)
fn micro_adam_msq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  let c = ctrl.grad_scale;
  let var_mean = (c * c) * example_variance(e.i) / f32(p.batch);
  micro_step(e, max(e.g * e.g - var_mean, 0.0));
}
