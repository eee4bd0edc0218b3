// Finite-difference tests of the float64 reference transformer (tests/reference/), layer by
// layer and for the whole model in every norm placement, attention mode, input and head.

import assert from "node:assert/strict";
import { initParams } from "../src/nn/init.ts";
import { transformerLayout } from "../src/nn/layout.ts";
import { Rng } from "../src/nn/rng.ts";
import {
  attentionBackward,
  attentionForward,
  crossEntropyForwardBackward,
  geluBackward,
  geluForward,
  layerNormBackward,
  layerNormForward,
  linearBackward,
  linearForward,
} from "./reference/layers.ts";
import {
  extractPatches,
  referenceForward,
  referenceLossAndGrad,
  referencePerExampleGrads,
  sliceExample,
} from "./reference/transformer.ts";
import { B, CASES, cls, lm, randomBatch, randomParams, T, tokenConfig, VOCAB } from "./reference/cases.ts";

const FD_STEP = 1e-5;
const REL_TOL = 1e-6;
const ABS_TOL = 1e-9;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function randn(rng: Rng, n: number, std = 1): Float64Array {
  return Float64Array.from({ length: n }, () => std * rng.normal());
}

/** Central difference of `f` at coordinate i of `x` (x is restored). */
function centralDiff(f: () => number, x: Float64Array, i: number): number {
  const saved = x[i];
  x[i] = saved + FD_STEP;
  const plus = f();
  x[i] = saved - FD_STEP;
  const minus = f();
  x[i] = saved;
  return (plus - minus) / (2 * FD_STEP);
}

function assertClose(numeric: number, analytic: number, what: string): void {
  const diff = Math.abs(numeric - analytic);
  const rel = diff / Math.max(Math.abs(numeric), Math.abs(analytic));
  assert.ok(
    diff <= ABS_TOL || rel <= REL_TOL,
    `${what}: numeric ${numeric} vs analytic ${analytic} (abs ${diff.toExponential(2)}, rel ${
      rel.toExponential(2)
    })`,
  );
}

/** Checks `grad` against central differences of `f` at `count` random coordinates plus the largest. */
function checkGrad(
  f: () => number,
  x: Float64Array,
  grad: Float64Array,
  rng: Rng,
  what: string,
  count = 3,
  start = 0,
  end = x.length,
): void {
  let largest = start;
  for (let i = start; i < end; i++) if (Math.abs(grad[i]) > Math.abs(grad[largest])) largest = i;
  const coords = [largest, ...Array.from({ length: count }, () => start + rng.int(end - start))];
  for (const i of coords) assertClose(centralDiff(f, x, i), grad[i], `${what}[${i - start}]`);
}

/** Σ w·y: a scalar loss whose gradient w.r.t. y is w, to test layers in isolation. */
function dot(w: Float64Array, y: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < y.length; i++) sum += w[i] * y[i];
  return sum;
}

// ---------------------------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------------------------

Deno.test("linear: backward matches finite differences", () => {
  const rng = new Rng(1);
  const [rows, nIn, nOut] = [3, 4, 5];
  const x = randn(rng, rows * nIn),
    w = randn(rng, nIn * nOut),
    b = randn(rng, nOut),
    dy = randn(rng, rows * nOut);
  const f = () => dot(dy, linearForward(x, w, b, rows, nIn, nOut));
  const { dx, dw, db } = linearBackward(dy, x, w, rows, nIn, nOut);
  checkGrad(f, x, dx, rng, "dx", 6);
  checkGrad(f, w, dw, rng, "dw", 6);
  checkGrad(f, b, db, rng, "db", 6);
  assert.deepEqual(linearForward(x, w, null, rows, nIn, nOut).length, rows * nOut);
});

Deno.test("layerNorm: forward normalises and backward matches finite differences", () => {
  const rng = new Rng(2);
  const [rows, d] = [3, 7];
  const x = randn(rng, rows * d, 2), gamma = randn(rng, d), beta = randn(rng, d), dy = randn(rng, rows * d);
  const ones = new Float64Array(d).fill(1);
  const { y: plain } = layerNormForward(x, ones, new Float64Array(d), rows, d);
  for (let r = 0; r < rows; r++) {
    const row = plain.subarray(r * d, (r + 1) * d);
    const mean = row.reduce((a, v) => a + v, 0) / d;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / d;
    assert.ok(
      Math.abs(mean) < 1e-12 && Math.abs(variance - 1) < 1e-4,
      `row ${r}: mean ${mean}, var ${variance}`,
    );
  }
  const f = () => dot(dy, layerNormForward(x, gamma, beta, rows, d).y);
  const { mean, rstd } = layerNormForward(x, gamma, beta, rows, d);
  const { dx, dgamma, dbeta } = layerNormBackward(dy, x, mean, rstd, gamma, rows, d);
  checkGrad(f, x, dx, rng, "dx", 6);
  checkGrad(f, gamma, dgamma, rng, "dgamma", 6);
  checkGrad(f, beta, dbeta, rng, "dbeta", 6);
});

