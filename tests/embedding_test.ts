import assert from "node:assert/strict";
import { Tensor } from "../src/gpu/tensor.ts";
import { slice } from "../src/gpu/dispatch.ts";
import { Rng } from "../src/nn/rng.ts";
import {
  buildTokenIndex,
  recordBatchSum,
  recordEmbeddingBackward,
  recordEmbeddingForward,
  type TokenEmbeddingShape,
} from "../src/nn/embedding.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Float64 reference of the forward: x[b,t] = W[tok[b,t]] + P[t]. */
function forwardRef(tokens: Int32Array, w: Float32Array, pos: Float32Array, T: number, d: number): number[] {
  const x: number[] = [];
  tokens.forEach((v, r) => {
    for (let c = 0; c < d; c++) x.push(w[v * d + c] + pos[(r % T) * d + c]);
  });
  return x;
}

/** Float64 reference of the backward: scatter-add by token, sum over the batch by position. */
function backwardRef(tokens: Int32Array, dx: Float32Array, shape: TokenEmbeddingShape, posRows: number) {
  const { batch, seqLen: T, dModel: d, vocabSize: V } = shape;
  const dTok = new Float64Array(V * d), dPos = new Float64Array(posRows * d);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      for (let c = 0; c < d; c++) {
        dTok[tokens[r] * d + c] += dx[r * d + c];
        dPos[t * d + c] += dx[r * d + c];
      }
    }
  }
  return { dTok, dPos };
}

/** Random ids in [0, V) with many repeats (V is small) and one id forced to repeat. */
function randomTokens(n: number, V: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const tokens = Int32Array.from({ length: n }, () => rng.int(V));
  if (n > 2) tokens[n - 1] = tokens[0];
  return tokens;
}

const SHAPES: [number, number, number][] = [[1, 1, 8], [3, 5, 17], [1, 5, 8], [3, 1, 17]];
const V = 11;

Deno.test("embedding forward matches float64 on odd shapes", async () => {
  const gpu = await testGpu();
  for (const [B, T, d] of SHAPES) {
    const posRows = T + 2;
    const ids = randomTokens(B * T, V, B * 100 + T);
    const w = randn(V * d, 1), pos = randn(posRows * d, 2);
    const tokens = Tensor.from(gpu, [B * T], ids, "i32");
    const tokenWeight = Tensor.from(gpu, [V, d], w), positionWeight = Tensor.from(gpu, [posRows, d], pos);
    const out = new Tensor(gpu, [B * T, d]);
    const shape = { batch: B, seqLen: T, dModel: d, vocabSize: V };
    const program = await recordEmbeddingForward(gpu, shape, { tokens, tokenWeight, positionWeight, out });
    program.run();
    assert.ok(normalisedError(await out.read(), forwardRef(ids, w, pos, T, d)) <= 1e-6, `B${B} T${T} d${d}`);
    program.destroy();
    for (const t of [tokens, tokenWeight, positionWeight, out]) t.destroy();
  }
});

Deno.test("embedding backward matches float64, overwrites or accumulates, and replays with new tokens", async () => {
  const gpu = await testGpu();
  for (const [B, T, d] of SHAPES) {
    const shape = { batch: B, seqLen: T, dModel: d, vocabSize: V };
    const posRows = T + 1;
    const dxData = randn(B * T * d, 3 + d);
    const dOut = Tensor.from(gpu, [B * T, d], dxData);
    // NaN in the outputs checks that overwrite mode never reads them.
    const dTokenWeight = Tensor.from(gpu, [V, d], new Float32Array(V * d).fill(NaN));
    const dPositionWeight = Tensor.from(gpu, [posRows, d], new Float32Array(posRows * d).fill(NaN));
    const program = await recordEmbeddingBackward(gpu, shape, { dOut, dTokenWeight, dPositionWeight });
    for (const seed of [1, 2]) {
      const ids = randomTokens(B * T, V, seed * 7 + B + T);
      program.setTokens(ids);
      program.run();
      const want = backwardRef(ids, dxData, shape, posRows);
      assert.ok(normalisedError(await dTokenWeight.read(), want.dTok) <= 1e-5, `dtok B${B} T${T} d${d}`);
      assert.ok(normalisedError(await dPositionWeight.read(), want.dPos) <= 1e-5, `dpos B${B} T${T} d${d}`);
    }
    program.destroy();

    const ids = randomTokens(B * T, V, 99);
    const prior = randn(V * d, 5);
    dTokenWeight.write(prior);
    const acc = await recordEmbeddingBackward(gpu, shape, { dOut, dTokenWeight, dPositionWeight }, {
      accumulate: true,
    });
    acc.setTokens(ids);
    acc.run();
    const want = backwardRef(ids, dxData, shape, posRows).dTok.map((v, i) => v + prior[i]);
    assert.ok(normalisedError(await dTokenWeight.read(), want) <= 1e-5, `accumulate B${B} T${T} d${d}`);
    acc.destroy();
    for (const t of [dOut, dTokenWeight, dPositionWeight]) t.destroy();
  }
});

