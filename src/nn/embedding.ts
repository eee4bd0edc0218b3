/**
 * Token input layer: x[b,t,:] = tokens.weight[tok[b,t]] + positions.weight[t], forward and
 * backward. The backward is deterministic without atomics: the token ids of a batch are known
 * on the CPU, so a CSR index (rows grouped by token, then example, then position) is built
 * there and each vocabulary row sums its own rows in that fixed order.
 *
 * @module
 */

import { requireExactElements, requirePositive } from "../gpu/check.ts";
import embeddingCode from "../../kernels/embedding.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { grid1d, Program, type TensorSlice } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";

const EMBEDDING: KernelSource = { name: "embedding", code: embeddingCode };

/** The shape of a token batch and of the embedding tables. */
export interface TokenEmbeddingShape {
  /** Examples per batch, B. */
  batch: number;
  /** Positions per example, T (at most the rows of the position table). */
  seqLen: number;
  /** Embedding width d. */
  dModel: number;
  /** Rows of the token table, V. */
  vocabSize: number;
}

/** The buffers of {@linkcode recordEmbeddingForward}. */
export interface EmbeddingForwardBuffers {
  /** Token ids [B·T]; ids outside [0, V) embed as a zero token row. */
  tokens: Tensor<"i32">;
  /** `embed.tokens.weight` [V, d]. */
  tokenWeight: Tensor | TensorSlice;
  /** `embed.positions.weight` [≥ T, d]. */
  positionWeight: Tensor | TensorSlice;
  /** Output x [B·T, d]. */
  out: Tensor | TensorSlice;
}

/** The buffers of {@linkcode recordEmbeddingBackward}. */
export interface EmbeddingBackwardBuffers {
  /** dL/dx [B·T, d]. */
  dOut: Tensor | TensorSlice;
  /** Gradient of `embed.tokens.weight` [V, d]; overwritten, or added to with `accumulate`. */
  dTokenWeight: Tensor | TensorSlice;
  /** Gradient of `embed.positions.weight` [P ≥ T, d]; rows t ≥ T are set to zero. */
  dPositionWeight: Tensor | TensorSlice;
}

/** Options of {@linkcode recordEmbeddingBackward}. */
export interface EmbeddingBackwardOptions {
  /**
   * Add to `dTokenWeight` instead of overwriting it, for a tied LM head whose weight gradient
   * was written there first. The position gradient is always overwritten.
   */
  accumulate?: boolean;
}

function checkShape(shape: TokenEmbeddingShape, op: string): void {
  const { batch, seqLen, dModel, vocabSize } = shape;
  requirePositive(op, { batch, seqLen, dModel, vocabSize });
}

/** Rows of the position table, checked to be a whole number of d-wide rows covering T. */
function positionRows(positions: { size: number }, seqLen: number, d: number, op: string): number {
  if (positions.size % d !== 0 || positions.size < seqLen * d) {
    throw new RangeError(
      `gradscope: ${op}: the position table holds ${positions.size} elements, not [≥ ${seqLen}, ${d}]`,
    );
  }
  return positions.size / d;
}

/**
 * Records the token input layer: `out[b,t,:] = tokenWeight[tokens[b,t]] + positionWeight[t]`.
 *
 * @example
 * ```ts
 * import { getDevice, recordEmbeddingForward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const shape = { batch: 1, seqLen: 2, dModel: 2, vocabSize: 3 };
 * const tokens = Tensor.from(gpu, [2], [2, 0], "i32");
 * const tokenWeight = Tensor.from(gpu, [3, 2], [0, 0, 1, 1, 2, 2]);
 * const positionWeight = Tensor.from(gpu, [2, 2], [10, 20, 30, 40]);
 * const out = new Tensor(gpu, [2, 2]);
 * const program = await recordEmbeddingForward(gpu, shape, { tokens, tokenWeight, positionWeight, out });
 * program.run();
 * console.log(await out.read()); // Float32Array [12, 22, 30, 40]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordEmbeddingForward(
  gpu: Gpu,
  shape: TokenEmbeddingShape,
  buffers: EmbeddingForwardBuffers,
): Promise<Program> {
  const op = "embedding forward";
  checkShape(shape, op);
  const { batch, seqLen, dModel: d, vocabSize } = shape;
  const n = batch * seqLen * d;
  requireExactElements(op, "tokens", buffers.tokens, batch * seqLen);
  requireExactElements(op, "tokenWeight", buffers.tokenWeight, vocabSize * d);
  positionRows(buffers.positionWeight, seqLen, d, op);
  requireExactElements(op, "out", buffers.out, n);
  const program = new Program(gpu);
  return await program.add({
    source: EMBEDDING,
    entryPoint: "embed_forward",
    params: new Uint32Array([n, seqLen, d, vocabSize]),
    buffers: [buffers.tokens, buffers.tokenWeight, buffers.positionWeight, buffers.out],
    workgroups: grid1d(n),
  });
}

/**
 * A CSR index of a batch's rows grouped by token id: the rows (b·T + t) holding token v are
 * `rows[offsets[v] .. offsets[v+1])`, ordered by example, then position.
 */
