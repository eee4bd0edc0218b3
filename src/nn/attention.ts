/**
 * Multi-head scaled dot-product attention on a packed qkv buffer, as batched matmuls over
 * (example, head) plus the masked softmax. The QKV and output projections are linear layers.
 *
 * qkv is [B·T, 3d]: q in columns [0, d), k in [d, 2d), v in [2d, 3d); head h uses columns
 * h·dh … (h+1)·dh of each.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { Program } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type MatmulSpec, recordMatmul } from "../ops/matmul.ts";
import { recordSoftmaxBackward, recordSoftmaxForward } from "./softmax.ts";

/** Sizes of an attention layer. */
export interface AttentionShape {
  /** Examples B. */
  batch: number;
  /** Sequence length T. */
  seqLen: number;
  /** Heads H. */
  heads: number;
  /** Model width d = H·dh. */
  dModel: number;
  /** Mask keys after the query. */
  causal: boolean;
}

/** A per-head view of a [B·T, width] buffer: columns `column …` of head h, for the batched matmul. */
function headView(shape: AttentionShape, width: number, column: number) {
  const { seqLen: T, dModel: d, heads: H } = shape;
  const dh = d / H;
  return {
    offset: column,
    rowStride: width,
    batchStride: [T * width, dh] as [number, number],
  };
}

/** The [T, T] score matrix of (b, h) inside a [B, H, T, T] buffer. */
function scoreView(shape: AttentionShape) {
  const T = shape.seqLen;
  return { offset: 0, rowStride: T, batchStride: [shape.heads * T * T, T * T] as [number, number] };
}

type View = ReturnType<typeof headView>;

/** One batched matmul C = op(A)·op(B) over all (example, head) pairs. */
function headMatmul(
  gpu: Gpu,
  shape: AttentionShape,
  dims: { M: number; N: number; K: number },
  a: [Tensor, View, boolean],
  b: [Tensor, View, boolean],
  c: [Tensor, View],
): Promise<Program> {
  const spec: MatmulSpec = {
    ...dims,
    a: a[0],
    aOffset: a[1].offset,
    lda: a[1].rowStride,
    aBatchStride: a[1].batchStride,
    transA: a[2],
    b: b[0],
    bOffset: b[1].offset,
    ldb: b[1].rowStride,
    bBatchStride: b[1].batchStride,
    transB: b[2],
    c: c[0],
    cOffset: c[1].offset,
    ldc: c[1].rowStride,
    cBatchStride: c[1].batchStride,
    batch: [shape.batch, shape.heads],
  };
  return recordMatmul(gpu, spec);
}

function views(shape: AttentionShape) {
  const d = shape.dModel;
  return {
    q: headView(shape, 3 * d, 0),
    k: headView(shape, 3 * d, d),
    v: headView(shape, 3 * d, 2 * d),
    out: headView(shape, d, 0),
    scores: scoreView(shape),
  };
}

/**
 * Records attention forward: P = softmax(Q·Kᵀ/√dh) with masks (kept in `probs` [B,H,T,T] for
 * the backward pass), then out = P·V, heads concatenated into `out` [B·T, d].
 *
 * @example
 * ```ts ignore
 * await recordAttentionForward(gpu, shape, { qkv, probs, out, lengths });
 * ```
 */
export async function recordAttentionForward(
  gpu: Gpu,
  shape: AttentionShape,
  io: { qkv: Tensor; probs: Tensor; out: Tensor; lengths: Tensor<"i32"> },
): Promise<Program> {
  const { seqLen: T, dModel: d, heads: H } = shape;
  const dh = d / H;
  const v = views(shape);
  const program = new Program(gpu);
  program.append(
    await headMatmul(gpu, shape, { M: T, N: T, K: dh }, [io.qkv, v.q, false], [io.qkv, v.k, true], [
      io.probs,
      v.scores,
    ]),
  );
  program.append(
    await recordSoftmaxForward(gpu, {
      scores: io.probs,
      causal: shape.causal,
      lengths: io.lengths,
      batch: shape.batch,
      heads: H,
      seq: T,
      scale: 1 / Math.sqrt(dh),
    }),
  );
  program.append(
    await headMatmul(gpu, shape, { M: T, N: dh, K: T }, [io.probs, v.scores, false], [io.qkv, v.v, false], [
      io.out,
      v.out,
    ]),
  );
  return program;
}

/**
 * Records attention backward from dout [B·T, d] to dqkv [B·T, 3d], using `dprobs` [B,H,T,T]
 * as scratch: dP = dO·Vᵀ, dV = Pᵀ·dO, dS = softmax backward, dQ = dS·K, dK = dSᵀ·Q.
 *
 * @example
 * ```ts ignore
 * await recordAttentionBackward(gpu, shape, { dout, qkv, probs, dprobs, dqkv });
 * ```
 */
export async function recordAttentionBackward(
  gpu: Gpu,
  shape: AttentionShape,
  io: { dout: Tensor; qkv: Tensor; probs: Tensor; dprobs: Tensor; dqkv: Tensor },
): Promise<Program> {
  const { seqLen: T, dModel: d, heads: H } = shape;
  const dh = d / H;
  const v = views(shape);
  const dq = headView(shape, 3 * d, 0), dk = headView(shape, 3 * d, d), dv = headView(shape, 3 * d, 2 * d);
  const program = new Program(gpu);
  // Recorded one after another: recording pushes and pops WebGPU error scopes.
  const steps: (() => Promise<Program>)[] = [
    () =>
      headMatmul(gpu, shape, { M: T, N: T, K: dh }, [io.dout, v.out, false], [io.qkv, v.v, true], [
        io.dprobs,
        v.scores,
      ]),
    () =>
      headMatmul(gpu, shape, { M: T, N: dh, K: T }, [io.probs, v.scores, true], [io.dout, v.out, false], [
        io.dqkv,
        dv,
      ]),
    () =>
      recordSoftmaxBackward(gpu, {
        probs: io.probs,
        grad: io.dprobs,
        batch: shape.batch,
        heads: H,
        seq: T,
        scale: 1 / Math.sqrt(dh),
      }),
    () =>
      headMatmul(gpu, shape, { M: T, N: dh, K: T }, [io.dprobs, v.scores, false], [io.qkv, v.k, false], [
        io.dqkv,
        dq,
      ]),
    () =>
      headMatmul(gpu, shape, { M: T, N: dh, K: T }, [io.dprobs, v.scores, true], [io.qkv, v.q, false], [
        io.dqkv,
        dk,
      ]),
  ];
  for (const step of steps) program.append(await step());
  return program;
}
