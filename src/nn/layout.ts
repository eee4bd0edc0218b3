/**
 * The flat parameter layout: every parameter block's name, shape, offset and size in one
 * buffer. Gradients, statistics and optimizer states share it (ARCHITECTURE.md, decision 1).
 *
 * @module
 */

import { type TransformerConfig, validateConfig } from "./config.ts";

/** What a block is, for masks such as "no weight decay on norms and biases". */
export type BlockKind = "weight" | "bias" | "norm" | "embedding";

/** One named parameter tensor inside the flat buffer. */
export interface ParamBlock {
  /** Dotted name, e.g. `blocks.0.attn.qkv.weight`. */
  readonly name: string;
  /** Shape; linear weights are stored [in, out] so that y = x·W + b. */
  readonly shape: readonly number[];
  /** Offset in floats, a multiple of {@linkcode BLOCK_ALIGN}. */
  readonly offset: number;
  /** Number of floats. */
  readonly size: number;
  /** Kind of parameter. */
  readonly kind: BlockKind;
}

/**
 * Floats between block starts are rounded up to this, so each block can be bound as its own
 * storage buffer (WebGPU requires 256-byte binding offsets). The gaps stay zero.
 */
export const BLOCK_ALIGN = 64;

/**
 * The ordered blocks of a model and the total size of the flat buffer.
 *
 * @example
 * ```ts
 * import { ParamLayout } from "./mod.ts";
 * const layout = new ParamLayout([{ name: "w", shape: [2, 3], kind: "weight" }, { name: "b", shape: [3], kind: "bias" }]);
 * console.log(layout.get("b").offset, layout.size); // 64 67
 * ```
 */
export class ParamLayout {
  /** The blocks, in buffer order. */
  readonly blocks: readonly ParamBlock[];
  /** Floats in the flat buffer, gaps included. */
  readonly size: number;
  readonly #byName: Map<string, ParamBlock>;

  /**
   * Assigns offsets to the blocks, in order.
   * @param specs blocks in order
   */
  constructor(specs: readonly { name: string; shape: readonly number[]; kind: BlockKind }[]) {
    let offset = 0;
    const blocks: ParamBlock[] = [];
    for (const spec of specs) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      blocks.push({ name: spec.name, shape: [...spec.shape], offset, size, kind: spec.kind });
      offset = Math.ceil((offset + size) / BLOCK_ALIGN) * BLOCK_ALIGN;
    }
    this.blocks = blocks;
    this.size = blocks.length ? blocks[blocks.length - 1].offset + blocks[blocks.length - 1].size : 0;
    this.#byName = new Map(blocks.map((b) => [b.name, b]));
    if (this.#byName.size !== blocks.length) throw new Error("gradscope: duplicate parameter block names");
  }

  /** The block called `name`; throws if there is none. */
  get(name: string): ParamBlock {
    const block = this.#byName.get(name);
    if (!block) throw new Error(`gradscope: no parameter block '${name}'`);
    return block;
  }

  /** Whether a block called `name` exists. */
  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Number of real parameters (gaps excluded). */
  get parameterCount(): number {
    return this.blocks.reduce((n, b) => n + b.size, 0);
  }

  /** Each block's [start, end) range, for segmented reductions. */
  ranges(): [number, number][] {
    return this.blocks.map((b) => [b.offset, b.offset + b.size]);
  }

  /** A view of block `name` inside a flat array laid out by this layout. */
  view<T extends Float32Array | Float64Array>(flat: T, name: string): T {
    const b = this.get(name);
    return flat.subarray(b.offset, b.offset + b.size) as T;
  }
}

/** Names of the linear weights whose init is scaled by 1/√(2·nLayers) (GPT-2). */
export function isResidualProjection(name: string): boolean {
  return /^blocks\.\d+\.(attn|mlp)\.proj\.weight$/.test(name);
}

/**
 * The layout of a transformer. Blocks, in order: the input embedding, then per layer
 * `blocks.i.{ln1, attn.qkv, attn.proj, ln2, mlp.fc, mlp.proj}`, then `ln_f` (Pre-LN only:
 * Post-LN blocks already end in a norm) and the head (`head.weight`, plus `head.bias` for
 * classifiers; absent for a tied LM head).
 *
 * @example
 * ```ts
 * import { transformerLayout } from "./mod.ts";
 * const layout = transformerLayout({
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: true },
 * });
 * console.log(layout.blocks.map((b) => b.name));
 * ```
 */
export function transformerLayout(config: TransformerConfig): ParamLayout {
  validateConfig(config);
  const { dModel: d, dMlp, seqLen: T, norm, input, head } = config;
  const specs: { name: string; shape: number[]; kind: BlockKind }[] = [];
  const add = (name: string, shape: number[], kind: BlockKind) => specs.push({ name, shape, kind });
  const addNorm = (name: string) => {
    add(`${name}.weight`, [d], "norm");
    add(`${name}.bias`, [d], "norm");
  };
  const addLinear = (name: string, nIn: number, nOut: number) => {
    add(`${name}.weight`, [nIn, nOut], "weight");
    add(`${name}.bias`, [nOut], "bias");
  };
  if (input.kind === "tokens") {
    add("embed.tokens.weight", [input.vocabSize, d], "embedding");
  } else {
    addLinear("embed.patch", input.channels * input.patchSize * input.patchSize, d);
    add("embed.cls", [d], "embedding");
  }
  add("embed.positions.weight", [T, d], "embedding");
  for (let i = 0; i < config.nLayers; i++) {
    if (norm !== "none") addNorm(`blocks.${i}.ln1`);
    addLinear(`blocks.${i}.attn.qkv`, d, 3 * d);
    addLinear(`blocks.${i}.attn.proj`, d, d);
    if (norm !== "none") addNorm(`blocks.${i}.ln2`);
    addLinear(`blocks.${i}.mlp.fc`, d, dMlp);
    addLinear(`blocks.${i}.mlp.proj`, dMlp, d);
  }
  if (norm === "pre") addNorm("ln_f");
  if (head.kind === "classify") addLinear("head", d, head.nClasses);
  else if (!head.tied) add("head.weight", [d, (input as { vocabSize: number }).vocabSize], "weight");
  return new ParamLayout(specs);
}
