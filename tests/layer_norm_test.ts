import assert from "node:assert/strict";
import { type Gpu, slice, Tensor } from "../mod.ts";
import { recordLayerNormBackward, recordLayerNormForward } from "../src/nn/layer_norm.ts";
import { layerNormBackward, layerNormForward } from "./reference/layers.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Inputs of one LayerNorm case: x off-centre (mean 3, std 2) to exercise the two-pass variance. */
function makeCase(rows: number, d: number, seed: number) {
  return {
    x: randn(rows * d, seed, 2).map((v) => v + 3),
    gamma: randn(d, seed + 1, 0.3).map((v) => v + 1),
    beta: randn(d, seed + 2),
    dy: randn(rows * d, seed + 3),
    prior: randn(rows * d, seed + 4),
  };
}

type Case = ReturnType<typeof makeCase>;

/**
 * Runs forward then backward on the GPU. γ, β, dγ and dβ are slices of flat buffers at
 * offset 64, as in the flat parameter layout; with `accumulate`, dx starts at `c.prior`.
 */
async function runLayerNorm(gpu: Gpu, c: Case, rows: number, d: number, accumulate: boolean) {
  const owned: { destroy(): void }[] = [];
  const tensor = (n: number, data?: Float32Array, offset = 0) => {
    const t = new Tensor(gpu, [offset + n]);
    if (data) t.write(data, offset);
    owned.push(t);
    return t;
  };
  const params = tensor(64 + d, c.gamma, 64), bias = tensor(64 + d, c.beta, 64);
  const grads = tensor(64 + d), biasGrads = tensor(64 + d);
  const x = tensor(rows * d, c.x), y = tensor(rows * d), mean = tensor(rows), rstd = tensor(rows);
  const dy = tensor(rows * d, c.dy), dx = tensor(rows * d, accumulate ? c.prior : undefined);
  const gamma = slice(params, 64, d);
  const forward = await recordLayerNormForward(gpu, {
    x,
    gamma,
    beta: slice(bias, 64, d),
    y,
    mean,
    rstd,
    rows,
    d,
  });
  const backward = await recordLayerNormBackward(gpu, {
    dy,
    x,
    mean,
    rstd,
    gamma,
    dx,
    dgamma: slice(grads, 64, d),
    dbeta: slice(biasGrads, 64, d),
    rows,
    d,
    accumulate,
  });
  owned.push(forward, backward);
  forward.run();
  backward.run();
  const out = {
    y: await y.read(),
    mean: await mean.read(),
    rstd: await rstd.read(),
    dx: await dx.read(),
    dgamma: (await grads.read()).subarray(64),
    dbeta: (await biasGrads.read()).subarray(64),
  };
  for (const r of owned) r.destroy();
  return out;
}

function reference(c: Case, rows: number, d: number) {
  const x = Float64Array.from(c.x), gamma = Float64Array.from(c.gamma);
  const fwd = layerNormForward(x, gamma, Float64Array.from(c.beta), rows, d);
  const bwd = layerNormBackward(Float64Array.from(c.dy), x, fwd.mean, fwd.rstd, gamma, rows, d);
  return { ...fwd, ...bwd };
}

Deno.test("LayerNorm forward and backward match float64 on odd shapes", async () => {
  const gpu = await testGpu();
  // d = 1 (zero variance), d past the 64-thread workgroup (several per thread), rows past one 64-row dγ chunk.
  const shapes = [[1, 1], [1, 8], [3, 17], [17, 33], [17, 130], [130, 257], [3, 768]];
  for (const [rows, d] of shapes) {
    const c = makeCase(rows, d, rows * 1000 + d);
    const got = await runLayerNorm(gpu, c, rows, d, false);
    const want = reference(c, rows, d);
    for (const key of ["y", "mean", "rstd", "dx", "dgamma", "dbeta"] as const) {
      const err = normalisedError(got[key], want[key]);
      assert.ok(err <= 1e-5, `rows=${rows} d=${d} ${key}: error ${err}`);
    }
  }
});

Deno.test("LayerNorm backward accumulates into dx and is bitwise reproducible", async () => {
  const gpu = await testGpu();
  const rows = 67, d = 33;
  const c = makeCase(rows, d, 5);
  const first = await runLayerNorm(gpu, c, rows, d, true);
  const want = reference(c, rows, d);
  const err = normalisedError(first.dx, want.dx.map((v, i) => v + c.prior[i]));
  assert.ok(err <= 1e-5, `accumulated dx error ${err}`);
  const second = await runLayerNorm(gpu, c, rows, d, true);
  assert.deepEqual(second, first);
});

Deno.test("LayerNorm rejects bad sizes", async () => {
  const gpu = await testGpu();
  const m = new Tensor(gpu, [12]), v = new Tensor(gpu, [4]), r = new Tensor(gpu, [3]);
  const forward = { x: m, gamma: v, beta: v, y: m, mean: r, rstd: r, rows: 3, d: 4 };
  await assert.rejects(() => recordLayerNormForward(gpu, { ...forward, d: 5 }), /needs 15 elements in 'x'/);
  await assert.rejects(() => recordLayerNormForward(gpu, { ...forward, rows: 4, d: 3 }), /in 'mean'/);
  await assert.rejects(() => recordLayerNormForward(gpu, { ...forward, rows: 0 }), /positive integer rows/);
  const backward = { dy: m, x: m, mean: r, rstd: r, gamma: v, dx: m, dgamma: v, dbeta: r, rows: 3, d: 4 };
  await assert.rejects(() => recordLayerNormBackward(gpu, backward), /needs 4 elements in 'dbeta'/);
  for (const t of [m, v, r]) t.destroy();
});