Deno.test("embedding backward is bitwise reproducible and binds parameter slices", async () => {
  const gpu = await testGpu();
  const [B, T, d] = [3, 5, 17];
  const shape = { batch: B, seqLen: T, dModel: d, vocabSize: V };
  // Both gradients inside one flat buffer, as the parameter layout places them.
  const flat = new Tensor(gpu, [256 + T * d]);
  const dTokenWeight = slice(flat, 0, V * d), dPositionWeight = slice(flat, 256, T * d);
  const dOut = Tensor.from(gpu, [B * T, d], randn(B * T * d, 8));
  const program = await recordEmbeddingBackward(gpu, shape, { dOut, dTokenWeight, dPositionWeight });
  program.setTokens(new Int32Array(B * T).fill(4)); // every row on one token
  program.run();
  const first = await flat.read();
  program.run();
  assert.deepEqual(await flat.read(), first);
  program.destroy();
  dOut.destroy();
  flat.destroy();
});

Deno.test("token index groups rows by token, then example, then position", () => {
  const { offsets, rows } = buildTokenIndex(new Int32Array([3, 1, 3, 0, 3, 1]), 5);
  assert.deepEqual([...offsets], [0, 1, 3, 3, 6, 6]);
  assert.deepEqual([...rows], [3, 1, 5, 0, 2, 4]);
  assert.throws(() => buildTokenIndex(new Int32Array([5]), 5), RangeError);
  assert.throws(() => buildTokenIndex(new Int32Array([-1]), 5), RangeError);
});

Deno.test("batch sum zeroes rows past the sequence and rejects bad sizes", async () => {
  const gpu = await testGpu();
  const dx = Tensor.from(gpu, [3, 2, 1], [1, 2, 3, 4, 5, 6]), out = new Tensor(gpu, [3, 1]);
  const program = await recordBatchSum(gpu, dx, out, 3, 2, 1);
  program.run();
  assert.deepEqual([...await out.read()], [9, 12, 0]);
  program.destroy();
  await assert.rejects(() => recordBatchSum(gpu, dx, out, 2, 2, 1), /dx holds 6/);
  await assert.rejects(() => recordBatchSum(gpu, dx, out, 3, 2, 2), /dx holds 6/);
  const shape = { batch: 1, seqLen: 4, dModel: 1, vocabSize: 3 };
  const small = new Tensor(gpu, [3]), tokens = new Tensor(gpu, [4], "i32");
  await assert.rejects(
    () =>
      recordEmbeddingForward(gpu, shape, { tokens, tokenWeight: small, positionWeight: small, out: small }),
    /position table holds 3/,
  );
  await assert.rejects(
    () =>
      recordEmbeddingForward(gpu, { ...shape, dModel: 0 }, {
        tokens,
        tokenWeight: small,
        positionWeight: small,
        out: small,
      }),
    /positive integer dModel/,
  );
  const before = gpu.liveBuffers;
  await assert.rejects(
    () => recordEmbeddingBackward(gpu, shape, { dOut: small, dTokenWeight: small, dPositionWeight: small }),
    /dOut holds 3/,
  );
  assert.equal(gpu.liveBuffers, before, "a failed record frees its index tensors");
  const backward = await recordEmbeddingBackward(gpu, { ...shape, seqLen: 3 }, {
    dOut: small,
    dTokenWeight: small,
    dPositionWeight: small,
  });
  assert.throws(() => backward.setTokens(new Int32Array(4)), /tokens holds 4/);
  assert.throws(() => backward.setTokens(new Int32Array([0, 3, 1])), /outside \[0, 3\)/);
  backward.destroy();
  for (const t of [dx, out, small, tokens]) t.destroy();
});
