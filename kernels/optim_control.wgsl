// The optimizer's per-step scalars, computed by one invocation on the GPU so that a step needs
// no readback: the step counter t, the learning rate from the schedule, the gradient-clipping
// scale and the bias corrections 1 − β^t. Formulas are documented in src/optim/schedule.ts.

struct Tick {
  kind: u32,        // 0 constant, 1 cosine, 2 linear decay, 3 step decay
  n_blocks: u32,    // entries of block_sq (tick_clip)
  warmup: u32,      // warmup steps W (0: none)
  period: u32,      // decay steps T, or the step size of step decay
  lr: f32,          // η0: the peak learning rate
  warmup_init: f32, // learning rate at s = 0 during warmup
  final_lr: f32,    // η_T of cosine and linear decay
  gamma: f32,       // factor of step decay
  max_norm: f32,    // clipping threshold (tick_clip)
  delta1: f32,      // 1 − β1 for bc1 (1 when unused, giving bc1 = 1)
  delta2: f32,      // 1 − β2 for bc2
  _pad: f32,
}

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

@group(0) @binding(0) var<uniform> q: Tick;
@group(0) @binding(1) var<storage, read_write> ctrl: Control;
@group(0) @binding(2) var<storage, read> block_sq: array<f32>;

// sin(π/2 · u) for u in [0, 1], by its Taylor series to x^15 (error < 1e-9): WGSL only
// bounds sin/cos to 2^-11 absolute, too coarse for a learning rate.
fn sin_half_pi(u: f32) -> f32 {
  let x = 1.5707963267948966 * u;
  let x2 = x * x;
  var s = -1.0 / 1307674368000.0;
  s = s * x2 + 1.0 / 6227020800.0;
  s = s * x2 - 1.0 / 39916800.0;
  s = s * x2 + 1.0 / 362880.0;
  s = s * x2 - 1.0 / 5040.0;
  s = s * x2 + 1.0 / 120.0;
  s = s * x2 - 1.0 / 6.0;
  return x + x * x2 * s;
}

// x^k by binary powering (each product correctly rounded; no log/exp approximations).
fn pow_int(x: f32, k: u32) -> f32 {
  var result = 1.0;
  var base = x;
  var e = k;
  while (e > 0u) {
    if ((e & 1u) == 1u) { result *= base; }
    base *= base;
    e >>= 1u;
  }
  return result;
}

// log(1 − δ) for δ in [0, 0.5], as 2·atanh(z), z = −δ / (2 − δ), |z| ≤ 1/3: the series to z^17
// is exact to float precision, while log(β) near β = 1 is only bounded to 2^-21 absolute.
fn log_one_minus(delta: f32) -> f32 {
  let z = -delta / (2.0 - delta);
  let z2 = z * z;
  var s = 1.0 / 17.0;
  for (var k = 15i; k >= 1i; k -= 2i) { s = s * z2 + 1.0 / f32(k); }
  return 2.0 * z * s;
}

// 1 − e^x for x ≤ 0, by its Taylor series when |x| < 0.5 (no cancellation near 0).
fn one_minus_exp(x: f32) -> f32 {
  if (x <= -0.5) { return 1.0 - exp(x); }
  // s = Σ_{j≥0} x^j / (j + 1)! = 1 + x/2 · (1 + x/3 · (1 + …)), so e^x − 1 = x·s.
  var s = 1.0;
  for (var k = 12i; k >= 2i; k--) { s = 1.0 + s * x / f32(k); }
  return -x * s;
}

// The bias correction 1 − β^t, given δ = 1 − β (computed in float64 by the host, so that
// β = 0.999 loses nothing): −expm1(t · log1p(−δ)), accurate to ~1e-6 relative for every t.
// β ≤ 0.5 takes the direct product, which then has no cancellation.
fn one_minus_pow(delta: f32, t: u32) -> f32 {
  if (delta >= 0.5) { return 1.0 - pow_int(1.0 - delta, t); }
  return one_minus_exp(f32(t) * log_one_minus(delta));
}

// Learning rate before the update numbered s = t − 1 (0 for the first update).
fn schedule(s: u32) -> f32 {
  if (s < q.warmup) {
    return q.warmup_init + (q.lr - q.warmup_init) * (f32(s) / f32(q.warmup));
  }
  let k = s - q.warmup;
  let r = f32(min(k, q.period)) / f32(q.period);
  switch q.kind {
    case 1u: {
      // ½(1 + cos πr) = sin²(π/2 · (1 − r)): no cancellation near the end of the decay.
      let c = sin_half_pi(f32(q.period - min(k, q.period)) / f32(q.period));
      return q.final_lr + (q.lr - q.final_lr) * (c * c);
    }
    case 2u: { return q.lr + (q.final_lr - q.lr) * r; }
    case 3u: { return q.lr * pow_int(q.gamma, k / q.period); }
    default: { return q.lr; }
  }
}

fn advance() {
  let t = u32(ctrl.step) + 1u;
  ctrl.step = f32(t);
  ctrl.lr = schedule(t - 1u);
  ctrl.bc1 = one_minus_pow(q.delta1, t);
  ctrl.bc2 = one_minus_pow(q.delta2, t);
}

@compute @workgroup_size(1)
fn tick() {
  advance();
  ctrl.grad_norm = 0.0;
  ctrl.grad_scale = 1.0;
}

// With global-norm clipping: ‖g‖ = √(Σ_b ‖g_b‖²), summed in block order (deterministic), and
// scale = min(1, max_norm / (‖g‖ + 1e-6)) as in torch.nn.utils.clip_grad_norm_.
@compute @workgroup_size(1)
fn tick_clip() {
  advance();
  var sq = 0.0;
  for (var b = 0u; b < q.n_blocks; b++) { sq += block_sq[b]; }
  let norm = sqrt(sq);
  ctrl.grad_norm = norm;
  ctrl.grad_scale = min(1.0, q.max_norm / (norm + 1e-6));
}