Deno.test("gelu: known values and backward matches finite differences", () => {
  const rng = new Rng(3);
  const y = geluForward(new Float64Array([0, 1, -1]));
  assert.equal(y[0], 0);
  assert.ok(Math.abs(y[1] - 0.8411919906082768) < 1e-12);
  assert.ok(Math.abs(y[1] - y[2] - 1) < 1e-12); // gelu(x) − gelu(−x) = x
  const x = randn(rng, 9, 2), dy = randn(rng, 9);
  checkGrad(() => dot(dy, geluForward(x)), x, geluBackward(dy, x), rng, "dx", 9);
});

Deno.test("attention: masks, fully masked rows and backward vs finite differences", () => {
  const rng = new Rng(4);
  const [B, T, H, dh] = [3, 5, 2, 3];
  const d = H * dh;
  const lengths = new Int32Array([5, 3, 0]);
  for (const causal of [true, false]) {
    const qkv = randn(rng, B * T * 3 * d), dout = randn(rng, B * T * d);
    const { out, probs } = attentionForward(qkv, B, T, H, dh, causal, lengths);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < T; i++) {
          const p = probs.subarray(((b * H + h) * T + i) * T, ((b * H + h) * T + i + 1) * T);
          const sum = p.reduce((a, v) => a + v, 0);
          assert.ok(Math.abs(sum - (lengths[b] > 0 ? 1 : 0)) < 1e-12, `probs row sum ${sum}`);
          for (let j = 0; j < T; j++) {
            if (j >= lengths[b] || (causal && j > i)) assert.equal(p[j], 0, `masked key ${j} of query ${i}`);
          }
        }
      }
    }
    // The example of length 0 has every query fully masked: output 0, not NaN.
    assert.ok(out.subarray(2 * T * d).every((v) => v === 0));
    const f = () => dot(dout, attentionForward(qkv, B, T, H, dh, causal, lengths).out);
    checkGrad(f, qkv, attentionBackward(dout, qkv, probs, B, T, H, dh), rng, `dqkv causal=${causal}`, 20);
  }
});

Deno.test("crossEntropy: loss, ignored targets and gradient", () => {
  const rng = new Rng(5);
  const [rows, n] = [4, 6];
  const logits = randn(rng, rows * n, 3);
  const targets = new Int32Array([2, -1, 0, 5]);
  const { losses, dlogits } = crossEntropyForwardBackward(logits, targets, rows, n);
  assert.equal(losses[1], 0);
  assert.ok(dlogits.subarray(n, 2 * n).every((v) => v === 0));
  const row0 = logits.subarray(0, n);
  const expected = Math.log(row0.reduce((a, v) => a + Math.exp(v), 0)) - row0[2];
  assert.ok(Math.abs(losses[0] - expected) < 1e-12);
  const f = () => crossEntropyForwardBackward(logits, targets, rows, n).losses.reduce((a, v) => a + v, 0);
  checkGrad(f, logits, dlogits, rng, "dlogits", 10);
  assert.throws(() => crossEntropyForwardBackward(logits, new Int32Array([6, 0, 0, 0]), rows, n), RangeError);
});

// ---------------------------------------------------------------------------------------------
// Whole model
// ---------------------------------------------------------------------------------------------

for (const [index, { name, config, lengths }] of CASES.entries()) {
  Deno.test(`model ${name}: gradient of every block matches finite differences`, () => {
    const layout = transformerLayout(config);
    const params = randomParams(config, layout, 10 + index);
    const batch = randomBatch(config, 20 + index, lengths);
    const { grad } = referenceLossAndGrad(config, layout, params, batch);
    const f = () => referenceForward(config, layout, params, batch).loss;
    const rng = new Rng(30 + index);
    for (const block of layout.blocks) {
      const g = layout.view(grad, block.name);
      assert.ok(g.some((v) => Math.abs(v) > 1e-6), `${block.name} has no gradient`);
      checkGrad(f, params, grad, rng, block.name, 3, block.offset, block.offset + block.size);
    }
    // Alignment gaps between blocks get no gradient.
    const inBlock = new Uint8Array(layout.size);
    for (const [start, end] of layout.ranges()) inBlock.fill(1, start, end);
    assert.ok(grad.every((v, i) => inBlock[i] || v === 0));
  });
}

Deno.test("model: the batch loss is the mean of the per-example losses", () => {
  for (const [index, { config, lengths }] of CASES.entries()) {
    const layout = transformerLayout(config);
    const { loss, losses } = referenceForward(
      config,
      layout,
      randomParams(config, layout, index),
      randomBatch(config, index, lengths),
    );
    assert.equal(losses.length, B);
    assert.ok(Math.abs(loss - losses.reduce((a, v) => a + v, 0) / B) < 1e-14);
    assert.ok(losses.every((v) => Number.isFinite(v) && v > 0));
  }
});