export interface TokenIndex {
  /** [V + 1] segment starts. */
  offsets: Uint32Array;
  /** [B·T] row numbers, grouped by token. */
  rows: Uint32Array;
}

/**
 * Builds the {@linkcode TokenIndex} of a batch with a stable counting sort, so that the rows
 * of each token stay in (example, position) order. Throws a RangeError for ids outside [0, V).
 *
 * @example
 * ```ts
 * import { buildTokenIndex } from "./mod.ts";
 * const { offsets, rows } = buildTokenIndex(new Int32Array([2, 0, 2]), 3);
 * console.log(offsets, rows); // Uint32Array [0, 1, 1, 3]  Uint32Array [1, 0, 2]
 * ```
 */
export function buildTokenIndex(tokens: Int32Array, vocabSize: number, into?: TokenIndex): TokenIndex {
  const offsets = into?.offsets ?? new Uint32Array(vocabSize + 1);
  const rows = into?.rows ?? new Uint32Array(tokens.length);
  offsets.fill(0);
  for (let r = 0; r < tokens.length; r++) {
    const v = tokens[r];
    if (!Number.isInteger(v) || v < 0 || v >= vocabSize) {
      throw new RangeError(`gradscope: token id ${v} at row ${r} is outside [0, ${vocabSize})`);
    }
    offsets[v + 1]++;
  }
  for (let v = 0; v < vocabSize; v++) offsets[v + 1] += offsets[v];
  // Each token's next free slot; rows are visited in increasing (b, t) order.
  const next = offsets.slice(0, vocabSize);
  for (let r = 0; r < tokens.length; r++) rows[next[tokens[r]]++] = r;
  return { offsets, rows };
}

/**
 * The recorded embedding backward plus the GPU copy of the batch's {@linkcode TokenIndex}.
 * Call {@linkcode EmbeddingBackward.setTokens} with each new batch before running it. It may be
 * appended to a larger {@linkcode Program} (which then owns its tensors); keep the reference
 * to call `setTokens`.
 */
export class EmbeddingBackward extends Program {
  /** The shape it was recorded for. */
  readonly shape: TokenEmbeddingShape;
  /** [V + 1] CSR segment starts on the GPU (for per-example statistics kernels too). */
  readonly offsets: Tensor<"u32">;
  /** [B·T] CSR rows on the GPU, grouped by token, then example, then position. */
  readonly rows: Tensor<"u32">;
  readonly #host: TokenIndex;

  /**
   * Allocates the index tensors once, for B·T rows and V tokens; record dispatches with
   * {@linkcode recordEmbeddingBackward} rather than calling this directly.
   *
   * @param gpu the device
   * @param shape the batch and table shape
   */
  constructor(gpu: Gpu, shape: TokenEmbeddingShape) {
    super(gpu);
    checkShape(shape, "embedding backward");
    this.shape = { ...shape };
    const { batch, seqLen, vocabSize } = shape;
    this.offsets = this.own(new Tensor(gpu, [vocabSize + 1], "u32", "embedding.offsets"));
    this.rows = this.own(new Tensor(gpu, [batch * seqLen], "u32", "embedding.rows"));
    this.#host = { offsets: new Uint32Array(vocabSize + 1), rows: new Uint32Array(batch * seqLen) };
  }

