/**
 * Masked, scaled softmax over attention scores [B, H, T, T], forward and backward, in place.
 * The attention layer composes it with matmuls: S = Q·Kᵀ → P (this op) → O = P·V, and on the
 * way back dP = dO·Vᵀ → dS (this op) → dQ = dS·K, dK = dSᵀ·Q.
 *
 * @module
 */

import softmaxCode from "../../kernels/softmax.wgsl" with { type: "text" };
import type { Gpu } from "../gpu/device.ts";
import { type Binding, grid1d, packParams, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { requireElements, requirePositive } from "../gpu/check.ts";

const SOFTMAX: KernelSource = { name: "softmax", code: softmaxCode };

/** Shape and scaling shared by the forward and the backward. */
export interface SoftmaxShape {
  /** Batch size B. */
  batch: number;
  /** Number of heads H. */
  heads: number;
  /** Sequence length T: scores are [B, H, T, T]. */
  seq: number;
  /** Multiplier of the scores inside the softmax, usually 1/√(head dim). */
  scale: number;
}

/** Arguments of {@linkcode recordSoftmaxForward}. */
export interface SoftmaxForwardArgs extends SoftmaxShape {
  /** Scores S [B, H, T, T] on entry, probabilities P on exit. */
  scores: Binding;
  /** Mask keys after the query (key j > query i). */
  causal: boolean;
  /**
   * Valid length of each example [B] (u32 or i32): keys j ≥ lengths[b] are padding and masked.
   * Omitted: no padding mask (the program owns a tensor of T's).
   */
  lengths?: Binding;
}

/** Arguments of {@linkcode recordSoftmaxBackward}. */
export interface SoftmaxBackwardArgs extends SoftmaxShape {
  /** The probabilities P [B, H, T, T] from the forward (masked entries 0). */
  probs: Binding;
  /** dP [B, H, T, T] on entry (finite everywhere), dS on exit; not the buffer of `probs`. */
  grad: Binding;
}

function checkShape(op: string, shape: SoftmaxShape, scores: Binding, name: string): number {
  const { batch, heads, seq, scale } = shape;
  requirePositive(op, { batch, heads, seq });
  if (!Number.isFinite(scale)) throw new RangeError(`gradscope: ${op} needs a finite scale, got ${scale}`);
  requireElements(op, name, scores, batch * heads * seq * seq);
  return batch * heads * seq;
}

function params(shape: SoftmaxShape, causal: boolean): ArrayBuffer {
  return packParams(
    [shape.batch, shape.heads, shape.seq, shape.scale, causal ? 1 : 0],
    [false, false, false, true],
  );
}

/**
 * Records P = softmax(scale·S) over each row of `scores`, in place, with the causal and
 * padding masks: masked entries become 0, and a row with no valid key becomes all zeros.
 * Stable (subtracts the row max); one workgroup per (b, h, query) row.
 *
 * @example
 * ```ts
 * import { getDevice, recordSoftmaxForward, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const scores = Tensor.from(gpu, [1, 1, 2, 2], [0, 5, 1, 1]);
 * const program = await recordSoftmaxForward(gpu, { scores, batch: 1, heads: 1, seq: 2, scale: 1, causal: true });
 * program.run();
 * console.log(await scores.read()); // Float32Array [1, 0, 0.5, 0.5]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordSoftmaxForward(gpu: Gpu, args: SoftmaxForwardArgs): Promise<Program> {
  const rows = checkShape("softmaxForward", args, args.scores, "scores");
  if (args.lengths) requireElements("softmaxForward", "lengths", args.lengths, args.batch);
  const program = new Program(gpu);
  try {
    const lengths = args.lengths ??
      program.own(
        Tensor.from(gpu, [args.batch], new Int32Array(args.batch).fill(args.seq), "i32", "softmax.lengths"),
      );
    await program.add({
      source: SOFTMAX,
      entryPoint: "forward",
      params: params(args, args.causal),
      buffers: [args.scores, lengths],
      workgroups: grid1d(rows, 1),
    });
  } catch (error) {
    program.destroy();
    throw error;
  }
  return program;
}

/**
 * Records dS = scale·P ⊙ (dP − rowsum(dP ⊙ P)) in place of dP: the backward of
 * {@linkcode recordSoftmaxForward}. Masked entries (P = 0) get 0, so no mask is needed here.
 *
 * @example
 * ```ts ignore
 * const backward = await recordSoftmaxBackward(gpu, { probs, grad: dScores, batch, heads, seq, scale });
 * backward.run();
 * ```
 */
export async function recordSoftmaxBackward(gpu: Gpu, args: SoftmaxBackwardArgs): Promise<Program> {
  const rows = checkShape("softmaxBackward", args, args.grad, "grad");
  requireElements("softmaxBackward", "probs", args.probs, rows * args.seq);
  return await new Program(gpu).add({
    source: SOFTMAX,
    entryPoint: "backward",
    params: params(args, false),
    buffers: [args.probs, args.grad],
    workgroups: grid1d(rows, 1),
  });
}
