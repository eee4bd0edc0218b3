import assert from "node:assert/strict";
import { slice, Tensor } from "../mod.ts";
import { columnSum, recordColumnSum } from "../src/ops/column_sum.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Float64 reference: the sum of each column of x [rows, n]. */
function columnSumRef(x: Float32Array, rows: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) out[c] += x[r * n + c];
  return out;
}

Deno.test("column sum matches float64 on odd shapes, including multi-pass heights", async () => {
  const gpu = await testGpu();
  // 64 rows is one pass, 65 and 130 two, 4097 three (4097 -> 65 -> 2 -> 1).
  const shapes = [[1, 1], [3, 8], [17, 17], [64, 33], [65, 130], [130, 257], [4097, 33]];
  for (const [rows, n] of shapes) {
    const data = randn(rows * n, rows + n);
    const x = Tensor.from(gpu, [rows, n], data);
    const got = await columnSum(gpu, x, rows, n);
    const err = normalisedError(got, columnSumRef(data, rows, n));
    assert.ok(err <= 1e-5, `rows=${rows} n=${n}: error ${err}`);
    x.destroy();
  }
});

Deno.test("column sum accumulates into a slice and is bitwise reproducible", async () => {
  const gpu = await testGpu();
  const rows = 200, n = 17;
  const data = randn(rows * n, 7), prior = randn(n, 8);
  const x = Tensor.from(gpu, [rows, n], data);
  const flat = new Tensor(gpu, [64 + n]);
  flat.write(prior, 64);
  const program = await recordColumnSum(gpu, { x, out: slice(flat, 64, n), rows, n, accumulate: true });
  program.run();
  const once = (await flat.read()).subarray(64);
  const want = columnSumRef(data, rows, n).map((v, i) => v + prior[i]);
  assert.ok(normalisedError(once, want) <= 1e-5);
  flat.write(prior, 64);
  program.run();
  assert.deepEqual((await flat.read()).subarray(64), once);
  program.destroy();
  x.destroy();
  flat.destroy();
});

Deno.test("column sum rejects bad sizes", async () => {
  const gpu = await testGpu();
  const x = new Tensor(gpu, [6]), out = new Tensor(gpu, [2]);
  await assert.rejects(() => recordColumnSum(gpu, { x, out, rows: 3, n: 3 }), /needs 9 elements in 'x'/);
  await assert.rejects(() => recordColumnSum(gpu, { x, out, rows: 2, n: 3 }), /needs 3 elements in 'out'/);
  await assert.rejects(() => recordColumnSum(gpu, { x, out, rows: 0, n: 3 }), /positive integer rows/);
  x.destroy();
  out.destroy();
});
