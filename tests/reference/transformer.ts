/**
 * Float64 CPU reference of the whole gradscope transformer, forward and backward, llm.c style:
 * the forward keeps every intermediate in a cache and the backward walks it in reverse, top to
 * bottom. GPU kernels and per-example statistics are tested against it.
 *
 * Semantics (the GPU model follows the same):
 * - Token input: x[b,t] = tokens[tok] + positions[t]. Patch input: image [C,H,W], patch
 *   p = py·(W/ps) + px, patch vector ordered (c, dy, dx); x[b,0] = cls + positions[0],
 *   x[b,1+p] = patch·W + bias + positions[1+p].
 * - Pre-LN: x += proj(attn(qkv(LN1 x))); x += mlp(LN2 x); ln_f at the end. Post-LN:
 *   x = LN1(x + attn(x)); x = LN2(x + mlp(x)). "none": no norms.
 * - LM head: logits = h·head.weight, or h·tokensᵀ if tied; no bias. Per-example loss = mean CE
 *   over targets ≠ −1 (0 if none). Classifier: pooled = h[b,0] ("cls") or the mean over
 *   t < lengths[b] ("mean"); logits = pooled·W + b; per-example loss = CE.
 * - Batch loss = mean over examples, so the gradient is (1/B)·Σ_b ∇loss_b.
 *
 * @module
 */

import type { PatchInput, TransformerConfig } from "../../src/nn/config.ts";
import type { ParamLayout } from "../../src/nn/layout.ts";
import {
  attentionBackward,
  attentionForward,
  crossEntropyForwardBackward,
  geluBackward,
  geluForward,
  layerNormBackward,
  layerNormForward,
  linearBackward,
  linearForward,
} from "./layers.ts";

/** One batch of B examples. */
export interface RefBatch {
  /** Number of examples. */
  B: number;
  /** [B·T] token ids, for token input. */
  tokens?: Int32Array;
  /** [B, C, H, W] pixels, for patch input. */
  images?: Float64Array;
  /** [B] valid positions (keys at or past it are masked); default T. */
  lengths?: Int32Array;
  /** LM: [B·T] next-token ids, −1 = ignore; classifier: [B] class ids. */
  targets: Int32Array;
}

/** LayerNorm statistics kept for the backward (the input is kept by the caller). */
export interface NormCache {
  /** [rows] means. */
  mean: Float64Array;
  /** [rows] 1/√(var + eps). */
  rstd: Float64Array;
}

/** Every intermediate of one transformer block, [B·T, ·] row-major. */
export interface BlockCache {
  /** Block input (residual stream). */
  xIn: Float64Array;
  /** LN1 statistics: of `xIn` (Pre-LN) or of `r1` (Post-LN); null without norms. */
  ln1: NormCache | null;
  /** Input of the qkv projection. */
  attnIn: Float64Array;
  /** Fused q, k, v [B·T, 3d]. */
  qkv: Float64Array;
  /** Attention probabilities [B, H, T, T]. */
  probs: Float64Array;
  /** Attention output before the projection [B·T, d]. */
  attnOut: Float64Array;
  /** Residual sum after attention, xIn + proj(attnOut). */
  r1: Float64Array;
  /** Stream after the attention half (r1, or LN1(r1) for Post-LN). */
  x1: Float64Array;
  /** LN2 statistics: of `x1` (Pre-LN) or of `r2` (Post-LN); null without norms. */
  ln2: NormCache | null;
  /** Input of the MLP. */
  mlpIn: Float64Array;
  /** MLP pre-activation [B·T, dMlp]. */
  fc: Float64Array;
  /** GELU output [B·T, dMlp]. */
  act: Float64Array;
  /** Residual sum after the MLP, x1 + proj(act). */
  r2: Float64Array;
  /** Block output. */
  xOut: Float64Array;
}

/** Every intermediate of the forward pass. */
export interface RefCache {
  /** [B] valid lengths actually used. */
  lengths: Int32Array;
  /** Patch vectors [B·nPatches, C·ps·ps] (patch input only). */
  patches: Float64Array | null;
  /** Blocks in order. */
  blocks: BlockCache[];
  /** Output of the last block. */
  hLast: Float64Array;
  /** ln_f statistics (Pre-LN only). */
  lnF: NormCache | null;
  /** Final hidden states [B·T, d] fed to the head. */
  h: Float64Array;
  /** Pooled features [B, d] (classifier only). */
  pooled: Float64Array | null;
  /** Gradient of the batch loss w.r.t. the logits (weights 1/(B·n_b) already applied). */
  dlogits: Float64Array;
}

