import assert from "node:assert/strict";
import { recordSegmentedReduce, segmentedReduce, Tensor } from "../mod.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Float64 reference: the reduction of each range, computed plainly. */
function reduceRef(x: Float32Array, ranges: [number, number][], op: "sum" | "sumsq" | "max"): number[] {
  return ranges.map(([start, end]) => {
    let acc = op === "max" ? -3.4028234663852886e38 : 0;
    for (let i = start; i < end; i++) {
      acc = op === "max" ? Math.max(acc, x[i]) : acc + (op === "sumsq" ? x[i] * x[i] : x[i]);
    }
    return acc;
  });
}

Deno.test("segmented sum, sum of squares and max match float64 on odd segments", async () => {
  const gpu = await testGpu();
  const n = 20011;
  const data = randn(n, 1);
  const x = Tensor.from(gpu, [n], data);
  // Empty, single, odd, gapped, one longer than a chunk (8192), and out of order.
  const ranges: [number, number][] = [[0, 0], [0, 1], [1, 18], [40, 169], [200, 17000], [17000, 20011], [
    5,
    9,
  ]];
  for (const op of ["sum", "sumsq", "max"] as const) {
    const got = await segmentedReduce(gpu, x, ranges, op);
    const want = reduceRef(data, ranges, op);
    assert.ok(normalisedError(got, want) <= 1e-5, `${op}: ${got} vs ${want}`);
  }
  x.destroy();
});

Deno.test("segmented reduction is bitwise reproducible", async () => {
  const gpu = await testGpu();
  const x = Tensor.from(gpu, [50000], randn(50000, 2));
  const a = await segmentedReduce(gpu, x, [[0, 50000]], "sumsq");
  const b = await segmentedReduce(gpu, x, [[0, 50000]], "sumsq");
  assert.deepEqual(a, b);
  x.destroy();
});

Deno.test("segmented reduction rejects bad ranges and small outputs", async () => {
  const gpu = await testGpu();
  const x = new Tensor(gpu, [10]);
  const out = new Tensor(gpu, [1]);
  await assert.rejects(() => segmentedReduce(gpu, x, [[0, 11]], "sum"), /not within/);
  await assert.rejects(() => segmentedReduce(gpu, x, [[5, 2]], "sum"), /not within/);
  await assert.rejects(() => recordSegmentedReduce(gpu, x, [[0, 2], [2, 4]], "sum", out), /output holds/);
  x.destroy();
  out.destroy();
});
