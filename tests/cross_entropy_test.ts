import assert from "node:assert/strict";
import { slice } from "../src/gpu/dispatch.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { Rng } from "../src/nn/rng.ts";
import { exampleMeanWeights, recordCrossEntropy, recordLossReduce } from "../src/nn/cross_entropy.ts";
import { crossEntropyForwardBackward } from "./reference/layers.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Targets in [0, C) with every third row (and, for B > 1, all of example 1) ignored. */
function someTargets(B: number, T: number, C: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: B * T }, (_, r) => {
    const ignored = r % 3 === 2 || (B > 1 && Math.floor(r / T) === 1 && T > 1);
    return ignored ? -1 : rng.int(C);
  });
}

/** Runs the fused kernel once and returns per-row losses and the gradient. */
async function runCrossEntropy(
  logitsData: Float32Array,
  ids: Int32Array,
  w: Float32Array,
  C: number,
  inPlace: boolean,
) {
  const gpu = await testGpu();
  const rows = ids.length;
  const logits = Tensor.from(gpu, [rows, C], logitsData), targets = Tensor.from(gpu, [rows], ids, "i32");
  const weights = Tensor.from(gpu, [rows], w), losses = new Tensor(gpu, [rows]);
  // NaN in a separate gradient buffer checks that every element is written, ignored rows too.
  const dLogits = inPlace ? logits : Tensor.from(gpu, [rows, C], new Float32Array(rows * C).fill(NaN));
  const program = await recordCrossEntropy(gpu, { rows, nClasses: C }, {
    logits,
    targets,
    weights,
    losses,
    dLogits,
  });
  program.run();
  const result = { losses: await losses.read(), dLogits: await dLogits.read() };
  program.destroy();
  for (const t of new Set([logits, targets, weights, losses, dLogits])) t.destroy();
  return result;
}

Deno.test("cross-entropy losses and weighted gradients match float64, in and out of place", async () => {
  for (const [B, T] of [[1, 1], [3, 5], [1, 5], [3, 1]]) {
    for (const C of [1, 3, 300, 1000]) {
      const tag = `B${B} T${T} C${C}`;
      const rows = B * T;
      const ids = someTargets(B, T, C, rows + C);
      const logitsData = randn(rows * C, C + rows, 3);
      const w = Float32Array.from(randn(rows, 4), (v) => 1 + 0.5 * Math.tanh(v));
      const ref = crossEntropyForwardBackward(Float64Array.from(logitsData), ids, rows, C);
      const wantGrad = ref.dlogits.map((g, i) => g * w[Math.floor(i / C)]);
      for (const inPlace of [false, true]) {
        const got = await runCrossEntropy(logitsData, ids, w, C, inPlace);
        assert.ok(normalisedError(got.losses, ref.losses) <= 1e-5, `loss ${tag} inPlace=${inPlace}`);
        assert.ok(normalisedError(got.dLogits, wantGrad) <= 1e-5, `grad ${tag} inPlace=${inPlace}`);
      }
    }
  }
});

Deno.test("cross-entropy handles GPT-2's vocabulary of 50257 classes", async () => {
  const C = 50257, rows = 3;
  const ids = new Int32Array([50256, -1, 0]);
  const logitsData = randn(rows * C, 11, 2);
  const w = new Float32Array([0.5, 0.5, 0.25]);
  const ref = crossEntropyForwardBackward(Float64Array.from(logitsData), ids, rows, C);
  const got = await runCrossEntropy(logitsData, ids, w, C, true);
  assert.ok(normalisedError(got.losses, ref.losses) <= 1e-5, `${got.losses} vs ${ref.losses}`);
  // Gradient entries are ~1/C, so compare them relative to their own scale.
  const want = ref.dlogits.map((g, i) => g * w[Math.floor(i / C)] * C);
  assert.ok(normalisedError(got.dLogits.map((g) => g * C), want) <= 1e-5);
});