/** Result of {@linkcode referenceForward}. */
export interface RefForward {
  /** Batch loss: the mean of `losses`. */
  loss: number;
  /** [B] per-example losses. */
  losses: Float64Array;
  /** LM: [B·T, vocab]; classifier: [B, nClasses]. */
  logits: Float64Array;
  /** Intermediates for {@linkcode referenceBackward}. */
  cache: RefCache;
}

/** Shorthand for the sizes used everywhere below. */
interface Dims {
  B: number;
  T: number;
  d: number;
  H: number;
  dh: number;
  rows: number;
}

function dims(config: TransformerConfig, B: number): Dims {
  const T = config.seqLen;
  const d = config.dModel;
  return { B, T, d, H: config.nHeads, dh: d / config.nHeads, rows: B * T };
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

function addInto(target: Float64Array, source: Float64Array): void {
  for (let i = 0; i < target.length; i++) target[i] += source[i];
}

/** [rows, cols] → [cols, rows]. */
function transpose(m: Float64Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c];
  return out;
}

function batchLengths(config: TransformerConfig, batch: RefBatch): Int32Array {
  const T = config.seqLen;
  const lengths = batch.lengths ?? new Int32Array(batch.B).fill(T);
  if (lengths.length !== batch.B) {
    throw new RangeError(`lengths has ${lengths.length} entries, want ${batch.B}`);
  }
  const minimum = config.head.kind === "classify" && config.head.pool === "mean" ? 1 : 0;
  for (const n of lengths) {
    if (!Number.isInteger(n) || n < minimum || n > T) {
      throw new RangeError(`length ${n} not in [${minimum}, ${T}]`);
    }
  }
  return lengths;
}

// ---------------------------------------------------------------------------------------------
// Embedding
// ---------------------------------------------------------------------------------------------

/**
 * Cuts images [B, C, S, S] into patch vectors [B·nPatches, C·ps·ps]: patch p = py·(S/ps) + px
 * in row-major order, each vector ordered (c, dy, dx).
 *
 * @example
 * ```ts
 * const patches = extractPatches({ kind: "patches", imageSize: 2, patchSize: 1, channels: 1 }, new Float64Array(4), 1);
 * ```
 */
export function extractPatches(input: PatchInput, images: Float64Array, B: number): Float64Array {
  const { imageSize: S, patchSize: ps, channels: C } = input;
  if (images.length !== B * C * S * S) {
    throw new RangeError(`images has ${images.length} values, want ${B * C * S * S}`);
  }
  const side = S / ps;
  const nIn = C * ps * ps;
  const patches = new Float64Array(B * side * side * nIn);
  for (let b = 0; b < B; b++) {
    for (let py = 0; py < side; py++) {
      for (let px = 0; px < side; px++) {
        const row = (b * side * side + py * side + px) * nIn;
        for (let c = 0; c < C; c++) {
          for (let dy = 0; dy < ps; dy++) {
            for (let dx = 0; dx < ps; dx++) {
              const pixel = ((b * C + c) * S + py * ps + dy) * S + px * ps + dx;
              patches[row + (c * ps + dy) * ps + dx] = images[pixel];
            }
          }
        }
      }
    }
  }
  return patches;
}

function embedForward(
  config: TransformerConfig,
  P: (name: string) => Float64Array,
  batch: RefBatch,
  { B, T, d }: Dims,
): { x: Float64Array; patches: Float64Array | null } {
  const x = new Float64Array(B * T * d);
  const positions = P("embed.positions.weight");
  const input = config.input;
  let patches: Float64Array | null = null;
  if (input.kind === "tokens") {
    const tokens = batch.tokens;
    if (!tokens || tokens.length !== B * T) throw new RangeError(`tokens must have B·T = ${B * T} entries`);
    const table = P("embed.tokens.weight");
    for (let r = 0; r < B * T; r++) {
      const tok = tokens[r];
      if (tok < 0 || tok >= input.vocabSize) {
        throw new RangeError(`token ${tok} out of [0, ${input.vocabSize})`);
      }
      for (let i = 0; i < d; i++) x[r * d + i] = table[tok * d + i] + positions[(r % T) * d + i];
    }
  } else {
    if (!batch.images) throw new RangeError("patch input needs images");
    patches = extractPatches(input, batch.images, B);
    const nIn = input.channels * input.patchSize ** 2;
    const emb = linearForward(patches, P("embed.patch.weight"), P("embed.patch.bias"), B * (T - 1), nIn, d);
    const cls = P("embed.cls");
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let i = 0; i < d; i++) {
          const value = t === 0 ? cls[i] : emb[(b * (T - 1) + t - 1) * d + i];
          x[(b * T + t) * d + i] = value + positions[t * d + i];
        }
      }
    }
  }
  return { x, patches };
}

