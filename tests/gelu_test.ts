import assert from "node:assert/strict";
import { type Gpu, Tensor } from "../mod.ts";
import { recordGeluBackward, recordGeluForward } from "../src/nn/gelu.ts";
import { geluBackward, geluForward } from "./reference/layers.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Runs GELU forward and backward on the GPU for inputs x and output gradient dy. */
async function runGelu(gpu: Gpu, x: Float32Array, dy: Float32Array): Promise<[Float32Array, Float32Array]> {
  const n = x.length;
  const tx = Tensor.from(gpu, [n], x), tdy = Tensor.from(gpu, [n], dy);
  const ty = new Tensor(gpu, [n]), tdx = new Tensor(gpu, [n]);
  const forward = await recordGeluForward(gpu, { x: tx, y: ty, n });
  const backward = await recordGeluBackward(gpu, { dy: tdy, x: tx, dx: tdx, n });
  forward.run();
  backward.run();
  const result: [Float32Array, Float32Array] = [await ty.read(), await tdx.read()];
  for (const r of [forward, backward, tx, tdy, ty, tdx]) r.destroy();
  return result;
}

Deno.test("GELU forward and backward match float64 on odd sizes", async () => {
  const gpu = await testGpu();
  for (const n of [1, 3, 17, 130, 70001]) {
    const x = randn(n, n, 3), dy = randn(n, n + 1);
    const [y, dx] = await runGelu(gpu, x, dy);
    const x64 = Float64Array.from(x);
    const errY = normalisedError(y, geluForward(x64));
    const errDx = normalisedError(dx, geluBackward(Float64Array.from(dy), x64));
    assert.ok(errY <= 1e-5 && errDx <= 1e-5, `n=${n}: forward ${errY}, backward ${errDx}`);
  }
});

Deno.test("GELU stays finite and accurate in the tails", async () => {
  const gpu = await testGpu();
  const x = Float32Array.from([-1e4, -30, -10, 0, 10, 30, 1e4]);
  const [y, dx] = await runGelu(gpu, x, new Float32Array(x.length).fill(1));
  const wantY = [0, 0, 0, 0, 10, 30, 1e4], wantDx = [0, 0, 0, 0.5, 1, 1, 1];
  assert.ok(y.every((v, i) => Math.abs(v - wantY[i]) <= 1e-6 * Math.max(1, wantY[i])), `y ${y}`);
  assert.ok(dx.every((v, i) => Math.abs(v - wantDx[i]) <= 1e-6), `dx ${dx}`);
});

Deno.test("GELU rejects short buffers", async () => {
  const gpu = await testGpu();
  const a = new Tensor(gpu, [4]), b = new Tensor(gpu, [3]);
  await assert.rejects(() => recordGeluForward(gpu, { x: a, y: b, n: 4 }), /needs 4 elements in 'y'/);
  await assert.rejects(() => recordGeluBackward(gpu, { dy: a, x: a, dx: b, n: 0 }), /positive integer n/);
  a.destroy();
  b.destroy();
});