Deno.test("cross-entropy is stable for large logits and reproducible", async () => {
  const C = 300, rows = 3;
  const logitsData = Float32Array.from(randn(rows * C, 9, 5), (v, i) => v + (i % C === 7 ? 90 : 1000));
  const ids = new Int32Array([7, 0, 299]);
  const w = new Float32Array(rows).fill(1);
  const ref = crossEntropyForwardBackward(Float64Array.from(logitsData), ids, rows, C);
  const a = await runCrossEntropy(logitsData, ids, w, C, false);
  assert.ok(a.losses.every(Number.isFinite));
  assert.ok(normalisedError(a.losses, ref.losses) <= 1e-5, `${a.losses} vs ${ref.losses}`);
  assert.ok(normalisedError(a.dLogits, ref.dlogits) <= 1e-5);
  const b = await runCrossEntropy(logitsData, ids, w, C, false);
  assert.deepEqual(b, a);
});

Deno.test("per-example and batch losses average over valid rows on the GPU", async () => {
  const gpu = await testGpu();
  for (const [B, T] of [[1, 1], [3, 5], [1, 5], [3, 1], [300, 3]]) {
    const C = 7, rows = B * T;
    const ids = someTargets(B, T, C, rows);
    const rowLosses = Float32Array.from(randn(rows, B), (v, r) => (ids[r] < 0 ? 0 : Math.abs(v)));
    const losses = Tensor.from(gpu, [rows], rowLosses), targets = Tensor.from(gpu, [rows], ids, "i32");
    // The batch loss written into element 0 of a slice, as into a metrics buffer.
    const exampleLosses = new Tensor(gpu, [B]), metrics = new Tensor(gpu, [128]);
    const batchLoss = slice(metrics, 64, 1);
    const shape = { batch: B, rowsPerExample: T, nClasses: C };
    const program = await recordLossReduce(gpu, shape, { losses, targets, exampleLosses, batchLoss });
    program.run();
    const want = Array.from({ length: B }, (_, b) => {
      let sum = 0, n = 0;
      for (let r = b * T; r < (b + 1) * T; r++) if (ids[r] >= 0) (sum += rowLosses[r], n++);
      return n ? sum / n : 0;
    });
    assert.ok(normalisedError(await exampleLosses.read(), want) <= 1e-5, `B${B} T${T}`);
    const got = (await metrics.read())[64];
    assert.ok(Math.abs(got - want.reduce((a, v) => a + v, 0) / B) <= 1e-5, `batch B${B} T${T}`);
    program.destroy();
    for (const t of [losses, targets, exampleLosses, metrics]) t.destroy();
  }
});

Deno.test("example-mean weights make Σ w·loss the mean over examples of per-example means", () => {
  const ids = new Int32Array([3, -1, 1, 2, -1, -1, 0, 4, 9]);
  const w = exampleMeanWeights(ids, 3, 5);
  // Example 1 has one valid row; id 9 is outside [0, 5), so ignored like −1.
  assert.deepEqual([...w], [1 / 6, 0, 1 / 6, 1 / 3, 0, 0, 1 / 6, 1 / 6, 0].map(Math.fround));
  // An example with no valid row gets zero weights.
  assert.deepEqual(
    [...exampleMeanWeights(new Int32Array([0, 1, -1]), 3, 2)],
    [1 / 3, 1 / 3, 0].map(Math.fround),
  );
  assert.throws(() => exampleMeanWeights(new Int32Array(5), 2, 3), /do not split/);
});

Deno.test("cross-entropy rejects bad sizes and partial aliasing", async () => {
  const gpu = await testGpu();
  const big = new Tensor(gpu, [256]), t = new Tensor(gpu, [2], "i32"), two = new Tensor(gpu, [2]);
  const logits = slice(big, 0, 6);
  const buffers = { logits, targets: t, weights: two, losses: two, dLogits: slice(big, 64, 6) };
  const shape = { rows: 2, nClasses: 3 };
  await assert.rejects(() => recordCrossEntropy(gpu, shape, buffers), /shares a buffer/);
  await assert.rejects(
    () => recordCrossEntropy(gpu, { rows: 2, nClasses: 0 }, buffers),
    /positive integer nClasses/,
  );
  await assert.rejects(() => recordCrossEntropy(gpu, { rows: 3, nClasses: 2 }, buffers), /targets holds 2/);
  await assert.rejects(
    () =>
      recordLossReduce(gpu, { batch: 2, rowsPerExample: 2, nClasses: 3 }, {
        losses: two,
        targets: t,
        exampleLosses: two,
        batchLoss: two,
      }),
    /losses holds 2 elements, expected 4/,
  );
  for (const x of [big, t, two]) x.destroy();
});