function embedBackward(
  config: TransformerConfig,
  G: (name: string) => Float64Array,
  batch: RefBatch,
  cache: RefCache,
  dx: Float64Array,
  { B, T, d }: Dims,
): void {
  const dPositions = G("embed.positions.weight");
  for (let r = 0; r < B * T; r++) for (let i = 0; i < d; i++) dPositions[(r % T) * d + i] += dx[r * d + i];
  const input = config.input;
  if (input.kind === "tokens") {
    const dTable = G("embed.tokens.weight");
    const tokens = batch.tokens!;
    for (let r = 0; r < B * T; r++) for (let i = 0; i < d; i++) dTable[tokens[r] * d + i] += dx[r * d + i];
    return;
  }
  const dCls = G("embed.cls");
  const dEmb = new Float64Array(B * (T - 1) * d);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < d; i++) dCls[i] += dx[b * T * d + i];
    dEmb.set(dx.subarray((b * T + 1) * d, (b + 1) * T * d), b * (T - 1) * d);
  }
  const nIn = input.channels * input.patchSize ** 2;
  const { dw, db } = linearBackward(dEmb, cache.patches!, G("embed.patch.weight"), B * (T - 1), nIn, d);
  addInto(G("embed.patch.weight"), dw);
  addInto(G("embed.patch.bias"), db);
}

// ---------------------------------------------------------------------------------------------
// Transformer block
// ---------------------------------------------------------------------------------------------

function blockForward(
  config: TransformerConfig,
  P: (name: string) => Float64Array,
  layer: number,
  xIn: Float64Array,
  lengths: Int32Array,
  { B, T, d, H, dh, rows }: Dims,
): BlockCache {
  const name = `blocks.${layer}`;
  const norm = config.norm;
  const ln = (which: string, x: Float64Array) =>
    layerNormForward(x, P(`${name}.${which}.weight`), P(`${name}.${which}.bias`), rows, d);
  const stats = ({ mean, rstd }: NormCache): NormCache => ({ mean, rstd });

  // Attention half.
  let ln1: NormCache | null = null;
  let attnIn = xIn;
  if (norm === "pre") {
    const out = ln("ln1", xIn);
    attnIn = out.y;
    ln1 = stats(out);
  }
  const qkv = linearForward(attnIn, P(`${name}.attn.qkv.weight`), P(`${name}.attn.qkv.bias`), rows, d, 3 * d);
  const { out: attnOut, probs } = attentionForward(qkv, B, T, H, dh, config.causal, lengths);
  const proj = linearForward(attnOut, P(`${name}.attn.proj.weight`), P(`${name}.attn.proj.bias`), rows, d, d);
  const r1 = add(xIn, proj);
  let x1 = r1;
  if (norm === "post") {
    const out = ln("ln1", r1);
    x1 = out.y;
    ln1 = stats(out);
  }

  // MLP half.
  let ln2: NormCache | null = null;
  let mlpIn = x1;
  if (norm === "pre") {
    const out = ln("ln2", x1);
    mlpIn = out.y;
    ln2 = stats(out);
  }
  const fc = linearForward(mlpIn, P(`${name}.mlp.fc.weight`), P(`${name}.mlp.fc.bias`), rows, d, config.dMlp);
  const act = geluForward(fc);
  const mlpOut = linearForward(
    act,
    P(`${name}.mlp.proj.weight`),
    P(`${name}.mlp.proj.bias`),
    rows,
    config.dMlp,
    d,
  );
  const r2 = add(x1, mlpOut);
  let xOut = r2;
  if (norm === "post") {
    const out = ln("ln2", r2);
    xOut = out.y;
    ln2 = stats(out);
  }
  return { xIn, ln1, attnIn, qkv, probs, attnOut, r1, x1, ln2, mlpIn, fc, act, r2, xOut };
}

