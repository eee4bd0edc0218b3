/**
 * Float64 CPU reference layers, llm.c style: each layer is a plain forward and a plain
 * backward over row-major arrays, written to be read rather than to be fast. Every GPU kernel
 * of the transformer is tested against these.
 *
 * @module
 */

/** LayerNorm epsilon, added to the biased variance inside the square root. */
export const LN_EPS = 1e-5;

/** √(2/π), the constant of the tanh GELU. */
const GELU_SCALE = Math.sqrt(2 / Math.PI);
/** Cubic coefficient of the tanh GELU. */
const GELU_CUBIC = 0.044715;

/**
 * y = x·W + b for `rows` rows; x [rows, nIn], W [nIn, nOut], b [nOut] or null.
 *
 * @example
 * ```ts
 * const y = linearForward(new Float64Array([1, 2]), new Float64Array([1, 0, 0, 1]), null, 1, 2, 2); // [1, 2]
 * ```
 */
export function linearForward(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | null,
  rows: number,
  nIn: number,
  nOut: number,
): Float64Array {
  const y = new Float64Array(rows * nOut);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < nOut; o++) {
      let sum = b ? b[o] : 0;
      for (let i = 0; i < nIn; i++) sum += x[r * nIn + i] * w[i * nOut + o];
      y[r * nOut + o] = sum;
    }
  }
  return y;
}

/**
 * Backward of {@linkcode linearForward}: dx = dy·Wᵀ, dW = xᵀ·dy, db = Σ_rows dy.
 *
 * @example
 * ```ts
 * const { dx, dw, db } = linearBackward(new Float64Array([1, 1]), new Float64Array([1, 2]), new Float64Array(4), 1, 2, 2);
 * ```
 */
export function linearBackward(
  dy: Float64Array,
  x: Float64Array,
  w: Float64Array,
  rows: number,
  nIn: number,
  nOut: number,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dx = new Float64Array(rows * nIn);
  const dw = new Float64Array(nIn * nOut);
  const db = new Float64Array(nOut);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < nOut; o++) {
      const g = dy[r * nOut + o];
      db[o] += g;
      for (let i = 0; i < nIn; i++) {
        dx[r * nIn + i] += g * w[i * nOut + o];
        dw[i * nOut + o] += g * x[r * nIn + i];
      }
    }
  }
  return { dx, dw, db };
}

/**
 * LayerNorm over the last dimension d: y = (x − mean)·rstd·γ + β, with the biased variance
 * and rstd = 1/√(var + {@linkcode LN_EPS}). Returns mean and rstd per row for the backward.
 *
 * @example
 * ```ts
 * const { y } = layerNormForward(new Float64Array([1, 3]), new Float64Array([1, 1]), new Float64Array(2), 1, 2);
 * ```
 */
export function layerNormForward(
  x: Float64Array,
  gamma: Float64Array,
  beta: Float64Array,
  rows: number,
  d: number,
): { y: Float64Array; mean: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(rows * d);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * d, (r + 1) * d);
    let m = 0;
    for (let i = 0; i < d; i++) m += row[i];
    m /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (row[i] - m) ** 2;
    v /= d;
    const s = 1 / Math.sqrt(v + LN_EPS);
    for (let i = 0; i < d; i++) y[r * d + i] = (row[i] - m) * s * gamma[i] + beta[i];
    mean[r] = m;
    rstd[r] = s;
  }
  return { y, mean, rstd };
}

/**
 * Backward of {@linkcode layerNormForward}. With n = (x − mean)·rstd and g = dy·γ:
 * dx = rstd·(g − mean(g) − n·mean(g·n)), dγ = Σ_rows dy·n, dβ = Σ_rows dy.
 *
 * @example
 * ```ts
 * const x = new Float64Array([1, 3]), gamma = new Float64Array([1, 1]);
 * const { mean, rstd } = layerNormForward(x, gamma, new Float64Array(2), 1, 2);
 * const { dx } = layerNormBackward(new Float64Array([1, 0]), x, mean, rstd, gamma, 1, 2);
 * ```
 */
