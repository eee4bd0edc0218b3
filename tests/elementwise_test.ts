import assert from "node:assert/strict";
import { add, recordAxpby, scale, Tensor } from "../mod.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

Deno.test("add, scale and axpby match float64 on odd sizes", async () => {
  const gpu = await testGpu();
  for (const n of [1, 3, 17, 257, 70001]) {
    const a = randn(n, n), b = randn(n, n + 1);
    const ta = Tensor.from(gpu, [n], a), tb = Tensor.from(gpu, [n], b);
    await add(gpu, ta, tb);
    assert.ok(normalisedError(await tb.read(), b.map((v, i) => v + a[i])) <= 1e-6, `add n=${n}`);
    await scale(gpu, ta, tb, -2.5);
    assert.ok(normalisedError(await tb.read(), a.map((v) => -2.5 * v)) <= 1e-6, `scale n=${n}`);
    const program = await recordAxpby(gpu, ta, tb, 0.5, 3);
    program.run();
    program.destroy();
    assert.ok(normalisedError(await tb.read(), a.map((v) => 0.5 * v - 7.5 * v)) <= 1e-6, `axpby n=${n}`);
    ta.destroy();
    tb.destroy();
  }
});

Deno.test("scale in place and beta = 0 ignores NaN in the output", async () => {
  const gpu = await testGpu();
  const x = Tensor.from(gpu, [3], [1, 2, 3]);
  await scale(gpu, x, x, 2);
  assert.deepEqual([...await x.read()], [2, 4, 6]);
  const out = Tensor.from(gpu, [3], [NaN, NaN, NaN]);
  await scale(gpu, x, out, 1);
  assert.deepEqual([...await out.read()], [2, 4, 6]);
  x.destroy();
  out.destroy();
});

Deno.test("elementwise ops reject mismatched sizes", async () => {
  const gpu = await testGpu();
  const a = new Tensor(gpu, [3]), b = new Tensor(gpu, [4]);
  await assert.rejects(() => add(gpu, a, b), /equal sizes/);
  a.destroy();
  b.destroy();
});