  /**
   * Rebuilds the token index for a batch of ids [B·T] and uploads it (queued before the next
   * submit; nothing is allocated on the GPU).
   */
  setTokens(tokens: Int32Array): void {
    if (tokens.length !== this.rows.size) {
      throw new RangeError(
        `gradscope: embedding backward: tokens holds ${tokens.length} elements, expected ${this.rows.size}`,
      );
    }
    buildTokenIndex(tokens, this.shape.vocabSize, this.#host);
    this.offsets.write(this.#host.offsets);
    this.rows.write(this.#host.rows);
  }
}

/**
 * Records the sum over the batch `out[t,:] = Σ_b dx[b,t,:]` for t < T, and zero for the rows
 * t ≥ T that `out` may have: the gradient of a position table (and, with a one-row `out`, of
 * the ViT's CLS embedding, which sits at t = 0).
 *
 * @param dx [B·T, d]
 * @param out [P, d], P ≥ 1
 * @example
 * ```ts
 * import { getDevice, recordBatchSum, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const dx = Tensor.from(gpu, [2, 2, 1], [1, 2, 3, 4]), out = new Tensor(gpu, [3, 1]);
 * const program = await recordBatchSum(gpu, dx, out, 2, 2, 1);
 * program.run();
 * console.log(await out.read()); // Float32Array [4, 6, 0]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordBatchSum(
  gpu: Gpu,
  dx: Tensor | TensorSlice,
  out: Tensor | TensorSlice,
  batch: number,
  seqLen: number,
  dModel: number,
): Promise<Program> {
  const op = "batch sum";
  requirePositive(op, { batch, seqLen, dModel });
  requireExactElements(op, "dx", dx, batch * seqLen * dModel);
  if (out.size % dModel !== 0) {
    throw new RangeError(`gradscope: ${op}: out holds ${out.size} elements, not whole rows of ${dModel}`);
  }
  const program = new Program(gpu);
  return await program.add({
    source: EMBEDDING,
    entryPoint: "batch_sum",
    params: new Uint32Array([out.size, batch, seqLen, dModel]),
    buffers: [dx, out],
    workgroups: grid1d(out.size),
  });
}

/**
 * Records the token input layer's backward: dTokenWeight[v] = Σ of dOut over the rows whose
 * token is v (fixed CSR order), dPositionWeight[t] = Σ_b dOut[b,t]. Call `setTokens` on the
 * result with each batch's ids before running it.
 *
 * @example
 * ```ts
 * import { getDevice, recordEmbeddingBackward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const shape = { batch: 1, seqLen: 3, dModel: 1, vocabSize: 2 };
 * const dOut = Tensor.from(gpu, [3, 1], [1, 2, 4]);
 * const dTokenWeight = new Tensor(gpu, [2, 1]), dPositionWeight = new Tensor(gpu, [3, 1]);
 * const program = await recordEmbeddingBackward(gpu, shape, { dOut, dTokenWeight, dPositionWeight });
 * program.setTokens(new Int32Array([1, 0, 1]));
 * program.run();
 * console.log(await dTokenWeight.read()); // Float32Array [2, 5]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordEmbeddingBackward(
  gpu: Gpu,
  shape: TokenEmbeddingShape,
  buffers: EmbeddingBackwardBuffers,
  options: EmbeddingBackwardOptions = {},
): Promise<EmbeddingBackward> {
  const op = "embedding backward";
  const program = new EmbeddingBackward(gpu, shape);
  try {
    const { batch, seqLen, dModel: d, vocabSize } = shape;
    requireExactElements(op, "dOut", buffers.dOut, batch * seqLen * d);
    requireExactElements(op, "dTokenWeight", buffers.dTokenWeight, vocabSize * d);
    positionRows(buffers.dPositionWeight, seqLen, d, op);
    await program.add({
      source: EMBEDDING,
      entryPoint: "token_backward",
      params: new Uint32Array([vocabSize * d, d, options.accumulate ? 1 : 0, 0]),
      buffers: [buffers.dOut, program.offsets, program.rows, buffers.dTokenWeight],
      workgroups: grid1d(vocabSize * d),
    });
    program.append(await recordBatchSum(gpu, buffers.dOut, buffers.dPositionWeight, batch, seqLen, d));
    return program;
  } catch (error) {
    program.destroy();
    throw error;
  }
}