/** Accumulates the block's parameter gradients into `G` and returns d(loss)/d(xIn). */
function blockBackward(
  config: TransformerConfig,
  P: (name: string) => Float64Array,
  G: (name: string) => Float64Array,
  layer: number,
  c: BlockCache,
  dxOut: Float64Array,
  { B, T, d, H, dh, rows }: Dims,
): Float64Array {
  const name = `blocks.${layer}`;
  const norm = config.norm;
  const lnBack = (which: string, dy: Float64Array, x: Float64Array, s: NormCache) => {
    const out = layerNormBackward(dy, x, s.mean, s.rstd, P(`${name}.${which}.weight`), rows, d);
    addInto(G(`${name}.${which}.weight`), out.dgamma);
    addInto(G(`${name}.${which}.bias`), out.dbeta);
    return out.dx;
  };
  const linBack = (layerName: string, dy: Float64Array, x: Float64Array, nIn: number, nOut: number) => {
    const out = linearBackward(dy, x, P(`${layerName}.weight`), rows, nIn, nOut);
    addInto(G(`${layerName}.weight`), out.dw);
    addInto(G(`${layerName}.bias`), out.db);
    return out.dx;
  };

  // MLP half, in reverse.
  const dr2 = norm === "post" ? lnBack("ln2", dxOut, c.r2, c.ln2!) : dxOut;
  const dAct = linBack(`${name}.mlp.proj`, dr2, c.act, config.dMlp, d);
  const dFc = geluBackward(dAct, c.fc);
  const dMlpIn = linBack(`${name}.mlp.fc`, dFc, c.mlpIn, d, config.dMlp);
  const dx1 = add(dr2, norm === "pre" ? lnBack("ln2", dMlpIn, c.x1, c.ln2!) : dMlpIn);

  // Attention half, in reverse.
  const dr1 = norm === "post" ? lnBack("ln1", dx1, c.r1, c.ln1!) : dx1;
  const dAttnOut = linBack(`${name}.attn.proj`, dr1, c.attnOut, d, d);
  const dQkv = attentionBackward(dAttnOut, c.qkv, c.probs, B, T, H, dh);
  const dAttnIn = linBack(`${name}.attn.qkv`, dQkv, c.attnIn, d, 3 * d);
  return add(dr1, norm === "pre" ? lnBack("ln1", dAttnIn, c.xIn, c.ln1!) : dAttnIn);
}

// ---------------------------------------------------------------------------------------------
// Head and loss
// ---------------------------------------------------------------------------------------------

function lmHeadForward(
  config: TransformerConfig,
  P: (name: string) => Float64Array,
  h: Float64Array,
  targets: Int32Array,
  { B, T, d, rows }: Dims,
): { logits: Float64Array; losses: Float64Array; dlogits: Float64Array } {
  const V = (config.input as { vocabSize: number }).vocabSize;
  if (targets.length !== rows) throw new RangeError(`LM targets must have B·T = ${rows} entries`);
  const tied = config.head.kind === "lm" && config.head.tied;
  const w = tied ? transpose(P("embed.tokens.weight"), V, d) : P("head.weight");
  const logits = linearForward(h, w, null, rows, d, V);
  const ce = crossEntropyForwardBackward(logits, targets, rows, V);
  const losses = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    let count = 0;
    let sum = 0;
    for (let t = 0; t < T; t++) {
      if (targets[b * T + t] === -1) continue;
      count++;
      sum += ce.losses[b * T + t];
    }
    losses[b] = count ? sum / count : 0;
    // Each valid row of example b carries weight 1/(B·count) in the batch loss.
    const weight = count ? 1 / (B * count) : 0;
    for (let i = b * T * V; i < (b + 1) * T * V; i++) ce.dlogits[i] *= weight;
  }
  return { logits, losses, dlogits: ce.dlogits };
}

function lmHeadBackward(
  config: TransformerConfig,
  P: (name: string) => Float64Array,
  G: (name: string) => Float64Array,
  cache: RefCache,
  { d, rows }: Dims,
): Float64Array {
  const V = (config.input as { vocabSize: number }).vocabSize;
  const tied = config.head.kind === "lm" && config.head.tied;
  const w = tied ? transpose(P("embed.tokens.weight"), V, d) : P("head.weight");
  const { dx, dw } = linearBackward(cache.dlogits, cache.h, w, rows, d, V);
  // Tied: the head uses tokensᵀ, so its gradient is added, transposed, to the embedding's.
  addInto(tied ? G("embed.tokens.weight") : G("head.weight"), tied ? transpose(dw, d, V) : dw);
  return dx;
}