export function layerNormBackward(
  dy: Float64Array,
  x: Float64Array,
  mean: Float64Array,
  rstd: Float64Array,
  gamma: Float64Array,
  rows: number,
  d: number,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const dx = new Float64Array(rows * d);
  const dgamma = new Float64Array(d);
  const dbeta = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const base = r * d;
    let meanG = 0;
    let meanGN = 0;
    for (let i = 0; i < d; i++) {
      const n = (x[base + i] - mean[r]) * rstd[r];
      const g = dy[base + i] * gamma[i];
      meanG += g;
      meanGN += g * n;
      dgamma[i] += dy[base + i] * n;
      dbeta[i] += dy[base + i];
    }
    meanG /= d;
    meanGN /= d;
    for (let i = 0; i < d; i++) {
      const n = (x[base + i] - mean[r]) * rstd[r];
      const g = dy[base + i] * gamma[i];
      dx[base + i] = rstd[r] * (g - meanG - n * meanGN);
    }
  }
  return { dx, dgamma, dbeta };
}

/**
 * Elementwise tanh GELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
 *
 * @example
 * ```ts
 * const y = geluForward(new Float64Array([-1, 0, 1]));
 * ```
 */
export function geluForward(x: Float64Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    y[i] = 0.5 * v * (1 + Math.tanh(GELU_SCALE * (v + GELU_CUBIC * v * v * v)));
  }
  return y;
}

/**
 * Backward of {@linkcode geluForward}: dx = dy·(0.5(1 + t) + 0.5·x·(1 − t²)·√(2/π)(1 + 3·0.044715·x²)),
 * t = tanh(√(2/π)(x + 0.044715x³)).
 *
 * @example
 * ```ts
 * const dx = geluBackward(new Float64Array([1, 1]), new Float64Array([-1, 1]));
 * ```
 */
export function geluBackward(dy: Float64Array, x: Float64Array): Float64Array {
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const t = Math.tanh(GELU_SCALE * (v + GELU_CUBIC * v * v * v));
    const du = GELU_SCALE * (1 + 3 * GELU_CUBIC * v * v);
    dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du);
  }
  return dx;
}

/**
 * Whether query i may attend to key j of an example with `length` valid positions: keys at or
 * past the length are padding, and a causal model never looks ahead.
 *
 * @example
 * ```ts
 * attentionAllowed(2, 1, true, 5); // true
 * ```
 */
export function attentionAllowed(i: number, j: number, causal: boolean, length: number): boolean {
  return j < length && (!causal || j <= i);
}

/**
 * Softmax of `scores[0..n)` restricted to `allowed` entries, written into `out` (others 0).
 * Stable (subtracts the max). A row with no allowed entry gets all-zero probabilities, so a
 * fully masked query outputs zero instead of NaN.
 *
 * @example
 * ```ts
 * const p = new Float64Array(3);
 * maskedSoftmax(new Float64Array([1, 2, 3]), [true, true, false], p); // p[2] = 0
 * ```
 */
export function maskedSoftmax(scores: Float64Array, allowed: readonly boolean[], out: Float64Array): void {
  let max = -Infinity;
  for (let j = 0; j < scores.length; j++) if (allowed[j] && scores[j] > max) max = scores[j];
  out.fill(0);
  if (max === -Infinity) return;
  let sum = 0;
  for (let j = 0; j < scores.length; j++) {
    if (!allowed[j]) continue;
    out[j] = Math.exp(scores[j] - max);
    sum += out[j];
  }
  for (let j = 0; j < scores.length; j++) out[j] /= sum;
}

/**
 * Multi-head scaled dot-product attention on a fused qkv [B·T, 3d] (q = cols [0,d), k = [d,2d),
 * v = [2d,3d); head h uses cols h·dh..(h+1)·dh of each). Scores are scaled by 1/√dh; keys past
 * `lengths[b]` and, if causal, keys after the query are masked. Returns out [B·T, d] and the
 * probabilities [B, H, T, T] (masked entries 0) that the backward needs.
 *
 * @example
 * ```ts
 * const qkv = new Float64Array(1 * 2 * 6).fill(0.5);
 * const { out } = attentionForward(qkv, 1, 2, 1, 2, true, new Int32Array([2]));
 * ```
 */
