/**
 * The peer of gradscope's GPU transformer in jax-js (`npm:@jax-js/jax@0.1.25`): the same
 * Pre-LN GPT-2 language model (LayerNorm eps 1e-5, tanh GELU, causal attention, learned
 * positions, untied LM head without bias, weights stored [in, out] so y = x·W + b), written
 * with jax.numpy / jax.nn and differentiated by `jit(valueAndGrad(loss))` over a params
 * pytree keyed by gradscope's block names. Parameters are loaded from gradscope's flat buffer,
 * so both models start from the same point and their losses and gradients can be compared.
 *
 * jax-js arrays are reference counted: every call consumes its arguments, so each use but the
 * last goes through `.ref` (see the package README).
 *
 * @module
 */

import type { TransformerConfig } from "../src/nn/config.ts";
import type { ParamLayout } from "../src/nn/layout.ts";

// jax-js ships its own types, but the bench imports the module dynamically (it may fail to
// load or to find WebGPU), so its handles stay untyped here.
/** The loaded `npm:@jax-js/jax` module, after `init("webgpu")`. */
// deno-lint-ignore no-explicit-any
export type Jax = any;
/** A jax-js `Array` (reference counted: each use but the last goes through `.ref`). */
// deno-lint-ignore no-explicit-any
export type JaxArray = any;

/** The peer's parameters: one jax-js array per gradscope block, keyed by block name. */
export type JaxParams = Record<string, JaxArray>;

/** The jitted training step: (params, tokens [B,T], targets [B,T]) → [loss, grads]. */
export type JaxTrainStep =
  & ((params: JaxParams, tokens: JaxArray, targets: JaxArray) => [JaxArray, JaxParams])
  & {
    /** Frees the arrays the jitted function cached. */
    dispose(): void;
  };

/** LayerNorm epsilon, as in gradscope's kernels and float64 reference. */
const LN_EPS = 1e-5;

/**
 * Copies every block of gradscope's flat parameter buffer into a jax-js array of its shape.
 *
 * @example
 * ```ts ignore
 * const params = jaxParams(jax, model.layout, await model.params.read());
 * ```
 */
export function jaxParams(jax: Jax, layout: ParamLayout, flat: Float32Array): JaxParams {
  const params: JaxParams = {};
  for (const block of layout.blocks) {
    const data = flat.slice(block.offset, block.offset + block.size);
    params[block.name] = jax.numpy.array(data, { shape: [...block.shape], dtype: jax.numpy.float32 });
  }
  return params;
}

/**
 * A fresh reference to every parameter, for one call that consumes its arguments.
 *
 * @example
 * ```ts ignore
 * const [loss, grads] = step(refParams(params), tokens.ref, targets.ref); // params stay alive
 * ```
 */
export function refParams(params: JaxParams): JaxParams {
  return Object.fromEntries(Object.entries(params).map(([name, p]) => [name, p.ref]));
}

/**
 * Drops one reference to every array of a params pytree.
 *
 * @example
 * ```ts ignore
 * disposeParams(grads);
 * ```
 */
export function disposeParams(params: JaxParams): void {
  for (const p of Object.values(params)) p.dispose();
}

/**
 * Throws unless the peer implements this config: Pre-LN, causal, token input, untied LM head.
 *
 * @example
 * ```ts ignore
 * checkPeerConfig({ ...config, norm: "post" }); // throws
 * ```
 */
export function checkPeerConfig(config: TransformerConfig): void {
  const ok = config.norm === "pre" && config.causal && config.input.kind === "tokens" &&
    config.head.kind === "lm" && !config.head.tied;
  if (!ok) throw new Error("the jax-js peer covers Pre-LN causal token LMs with an untied head only");
}

/**
 * The batch loss as a jax-js function of (params, tokens [B,T] int32, targets [B,T] int32):
 * the mean over examples of each example's mean next-token cross-entropy. Every target must
 * be valid (no −1), so that mean equals the mean over all B·T tokens.
 *
 * @example
 * ```ts ignore
 * const loss = jaxLoss(jax, config, 16);
 * const value = loss(refParams(params), tokens.ref, targets.ref);
 * ```
 */
