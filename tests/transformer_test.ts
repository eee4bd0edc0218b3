// The GPU transformer against the float64 reference: loss, per-example losses, logits and
// every gradient block, for every norm placement, attention mode, input and head.

import assert from "node:assert/strict";
import { type Batch, ConfigError, Transformer, transformerLayout } from "../mod.ts";
import type { TransformerConfig } from "../src/nn/config.ts";
import { B, CASES, lm, randomBatch, randomParams, tokenConfig } from "./reference/cases.ts";
import { type RefBatch, referenceLossAndGrad } from "./reference/transformer.ts";
import { testGpu } from "./helpers.ts";

const TOL = 1e-3;

function toBatch(ref: RefBatch): Batch {
  return {
    B: ref.B,
    tokens: ref.tokens,
    images: ref.images ? Float32Array.from(ref.images) : undefined,
    lengths: ref.lengths,
    targets: ref.targets,
  };
}

/** max |a − b| / max |b| over one block (absolute when the reference is all zero). */
function blockError(got: Float32Array, want: Float64Array): number {
  let scale = 0, worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

for (const [index, { name, config, lengths }] of CASES.entries()) {
  Deno.test(`GPU model ${name}: loss, logits and every gradient block match float64`, async () => {
    const gpu = await testGpu();
    const layout = transformerLayout(config);
    // Scaled-down random parameters keep fp32 rounding far below the tolerance.
    const params = randomParams(config, layout, 10 + index).map((v, i) => v * (scaleOf(layout, i)));
    const ref = randomBatch(config, 20 + index, lengths);
    const want = referenceLossAndGrad(config, layout, params, ref);
    const model = await Transformer.create(gpu, config, { batchSize: B, params: Float32Array.from(params) });
    try {
      model.setBatch(toBatch(ref));
      await model.forwardBackward();
      const [loss, losses, logits, grads] = await Promise.all([
        model.readLoss(),
        model.exampleLosses.read(),
        model.logits.read(),
        model.grads.read(),
      ]);
      assert.ok(Math.abs(loss - want.loss) <= TOL * Math.max(1, want.loss), `loss ${loss} vs ${want.loss}`);
      assert.ok(blockError(losses, want.losses) <= TOL, `per-example losses ${losses} vs ${want.losses}`);
      assert.ok(blockError(logits, want.logits) <= TOL, "logits");
      for (const block of layout.blocks) {
        const err = blockError(layout.view(grads, block.name), layout.view(want.grad, block.name));
        assert.ok(err <= TOL, `${block.name}: relative error ${err.toExponential(2)}`);
      }
    } finally {
      model.destroy();
    }
  });
}

/** Weights ×0.2 of the reference tests' scale: large logits would make fp32 CE gradients tiny. */
function scaleOf(layout: ReturnType<typeof transformerLayout>, i: number): number {
  const block = layout.blocks.find((b) => i >= b.offset && i < b.offset + b.size);
  return block && (block.kind === "weight" || block.kind === "embedding") ? 0.2 : 1;
}

Deno.test("GPU model: same seed gives the same loss, different seeds differ", async () => {
  const gpu = await testGpu();
  const config = tokenConfig("pre", true, lm(false));
  const ref = randomBatch(config, 5);
  const lossOf = async (seed: number) => {
    const model = await Transformer.create(gpu, config, { batchSize: B, seed });
    model.setBatch(toBatch(ref));
    await model.forwardBackward();
    const loss = await model.readLoss();
    const params = await model.params.read();
    model.destroy();
    return { loss, params };
  };
  const a = await lossOf(1), b = await lossOf(1), c = await lossOf(2);
  assert.equal(a.loss, b.loss);
  assert.deepEqual(a.params, b.params);
  assert.notDeepEqual(a.params, c.params);
  assert.notEqual(a.loss, c.loss);
});

Deno.test("GPU model: a bad config is rejected before anything is allocated", async () => {
  const gpu = await testGpu();
  const good = tokenConfig("pre", true, lm(false));
  const bad: [string, TransformerConfig, RegExp][] = [
    ["heads", { ...good, nHeads: 3 }, /divisible by nHeads/],
    ["seqLen", { ...good, seqLen: 5000 }, /over the limit/],
    [
      "classes",
      { ...good, head: { kind: "classify", nClasses: 0, pool: "cls" } },
      /nClasses must be at least 1/,
    ],
    ["norm", { ...good, norm: "middle" as "pre" }, /norm must be/],
  ];
  const before = gpu.liveBuffers;
  for (const [what, config, message] of bad) {
    await assert.rejects(() => Transformer.create(gpu, config, { batchSize: 2 }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, what);
      assert.match((e as Error).message, message);
      return true;
    });
  }
  assert.equal(gpu.liveBuffers, before);
});

Deno.test("GPU model: bad batches get clear errors", async () => {
  const gpu = await testGpu();
  const config = tokenConfig("pre", true, lm(false));
  const model = await Transformer.create(gpu, config, { batchSize: B, seed: 0 });
  const ref = randomBatch(config, 1);
  assert.throws(() => model.setBatch({ ...toBatch(ref), tokens: new Int32Array(3) }), /batch.tokens has 3/);
  assert.throws(
    () => model.setBatch({ ...toBatch(ref), targets: ref.targets.map(() => 99) }),
    /outside \[-1, 11\)/,
  );
  assert.throws(
    () => model.setBatch({ ...toBatch(ref), lengths: new Int32Array([1, 5, 5]) }),
    /padded position 1 of example 0 must be -1/,
  );
  assert.throws(
    () => model.setBatch({ ...toBatch(ref), images: undefined, tokens: undefined }),
    /needs batch.tokens/,
  );
  model.destroy();
});
