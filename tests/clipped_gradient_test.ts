// Two-pass per-example clipping against brute force: (1/B) Σ_b min(1, C/‖g_b‖)·g_b from B
// single-example float64 passes; noise with std σC/B on top.

import assert from "node:assert/strict";
import { ClippedGradient, Transformer, transformerLayout } from "../mod.ts";
import { cls, lm, randomBatch, randomParams, tokenConfig } from "./reference/cases.ts";
import { referencePerExampleGrads } from "./reference/transformer.ts";
import { testGpu } from "./helpers.ts";

for (
  const [name, config] of [["LM", tokenConfig("pre", true, lm(true))], [
    "classifier",
    tokenConfig("post", false, cls("mean")),
  ]] as const
) {
  Deno.test(`per-example clipping (${name}) matches clipping B single-example gradients`, async () => {
    const gpu = await testGpu();
    const layout = transformerLayout(config);
    const params = randomParams(config, layout, 3).map((v) => v * 0.2);
    const ref = randomBatch(config, 4, undefined, 4);
    const grads = referencePerExampleGrads(config, layout, params, ref);
    const norms = grads.map((g) => Math.sqrt(g.reduce((a, v) => a + v * v, 0)));
    const maxNorm = [...norms].sort((a, b) => a - b)[1] * 1.01; // clips the larger ones
    const want = new Float64Array(layout.size);
    grads.forEach((g, b) => g.forEach((v, i) => want[i] += Math.min(1, maxNorm / norms[b]) * v / ref.B));
    const model = await Transformer.create(gpu, config, {
      batchSize: ref.B,
      params: Float32Array.from(params),
    });
    const clipped = await ClippedGradient.create(model, { maxNorm });
    try {
      model.setBatch({ B: ref.B, tokens: ref.tokens, lengths: ref.lengths, targets: ref.targets });
      const weightsBefore = await model.lossWeights.read();
      await clipped.run();
      const got = await model.grads.read();
      const scale = Math.max(...want.map(Math.abs));
      const err = Math.max(...got.map((v, i) => Math.abs(v - want[i]))) / scale;
      assert.ok(err <= 1e-3, `clipped mean gradient: relative error ${err}`);
      const w = await clipped.weights.read();
      norms.forEach((n, b) => assert.ok(Math.abs(w[b] - Math.min(1, maxNorm / n)) <= 1e-4, `weight ${b}`));
      assert.deepEqual(await model.lossWeights.read(), weightsBefore, "loss weights are restored");
    } finally {
      clipped.destroy();
      model.destroy();
    }
  });
}

Deno.test("per-example clipping adds seeded noise of std σC/B", async () => {
  const gpu = await testGpu();
  const config = tokenConfig("pre", true, lm(false));
  const ref = randomBatch(config, 9);
  const run = async (noiseMultiplier: number, seed: number) => {
    const model = await Transformer.create(gpu, config, { batchSize: ref.B, seed: 1 });
    const clipped = await ClippedGradient.create(model, { maxNorm: 0.5, noiseMultiplier, seed });
    model.setBatch({ B: ref.B, tokens: ref.tokens, targets: ref.targets });
    await clipped.run();
    const grads = await model.grads.read();
    clipped.destroy();
    model.destroy();
    return grads;
  };
  const clean = await run(0, 0), a = await run(2, 7), b = await run(2, 7), c = await run(2, 8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const layout = transformerLayout(config);
  let sum = 0, n = 0;
  for (const [start, end] of layout.ranges()) {
    for (let i = start; i < end; i++, n++) sum += (a[i] - clean[i]) ** 2;
  }
  const std = Math.sqrt(sum / n), want = (2 * 0.5) / ref.B;
  assert.ok(Math.abs(std / want - 1) < 0.1, `noise std ${std} vs ${want}`);
});