export function jaxLoss(
  jax: Jax,
  config: TransformerConfig,
  batchSize: number,
): (params: JaxParams, tokens: JaxArray, targets: JaxArray) => JaxArray {
  checkPeerConfig(config);
  const np = jax.numpy, nn = jax.nn;
  const B = batchSize, T = config.seqLen, d = config.dModel, H = config.nHeads, R = B * T;
  const V = (config.input as { vocabSize: number }).vocabSize;

  const layerNorm = (x: JaxArray, p: JaxParams, name: string): JaxArray => {
    const mean = x.ref.mean(-1, { keepdims: true });
    const centred = x.sub(mean);
    const variance = np.square(centred.ref).mean(-1, { keepdims: true });
    const rstd = np.reciprocal(np.sqrt(variance.add(LN_EPS)));
    return centred.mul(rstd).mul(p[`${name}.weight`]).add(p[`${name}.bias`]);
  };
  const linear = (x: JaxArray, p: JaxParams, name: string): JaxArray =>
    np.matmul(x, p[`${name}.weight`]).add(p[`${name}.bias`]);

  const attention = (h: JaxArray, p: JaxParams, name: string): JaxArray => {
    // The fused projection is laid out [q | k | v], each split into H heads of d/H.
    const qkv = linear(h, p, `${name}.qkv`).reshape([B, T, 3, H, d / H]);
    const q = qkv.ref.slice([], [], 0), k = qkv.ref.slice([], [], 1), v = qkv.slice([], [], 2);
    const out = nn.dotProductAttention(q, k, v, { isCausal: true }).reshape([R, d]);
    return linear(out, p, `${name}.proj`);
  };

  const block = (x: JaxArray, p: JaxParams, i: number): JaxArray => {
    const name = `blocks.${i}`;
    x = x.ref.add(attention(layerNorm(x, p, `${name}.ln1`), p, `${name}.attn`));
    const hidden = nn.gelu(linear(layerNorm(x.ref, p, `${name}.ln2`), p, `${name}.mlp.fc`));
    return x.add(linear(hidden, p, `${name}.mlp.proj`));
  };

  return (p, tokens, targets) => {
    // The lookup is a one-hot product: the gradient of np.take is a scatter, which jax-js
    // 0.1.25 cannot jit ("routine primitive scatter input is not imm") and whose eager WGSL
    // (an f32 atomic-add helper taking a storage pointer) Deno's WebGPU rejects.
    const oneHot = nn.oneHot(tokens.reshape([R]), V);
    const embedded = np.matmul(oneHot, p["embed.tokens.weight"]).reshape([B, T, d]);
    let x = embedded.add(p["embed.positions.weight"]).reshape([R, d]);
    for (let i = 0; i < config.nLayers; i++) x = block(x, p, i);
    const logits = np.matmul(layerNorm(x, p, "ln_f"), p["head.weight"]);
    const logProbs = nn.logSoftmax(logits, -1);
    const picked = logProbs.mul(nn.oneHot(targets.reshape([R]), V)).sum();
    return picked.mul(-1 / R);
  };
}

/**
 * The jitted forward+backward step of the peer: `jit(valueAndGrad(loss))`.
 *
 * @example
 * ```ts ignore
 * const step = jaxTrainStep(jax, config, 16);
 * const [loss, grads] = step(refParams(params), tokens.ref, targets.ref);
 * ```
 */
export function jaxTrainStep(jax: Jax, config: TransformerConfig, batchSize: number): JaxTrainStep {
  return jax.jit(jax.valueAndGrad(jaxLoss(jax, config, batchSize)));
}

/**
 * Flattens a peer gradient pytree into gradscope's layout (gaps zero), for comparison with
 * `model.grads`.
 *
 * @example
 * ```ts ignore
 * const flat = await flattenGrads(layout, grads);
 * ```
 */
export async function flattenGrads(layout: ParamLayout, grads: JaxParams): Promise<Float32Array> {
  const flat = new Float32Array(layout.size);
  for (const block of layout.blocks) {
    const data = await grads[block.name].ref.data();
    flat.set(data as Float32Array, block.offset);
  }
  return flat;
}
