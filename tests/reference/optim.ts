/**
 * Float64 references for the optimizer tests, written from the published update rules
 * (torch.optim for SGD, Adam, AdamW, RMSprop; the papers for SignSGD, Signum, Lion).
 * Each step updates `p` and the state arrays in place at the indices `live` (the gaps
 * between blocks are skipped). Per-element arrays give the lr multiplier (`mult`), the
 * coupled decay (`l2`, added to g) and the decoupled decay (`wd`, θ ← θ − η·mult·(d + wd·θ)).
 */

/** Per-element coefficients and the indices of real parameters. */
export interface Elementwise {
  live: readonly number[];
  mult: Float64Array;
  l2: Float64Array;
  wd: Float64Array;
}

/** One reference step: t is 1 for the first update, lr the rate of this step. */
export type RefStep = (
  p: Float64Array,
  g: Float64Array,
  s: Record<string, Float64Array>,
  t: number,
  lr: number,
  e: Elementwise,
) => void;

/** Applies a direction d_i with decoupled decay and the multiplier. */
function apply(p: Float64Array, i: number, d: number, lr: number, e: Elementwise): void {
  p[i] -= lr * e.mult[i] * (d + e.wd[i] * p[i]);
}

/** torch SGD: buf = g on step 1, then buf = μ buf + (1 − τ) g; Nesterov d = g + μ buf. */
export function sgdRef(momentum: number, dampening: number, nesterov: boolean): RefStep {
  return (p, g, s, t, lr, e) => {
    for (const i of e.live) {
      const gi = g[i] + e.l2[i] * p[i];
      let d = gi;
      if (momentum !== 0) {
        const buf = s.momentum_buffer;
        buf[i] = t === 1 ? gi : momentum * buf[i] + (1 - dampening) * gi;
        d = nesterov ? gi + momentum * buf[i] : buf[i];
      }
      apply(p, i, d, lr, e);
    }
  };
}

/** torch Adam / AdamW: bias-corrected moments, eps outside the square root. */
export function adamRef(b1: number, b2: number, eps: number): RefStep {
  return (p, g, s, t, lr, e) => {
    const m = s.exp_avg, v = s.exp_avg_sq;
    for (const i of e.live) {
      const gi = g[i] + e.l2[i] * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const mHat = m[i] / (1 - b1 ** t);
      const vHat = v[i] / (1 - b2 ** t);
      apply(p, i, mHat / (Math.sqrt(vHat) + eps), lr, e);
    }
  };
}

/** torch RMSprop with defaults: v = α v + (1 − α) g², d = g / (√v + ε). */
export function rmspropRef(alpha: number, eps: number): RefStep {
  return (p, g, s, _t, lr, e) => {
    const v = s.square_avg;
    for (const i of e.live) {
      const gi = g[i] + e.l2[i] * p[i];
      v[i] = alpha * v[i] + (1 - alpha) * gi * gi;
      apply(p, i, gi / (Math.sqrt(v[i]) + eps), lr, e);
    }
  };
}

/** SignSGD: d = sign(g). */
export function signSgdRef(): RefStep {
  return (p, g, _s, _t, lr, e) => {
    for (const i of e.live) apply(p, i, Math.sign(g[i] + e.l2[i] * p[i]), lr, e);
  };
}

/** Signum: m = β m + (1 − β) g, d = sign(m). */
export function signumRef(beta: number): RefStep {
  return (p, g, s, _t, lr, e) => {
    const m = s.momentum_buffer;
    for (const i of e.live) {
      m[i] = beta * m[i] + (1 - beta) * (g[i] + e.l2[i] * p[i]);
      apply(p, i, Math.sign(m[i]), lr, e);
    }
  };
}

/** Lion: c = β1 m + (1 − β1) g, d = sign(c), m = β2 m + (1 − β2) g. */
export function lionRef(b1: number, b2: number): RefStep {
  return (p, g, s, _t, lr, e) => {
    const m = s.exp_avg;
    for (const i of e.live) {
      const gi = g[i] + e.l2[i] * p[i];
      const c = b1 * m[i] + (1 - b1) * gi;
      m[i] = b2 * m[i] + (1 - b2) * gi;
      apply(p, i, Math.sign(c), lr, e);
    }
  };
}

/** torch clip_grad_norm_: g ← g · min(1, maxNorm / (‖g‖ + 1e-6)); returns ‖g‖. */
export function clipRef(g: Float64Array, live: readonly number[], maxNorm: number): number {
  let sq = 0;
  for (const i of live) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const scale = Math.min(1, maxNorm / (norm + 1e-6));
  for (const i of live) g[i] *= scale;
  return norm;
}