export function attentionForward(
  qkv: Float64Array,
  B: number,
  T: number,
  H: number,
  dh: number,
  causal: boolean,
  lengths: Int32Array,
): { out: Float64Array; probs: Float64Array } {
  const d = H * dh;
  const scale = 1 / Math.sqrt(dh);
  const out = new Float64Array(B * T * d);
  const probs = new Float64Array(B * H * T * T);
  const scores = new Float64Array(T);
  const allowed = new Array<boolean>(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const q = (b * T + i) * 3 * d + h * dh;
        for (let j = 0; j < T; j++) {
          allowed[j] = attentionAllowed(i, j, causal, lengths[b]);
          const k = (b * T + j) * 3 * d + d + h * dh;
          let dot = 0;
          for (let e = 0; e < dh; e++) dot += qkv[q + e] * qkv[k + e];
          scores[j] = dot * scale;
        }
        const p = probs.subarray(((b * H + h) * T + i) * T, ((b * H + h) * T + i + 1) * T);
        maskedSoftmax(scores, allowed, p);
        const o = (b * T + i) * d + h * dh;
        for (let j = 0; j < T; j++) {
          const v = (b * T + j) * 3 * d + 2 * d + h * dh;
          for (let e = 0; e < dh; e++) out[o + e] += p[j] * qkv[v + e];
        }
      }
    }
  }
  return { out, probs };
}

/**
 * Backward of {@linkcode attentionForward}. The masks live in `probs` (masked entries are 0,
 * so they get no gradient). dv_j = Σ_i p_ij·dout_i; dp_ij = dout_i·v_j;
 * ds_ij = p_ij·(dp_ij − Σ_j' p_ij'·dp_ij'); dq_i = Σ_j ds_ij·k_j/√dh; dk_j = Σ_i ds_ij·q_i/√dh.
 *
 * @example
 * ```ts
 * const qkv = new Float64Array(12).fill(0.5), lengths = new Int32Array([2]);
 * const { probs } = attentionForward(qkv, 1, 2, 1, 2, true, lengths);
 * const dqkv = attentionBackward(new Float64Array(4).fill(1), qkv, probs, 1, 2, 1, 2);
 * ```
 */
export function attentionBackward(
  dout: Float64Array,
  qkv: Float64Array,
  probs: Float64Array,
  B: number,
  T: number,
  H: number,
  dh: number,
): Float64Array {
  const d = H * dh;
  const scale = 1 / Math.sqrt(dh);
  const dqkv = new Float64Array(B * T * 3 * d);
  const dp = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const p = probs.subarray(((b * H + h) * T + i) * T, ((b * H + h) * T + i + 1) * T);
        const o = (b * T + i) * d + h * dh;
        const q = (b * T + i) * 3 * d + h * dh;
        let pdp = 0;
        for (let j = 0; j < T; j++) {
          const v = (b * T + j) * 3 * d + 2 * d + h * dh;
          let dot = 0;
          for (let e = 0; e < dh; e++) {
            dot += dout[o + e] * qkv[v + e];
            dqkv[v + e] += p[j] * dout[o + e];
          }
          dp[j] = dot;
          pdp += p[j] * dot;
        }
        for (let j = 0; j < T; j++) {
          const ds = p[j] * (dp[j] - pdp) * scale;
          if (ds === 0) continue;
          const k = (b * T + j) * 3 * d + d + h * dh;
          for (let e = 0; e < dh; e++) {
            dqkv[q + e] += ds * qkv[k + e];
            dqkv[k + e] += ds * qkv[q + e];
          }
        }
      }
    }
  }
  return dqkv;
}

/**
 * Row-wise softmax cross-entropy. Returns each row's loss (logsumexp − logit[target]) and the
 * gradient of that row's loss, softmax − onehot, unscaled: callers apply their own weights.
 * A target of −1 is ignored: loss 0 and zero gradient.
 *
 * @example
 * ```ts
 * const { losses, dlogits } = crossEntropyForwardBackward(new Float64Array([0, 1, 2]), new Int32Array([2]), 1, 3);
 * ```
 */
export function crossEntropyForwardBackward(
  logits: Float64Array,
  targets: Int32Array,
  rows: number,
  nClasses: number,
): { losses: Float64Array; dlogits: Float64Array } {
  const losses = new Float64Array(rows);
  const dlogits = new Float64Array(rows * nClasses);
  for (let r = 0; r < rows; r++) {
    const target = targets[r];
    if (target === -1) continue;
    if (target < 0 || target >= nClasses) throw new RangeError(`target ${target} out of [0, ${nClasses})`);
    const row = logits.subarray(r * nClasses, (r + 1) * nClasses);
    let max = -Infinity;
    for (let c = 0; c < nClasses; c++) max = Math.max(max, row[c]);
    let sum = 0;
    for (let c = 0; c < nClasses; c++) sum += Math.exp(row[c] - max);
    losses[r] = max + Math.log(sum) - row[target];
    for (let c = 0; c < nClasses; c++) dlogits[r * nClasses + c] = Math.exp(row[c] - max) / sum;
    dlogits[r * nClasses + target] -= 1;
  }
  return { losses, dlogits };
}