function classifierForward(
  config: TransformerConfig,
  P: (name: string) => Float64Array,
  h: Float64Array,
  targets: Int32Array,
  lengths: Int32Array,
  { B, T, d }: Dims,
): { logits: Float64Array; losses: Float64Array; dlogits: Float64Array; pooled: Float64Array } {
  const head = config.head as { nClasses: number; pool: "cls" | "mean" };
  if (targets.length !== B) throw new RangeError(`classifier targets must have B = ${B} entries`);
  const pooled = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    const n = head.pool === "cls" ? 1 : lengths[b];
    for (let t = 0; t < n; t++) for (let i = 0; i < d; i++) pooled[b * d + i] += h[(b * T + t) * d + i] / n;
  }
  const logits = linearForward(pooled, P("head.weight"), P("head.bias"), B, d, head.nClasses);
  const { losses, dlogits } = crossEntropyForwardBackward(logits, targets, B, head.nClasses);
  for (let i = 0; i < dlogits.length; i++) dlogits[i] /= B;
  return { logits, losses, dlogits, pooled };
}

function classifierBackward(
  config: TransformerConfig,
  P: (name: string) => Float64Array,
  G: (name: string) => Float64Array,
  cache: RefCache,
  { B, T, d }: Dims,
): Float64Array {
  const head = config.head as { nClasses: number; pool: "cls" | "mean" };
  const { dx: dPooled, dw, db } = linearBackward(
    cache.dlogits,
    cache.pooled!,
    P("head.weight"),
    B,
    d,
    head.nClasses,
  );
  addInto(G("head.weight"), dw);
  addInto(G("head.bias"), db);
  const dh = new Float64Array(B * T * d);
  for (let b = 0; b < B; b++) {
    const n = head.pool === "cls" ? 1 : cache.lengths[b];
    for (let t = 0; t < n; t++) for (let i = 0; i < d; i++) dh[(b * T + t) * d + i] = dPooled[b * d + i] / n;
  }
  return dh;
}

// ---------------------------------------------------------------------------------------------
// Whole model
// ---------------------------------------------------------------------------------------------

function paramViews(layout: ParamLayout, flat: Float64Array): (name: string) => Float64Array {
  return (name) => layout.view(flat, name);
}

/**
 * Forward pass: the batch loss, per-example losses, logits and every intermediate.
 *
 * @example
 * ```ts
 * import { transformerLayout } from "../../src/nn/layout.ts";
 * const config = {
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: true },
 * } as const;
 * const layout = transformerLayout(config);
 * const params = new Float64Array(layout.size);
 * const { loss } = referenceForward(config, layout, params, {
 *   B: 1, tokens: new Int32Array([1, 2, 3, 4]), targets: new Int32Array([2, 3, 4, -1]),
 * });
 * ```
 */
export function referenceForward(
  config: TransformerConfig,
  layout: ParamLayout,
  params: Float64Array,
  batch: RefBatch,
): RefForward {
  if (params.length !== layout.size) {
    throw new RangeError(`params has ${params.length} floats, want ${layout.size}`);
  }
  const dm = dims(config, batch.B);
  const P = paramViews(layout, params);
  const lengths = batchLengths(config, batch);

  const { x: x0, patches } = embedForward(config, P, batch, dm);
  const blocks: BlockCache[] = [];
  let x = x0;
  for (let layer = 0; layer < config.nLayers; layer++) {
    blocks.push(blockForward(config, P, layer, x, lengths, dm));
    x = blocks[layer].xOut;
  }
  const hLast = x;
  let lnF: NormCache | null = null;
  let h = hLast;
  if (config.norm === "pre") {
    const out = layerNormForward(hLast, P("ln_f.weight"), P("ln_f.bias"), dm.rows, dm.d);
    h = out.y;
    lnF = { mean: out.mean, rstd: out.rstd };
  }

  const head = config.head.kind === "lm"
    ? { ...lmHeadForward(config, P, h, batch.targets, dm), pooled: null }
    : classifierForward(config, P, h, batch.targets, lengths, dm);
  const loss = head.losses.reduce((a, b) => a + b, 0) / batch.B;
  return {
    loss,
    losses: head.losses,
    logits: head.logits,
    cache: { lengths, patches, blocks, hLast, lnF, h, pooled: head.pooled, dlogits: head.dlogits },
  };
}

