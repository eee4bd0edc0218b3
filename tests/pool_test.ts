import assert from "node:assert/strict";
import { Tensor } from "../src/gpu/tensor.ts";
import { type PoolMode, recordPool, recordPoolBackward } from "../src/nn/pool.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Positions pooled for example b, and the weight each gets (1 for cls, 1/len for mean). */
function pooledPositions(mode: PoolMode, T: number, length: number): [number[], number] {
  if (mode === "cls") return [[0], 1];
  const len = Math.max(0, Math.min(T, length));
  return [Array.from({ length: len }, (_, t) => t), 1 / len];
}

/** Float64 pooling and its backward (overwrite, or accumulate onto `prior`). */
function poolRef(mode: PoolMode, h: Float32Array, lengths: number[], T: number, d: number) {
  return lengths.flatMap((len, b) => {
    const [ts, w] = pooledPositions(mode, T, len);
    return Array.from({ length: d }, (_, c) => ts.reduce((acc, t) => acc + w * h[(b * T + t) * d + c], 0));
  });
}

function unpoolRef(
  mode: PoolMode,
  dp: Float32Array,
  lengths: number[],
  T: number,
  d: number,
  prior?: Float32Array,
) {
  const dh = prior ? Float64Array.from(prior) : new Float64Array(lengths.length * T * d);
  lengths.forEach((len, b) => {
    const [ts, w] = pooledPositions(mode, T, len);
    for (const t of ts) for (let c = 0; c < d; c++) dh[(b * T + t) * d + c] += w * dp[b * d + c];
  });
  return dh;
}

const SHAPES: [number, number, number][] = [[1, 1, 8], [3, 5, 17], [3, 1, 8], [1, 5, 17]];

/** Lengths with padding, a full example, an empty one and an over-long one (clamped). */
function someLengths(B: number, T: number): number[] {
  return Array.from({ length: B }, (_, b) => [T - 2, T, 0, T + 3][(b + T) % 4]);
}

Deno.test("cls and mean pooling match float64, forward and backward, with padding", async () => {
  const gpu = await testGpu();
  for (const [B, T, d] of SHAPES) {
    const lens = someLengths(B, T);
    const hData = randn(B * T * d, T * d), dpData = randn(B * d, B + d), prior = randn(B * T * d, 7);
    const hidden = Tensor.from(gpu, [B * T, d], hData), dPooled = Tensor.from(gpu, [B, d], dpData);
    const lengths = Tensor.from(gpu, [B], lens, "i32");
    const pooled = new Tensor(gpu, [B, d]), dHidden = new Tensor(gpu, [B * T, d]);
    for (const mode of ["cls", "mean"] as const) {
      const tag = `${mode} B${B} T${T} d${d}`;
      const shape = { batch: B, seqLen: T, dModel: d, mode };
      const forward = await recordPool(gpu, shape, { hidden, lengths, pooled });
      forward.run();
      assert.ok(normalisedError(await pooled.read(), poolRef(mode, hData, lens, T, d)) <= 1e-5, tag);

      dHidden.write(new Float32Array(B * T * d).fill(NaN)); // overwrite mode must not read it
      const backward = await recordPoolBackward(gpu, shape, { dPooled, lengths, dHidden });
      backward.run();
      assert.ok(normalisedError(await dHidden.read(), unpoolRef(mode, dpData, lens, T, d)) <= 1e-5, tag);

      dHidden.write(prior);
      const acc = await recordPoolBackward(gpu, shape, { dPooled, lengths, dHidden }, { accumulate: true });
      acc.run();
      const want = unpoolRef(mode, dpData, lens, T, d, prior);
      assert.ok(normalisedError(await dHidden.read(), want) <= 1e-5, `accumulate ${tag}`);
      for (const p of [forward, backward, acc]) p.destroy();
    }
    for (const t of [hidden, dPooled, lengths, pooled, dHidden]) t.destroy();
  }
});

Deno.test("pooling rejects bad shapes, sizes and missing lengths", async () => {
  const gpu = await testGpu();
  const t = new Tensor(gpu, [6]), pooled = new Tensor(gpu, [2]), lengths = new Tensor(gpu, [3], "i32");
  const shape = { batch: 2, seqLen: 3, dModel: 1, mode: "mean" as const };
  await assert.rejects(() => recordPool(gpu, shape, { hidden: t, pooled }), /needs lengths/);
  await assert.rejects(() => recordPool(gpu, shape, { hidden: t, lengths, pooled }), /lengths holds 3/);
  await assert.rejects(
    () => recordPool(gpu, { ...shape, mode: "cls" }, { hidden: pooled, pooled }),
    /hidden holds 2 elements, expected 6/,
  );
  await assert.rejects(
    () => recordPoolBackward(gpu, { ...shape, mode: "max" as PoolMode }, { dPooled: pooled, dHidden: t }),
    /mode must be/,
  );
  await assert.rejects(
    () => recordPoolBackward(gpu, { ...shape, seqLen: 0 }, { dPooled: pooled, dHidden: t }),
    /positive integer seqLen/,
  );
  for (const x of [t, pooled, lengths]) x.destroy();
});