Deno.test("model: an LM example with no targets has loss 0 and no gradient", () => {
  const config = tokenConfig("pre", true, lm(false));
  const layout = transformerLayout(config);
  const params = randomParams(config, layout, 1);
  const batch = randomBatch(config, 2);
  batch.targets.fill(-1, T, 2 * T);
  const { loss, losses } = referenceForward(config, layout, params, batch);
  assert.equal(losses[1], 0);
  assert.ok(Math.abs(loss - (losses[0] + losses[2]) / B) < 1e-14);
  assert.ok(referencePerExampleGrads(config, layout, params, batch)[1].every((v) => v === 0));
});

Deno.test("model: the batch gradient is the mean of the single-example gradients", () => {
  for (const [index, { name, config, lengths }] of CASES.entries()) {
    const layout = transformerLayout(config);
    const params = randomParams(config, layout, 40 + index);
    const batch = randomBatch(config, 50 + index, lengths);
    const { grad, losses } = referenceLossAndGrad(config, layout, params, batch);
    const perExample = referencePerExampleGrads(config, layout, params, batch);
    const scale = grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let i = 0; i < grad.length; i++) {
      const mean = perExample.reduce((a, g) => a + g[i], 0) / B;
      assert.ok(Math.abs(mean - grad[i]) <= 1e-12 * scale, `${name}: coordinate ${i}: ${mean} vs ${grad[i]}`);
    }
    for (let b = 0; b < B; b++) {
      const one = referenceForward(config, layout, params, sliceExample(batch, T, b));
      assert.ok(Math.abs(one.loss - losses[b]) < 1e-12, `${name}: example ${b} loss`);
    }
  }
});

Deno.test("model: tokens past lengths[b] do not change the loss", () => {
  for (
    const { name, config, lengths } of CASES.filter((c) => c.lengths && c.config.input.kind === "tokens")
  ) {
    const layout = transformerLayout(config);
    const params = randomParams(config, layout, 7);
    const batch = randomBatch(config, 8, lengths);
    const before = referenceForward(config, layout, params, batch);
    const tokens = batch.tokens!.slice();
    for (let b = 0; b < B; b++) {
      for (let t = lengths![b]; t < T; t++) {
        tokens[b * T + t] = (tokens[b * T + t] + 1) % VOCAB;
      }
    }
    assert.notDeepEqual(tokens, batch.tokens);
    const after = referenceForward(config, layout, params, { ...batch, tokens });
    assert.equal(after.loss, before.loss, name);
    assert.deepEqual(after.losses, before.losses, name);
    // Changing a valid token does change it.
    tokens[0] = (tokens[0] + 1) % VOCAB;
    assert.notEqual(referenceForward(config, layout, params, { ...batch, tokens }).loss, before.loss, name);
  }
});

Deno.test("patches: row-major patches, vectors ordered (channel, dy, dx)", () => {
  const input = { kind: "patches", imageSize: 4, patchSize: 2, channels: 2 } as const;
  const images = Float64Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => i);
  const patches = extractPatches(input, images, 2);
  assert.equal(patches.length, 2 * 4 * 8);
  // Example 1, patch p = 1·2 + 0 (py 1, px 0), entry (c 1, dy 1, dx 0): pixel [1, 1, 3, 0].
  const pixel = ((1 * 2 + 1) * 4 + 3) * 4 + 0;
  assert.equal(patches[(1 * 4 + 2) * 8 + (1 * 2 + 1) * 2 + 0], pixel);
  assert.deepEqual([...patches.subarray(8, 16)], [2, 3, 6, 7, 18, 19, 22, 23]);
});

Deno.test("initParams: same seed same parameters, different seeds differ", () => {
  const config = tokenConfig("pre", true, lm(false));
  const layout = transformerLayout(config);
  assert.deepEqual(initParams(config, layout, 3), initParams(config, layout, 3));
  assert.notDeepEqual(initParams(config, layout, 3), initParams(config, layout, 4));
  assert.deepEqual(randomParams(config, layout, 3), randomParams(config, layout, 3));
});

Deno.test("model: bad batches are rejected", () => {
  const config = tokenConfig("pre", true, cls("mean"));
  const layout = transformerLayout(config);
  const params = randomParams(config, layout, 1);
  const batch = randomBatch(config, 2);
  assert.throws(() =>
    referenceForward(config, layout, params, { ...batch, lengths: new Int32Array([5, 0, 5]) })
  );
  assert.throws(() =>
    referenceForward(config, layout, params, { ...batch, lengths: new Int32Array([6, 1, 1]) })
  );
  assert.throws(() =>
    referenceForward(config, layout, params, { ...batch, tokens: new Int32Array(B * T).fill(VOCAB) })
  );
  assert.throws(() => referenceForward(config, layout, params.subarray(1), batch));
});