/**
 * Backward pass of the batch loss: the flat gradient in the layout (gaps zero).
 *
 * @example
 * ```ts
 * import { transformerLayout } from "../../src/nn/layout.ts";
 * const config = {
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: true },
 * } as const;
 * const layout = transformerLayout(config);
 * const params = new Float64Array(layout.size);
 * const batch = { B: 1, tokens: new Int32Array([1, 2, 3, 4]), targets: new Int32Array([2, 3, 4, -1]) };
 * const grad = referenceBackward(config, layout, params, batch, referenceForward(config, layout, params, batch));
 * ```
 */
export function referenceBackward(
  config: TransformerConfig,
  layout: ParamLayout,
  params: Float64Array,
  batch: RefBatch,
  forward: RefForward,
): Float64Array {
  const dm = dims(config, batch.B);
  const P = paramViews(layout, params);
  const grad = new Float64Array(layout.size);
  const G = paramViews(layout, grad);
  const cache = forward.cache;

  const dh = config.head.kind === "lm"
    ? lmHeadBackward(config, P, G, cache, dm)
    : classifierBackward(config, P, G, cache, dm);
  let dx = dh;
  if (config.norm === "pre") {
    const lnF = cache.lnF!;
    const out = layerNormBackward(dh, cache.hLast, lnF.mean, lnF.rstd, P("ln_f.weight"), dm.rows, dm.d);
    addInto(G("ln_f.weight"), out.dgamma);
    addInto(G("ln_f.bias"), out.dbeta);
    dx = out.dx;
  }
  for (let layer = config.nLayers - 1; layer >= 0; layer--) {
    dx = blockBackward(config, P, G, layer, cache.blocks[layer], dx, dm);
  }
  embedBackward(config, G, batch, cache, dx, dm);
  return grad;
}

/**
 * Forward and backward in one call.
 *
 * @example
 * ```ts
 * import { transformerLayout } from "../../src/nn/layout.ts";
 * const config = {
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: true },
 * } as const;
 * const layout = transformerLayout(config);
 * const { loss, grad } = referenceLossAndGrad(config, layout, new Float64Array(layout.size), {
 *   B: 1, tokens: new Int32Array([1, 2, 3, 4]), targets: new Int32Array([2, 3, 4, -1]),
 * });
 * ```
 */
export function referenceLossAndGrad(
  config: TransformerConfig,
  layout: ParamLayout,
  params: Float64Array,
  batch: RefBatch,
): { loss: number; losses: Float64Array; logits: Float64Array; grad: Float64Array } {
  const forward = referenceForward(config, layout, params, batch);
  const grad = referenceBackward(config, layout, params, batch, forward);
  return { loss: forward.loss, losses: forward.losses, logits: forward.logits, grad };
}

/**
 * Example `b` of a batch as a batch of one.
 *
 * @example
 * ```ts
 * const one = sliceExample({ B: 2, tokens: new Int32Array(8), targets: new Int32Array(8) }, 4, 1);
 * ```
 */
export function sliceExample(batch: RefBatch, seqLen: number, b: number): RefBatch {
  const perImage = batch.images ? batch.images.length / batch.B : 0;
  const perTarget = batch.targets.length / batch.B;
  return {
    B: 1,
    tokens: batch.tokens?.slice(b * seqLen, (b + 1) * seqLen),
    images: batch.images?.slice(b * perImage, (b + 1) * perImage),
    lengths: batch.lengths?.slice(b, b + 1),
    targets: batch.targets.slice(b * perTarget, (b + 1) * perTarget),
  };
}

/**
 * Brute-force per-example gradients: ∇loss_b for each example, each run as a batch of one.
 * Their mean is the batch gradient.
 *
 * @example
 * ```ts
 * import { transformerLayout } from "../../src/nn/layout.ts";
 * const config = {
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: true },
 * } as const;
 * const layout = transformerLayout(config);
 * const grads = referencePerExampleGrads(config, layout, new Float64Array(layout.size), {
 *   B: 2, tokens: new Int32Array(8), targets: new Int32Array(8),
 * });
 * ```
 */
export function referencePerExampleGrads(
  config: TransformerConfig,
  layout: ParamLayout,
  params: Float64Array,
  batch: RefBatch,
): Float64Array[] {
  return Array.from(
    { length: batch.B },
    (_, b) => referenceLossAndGrad(config, layout, params, sliceExample(batch, config.seqLen, b)).grad,
  );
}
