/**
 * The demo: prints the adapter, checks the matmul kernel against float64 on odd shapes, and
 * times it against jax-js on the same adapter.
 *
 * Run: `deno task demo` (add `--full` for the full benchmark shapes).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { getDevice, matmul, Tensor } from "../mod.ts";
import { Rng } from "../src/nn/rng.ts";
import { matmulReference } from "../tests/reference/matmul.ts";
import { formatMatmulTable, runMatmulBench } from "../bench/matmul.ts";

const { values } = parseArgs({ options: { full: { type: "boolean", default: false } } });

const gpu = await getDevice();
console.log(`adapter: ${gpu.description}`);

/** Max error of C = op(A)·op(B) on the GPU against float64, normalised by max |C|. */
async function selfCheck(M: number, N: number, K: number, transA: boolean, transB: boolean): Promise<number> {
  const rng = new Rng(M * 7919 + N * 31 + K);
  const a = Float32Array.from({ length: M * K }, () => rng.normal());
  const b = Float32Array.from({ length: K * N }, () => rng.normal());
  const ta = Tensor.from(gpu, [a.length], a), tb = Tensor.from(gpu, [b.length], b);
  const tc = new Tensor(gpu, [M * N]);
  try {
    await matmul(gpu, { a: ta, b: tb, c: tc, M, N, K, transA, transB });
    const got = await tc.read();
    const want = matmulReference({ a, b, c: new Float64Array(M * N), M, N, K, transA, transB });
    let scale = 1, worst = 0;
    want.forEach((w, i) => {
      scale = Math.max(scale, Math.abs(w));
      worst = Math.max(worst, Math.abs(got[i] - w));
    });
    return worst / scale;
  } finally {
    for (const t of [ta, tb, tc]) t.destroy();
  }
}

let worst = 0;
for (const [M, N, K] of [[1, 1, 1], [3, 17, 129], [129, 3, 17], [100, 130, 67]]) {
  for (const [transA, transB] of [[false, false], [false, true], [true, false]]) {
    worst = Math.max(worst, await selfCheck(M, N, K, transA, transB));
  }
}
const ok = worst <= 1e-5;
console.log(
  `matmul self-check (A·B, A·Bᵀ, Aᵀ·B on odd shapes) vs float64: max error ${worst.toExponential(2)} ${
    ok ? "ok" : "FAILED"
  }`,
);

const report = await runMatmulBench({ quick: !values.full, gpu });
console.log(formatMatmulTable(report));
gpu.destroy();
if (!ok) Deno.exit(1);
