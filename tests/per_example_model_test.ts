// Per-example statistics from the model's backward pass against brute force: B separate
// float64 backward passes of one example each, for every block type, norm placement, input
// and head, tied embeddings, B = 1, 3, 8 and T = 1 and T > 1.

import assert from "node:assert/strict";
import { type StatsRequest, Transformer, transformerLayout } from "../mod.ts";
import type { TransformerConfig } from "../src/nn/config.ts";
import { CASES, cls, lm, patchConfig, randomBatch, randomParams, tokenConfig } from "./reference/cases.ts";
import { type RefBatch, referencePerExampleGrads } from "./reference/transformer.ts";
import { testGpu } from "./helpers.ts";

const TOL = 1e-3;
const ALL: StatsRequest = { sumSq: true, sumSign: true, norms: true };

interface BruteForce {
  mean: Float64Array;
  sumSq: Float64Array;
  sumSign: Float64Array;
  /** [B, nBlocks] */
  norms: Float64Array;
  /** Coordinates where every |G_b| is far from 0, so fp32 rounding cannot flip a sign. */
  signStable: Uint8Array;
}

function bruteForce(config: TransformerConfig, params: Float64Array, batch: RefBatch): BruteForce {
  const layout = transformerLayout(config);
  const grads = referencePerExampleGrads(config, layout, params, batch);
  const P = layout.size, B = batch.B, nBlocks = layout.blocks.length;
  const out: BruteForce = {
    mean: new Float64Array(P),
    sumSq: new Float64Array(P),
    sumSign: new Float64Array(P),
    norms: new Float64Array(B * nBlocks),
    signStable: new Uint8Array(P).fill(1),
  };
  const scale = Math.max(...grads.map((g) => Math.max(...g.map(Math.abs))));
  grads.forEach((g, b) => {
    for (let i = 0; i < P; i++) {
      out.mean[i] += g[i] / B;
      out.sumSq[i] += g[i] * g[i];
      out.sumSign[i] += Math.sign(g[i]);
      if (Math.abs(g[i]) < 1e-4 * scale) out.signStable[i] = 0;
    }
    layout.blocks.forEach((block, j) => {
      for (let i = block.offset; i < block.offset + block.size; i++) {
        out.norms[b * nBlocks + j] += g[i] * g[i];
      }
    });
  });
  return out;
}

/** max |a − b| / max |b| over a range (absolute when the reference is zero there). */
function relError(got: Float32Array, want: Float64Array, start = 0, end = want.length): number {
  let scale = 0, worst = 0;
  for (let i = start; i < end; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    worst = Math.max(worst, Math.abs(got[i] - want[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

async function checkCase(config: TransformerConfig, size: number, seed: number, lengths?: Int32Array) {
  const gpu = await testGpu();
  const layout = transformerLayout(config);
  const params = randomParams(config, layout, seed).map((v, i) => {
    const block = layout.blocks.find((b) => i >= b.offset && i < b.offset + b.size);
    return block && (block.kind === "weight" || block.kind === "embedding") ? v * 0.2 : v;
  });
  const ref = randomBatch(config, seed + 1, lengths, size);
  const want = bruteForce(config, params, ref);
  const model = await Transformer.create(gpu, config, { batchSize: size, params: Float32Array.from(params) });
  try {
    model.setBatch({
      B: ref.B,
      tokens: ref.tokens,
      images: ref.images ? Float32Array.from(ref.images) : undefined,
      lengths: ref.lengths,
      targets: ref.targets,
    });
    await model.forwardBackward(ALL);
    const st = model.statistics;
    const [mean, sumSq, sumSign, norms] = await Promise.all(
      [model.grads, st.sumSq!, st.sumSign!, st.norms!].map((t) => t.read()),
    );
    for (const block of layout.blocks) {
      const [start, end] = [block.offset, block.offset + block.size];
      assert.ok(relError(mean, want.mean, start, end) <= TOL, `${block.name} mean`);
      assert.ok(relError(sumSq, want.sumSq, start, end) <= TOL, `${block.name} sumSq`);
      for (let i = start; i < end; i++) {
        if (want.signStable[i]) {
          assert.equal(sumSign[i], want.sumSign[i], `${block.name} sumSign at ${i - start}`);
        }
      }
    }
    assert.ok(relError(norms, want.norms) <= TOL, `norms ${norms} vs ${want.norms}`);
  } finally {
    model.destroy();
  }
}

for (const [index, { name, config, lengths }] of CASES.entries()) {
  Deno.test(`per-example statistics, ${name}: every block matches B single-example passes`, async () => {
    await checkCase(config, 3, 100 + index, lengths);
  });
}

Deno.test("per-example statistics with B = 1 and B = 8", async () => {
  await checkCase(tokenConfig("pre", true, lm(true)), 1, 7);
  await checkCase(tokenConfig("post", false, cls("mean")), 8, 8, new Int32Array([5, 3, 2, 5, 1, 4, 5, 2]));
  await checkCase(patchConfig("pre", false, "cls"), 8, 9);
});

Deno.test("per-example statistics with T = 1", async () => {
  await checkCase({ ...tokenConfig("pre", true, lm(true)), seqLen: 1 }, 3, 11);
  await checkCase({ ...tokenConfig("post", false, cls("cls")), seqLen: 1 }, 3, 12);
});

Deno.test("a plain request leaves the statistics unallocated; requests are recorded once", async () => {
  const gpu = await testGpu();
  const config = tokenConfig("pre", true, lm(false));
  const model = await Transformer.create(gpu, config, { batchSize: 3, seed: 0 });
  const ref = randomBatch(config, 1);
  model.setBatch({ B: 3, tokens: ref.tokens, targets: ref.targets });
  await model.forwardBackward();
  assert.deepEqual(model.statistics, { sumSq: null, sumSign: null, norms: null });
  const plain = await model.grads.read();
  await model.forwardBackward({ norms: true });
  assert.equal(model.statistics.sumSq, null);
  assert.ok(model.statistics.norms);
  const withNorms = await model.grads.read();
  assert.ok(
    relError(withNorms, Float64Array.from(plain)) <= 1e-5,
    "the mean gradient does not depend on the request",
  );
  const live = gpu.liveBuffers;
  await model.forwardBackward({ norms: true });
  assert.equal(gpu.liveBuffers, live);
  model.destroy();
});
