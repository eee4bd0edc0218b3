// Block Hessian top eigenvalues: power iteration on known matrices, then the CPU and GPU
// finite-difference versions against the exact block Hessian of a tiny transformer.

import assert from "node:assert/strict";
import { Transformer, transformerLayout } from "../mod.ts";
import { ParamLayout } from "../src/nn/layout.ts";
import { Rng } from "../src/nn/rng.ts";
import { blockTopEigenvalues, blockTopEigenvaluesCpu, powerIteration } from "../src/stats/hessian.ts";
import { B, lm, randomBatch, randomParams, tokenConfig } from "./reference/cases.ts";
import { dominantEigenvalue, exactBlockHessian } from "./reference/hessian.ts";
import { referenceLossAndGrad } from "./reference/transformer.ts";
import { testGpu } from "./helpers.ts";

function relativeError(got: number, want: number): number {
  return Math.abs(got - want) / Math.abs(want);
}

Deno.test("power iteration: dominant eigenvalue with its sign, early stop, zero matrix", async () => {
  const diag = [1, -3, 2, 0.5];
  const product = (v: Float64Array) => v.map((x, i) => diag[i] * x);
  const result = await powerIteration(product, 4, { iterations: 200, tolerance: 1e-12 });
  assert.ok(relativeError(result.eigenvalue, -3) < 1e-10, `${result.eigenvalue}`);
  assert.ok(result.converged && result.iterations < 200, `${result.iterations} iterations`);
  const capped = await powerIteration(product, 4, { iterations: 3, tolerance: 0 });
  assert.deepEqual([capped.iterations, capped.converged], [3, false]);
  assert.deepEqual(await powerIteration((v) => v.map(() => 0), 5), {
    eigenvalue: 0,
    iterations: 1,
    converged: true,
  });
  // The same seed gives the same answer bit for bit; another seed starts elsewhere.
  const a = await powerIteration(product, 4, { iterations: 4, seed: 7, tolerance: 0 });
  const b = await powerIteration(product, 4, { iterations: 4, seed: 7, tolerance: 0 });
  const c = await powerIteration(product, 4, { iterations: 4, seed: 8, tolerance: 0 });
  assert.equal(a.eigenvalue, b.eigenvalue);
  assert.notEqual(a.eigenvalue, c.eigenvalue);
  await assert.rejects(() => powerIteration(product, 4, { iterations: 0 }), /iterations must be/);
  await assert.rejects(() => powerIteration(product, 0), /dimension must be/);
});

Deno.test("CPU block eigenvalues of a quadratic: the block of a coupled Hessian", async () => {
  // loss = ½ θᵀAθ with A symmetric and coupling the blocks, so ∇ = Aθ and H_bb = A[b, b].
  const layout = new ParamLayout([
    { name: "a", shape: [3], kind: "weight" },
    { name: "b", shape: [2, 2], kind: "weight" },
  ]);
  const rng = new Rng(3), n = layout.size;
  const A = Array.from({ length: n }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) A[i][j] = A[j][i] = rng.normal();
  }
  const gradAt = (t: Float64Array) => Float64Array.from(A, (row) => row.reduce((s, x, j) => s + x * t[j], 0));
  const params = Float64Array.from({ length: n }, () => rng.normal());
  const before = params.slice();
  const found = await blockTopEigenvaluesCpu(gradAt, params, layout, { iterations: 500, tolerance: 1e-10 });
  assert.deepEqual(params, before, "params untouched");
  assert.deepEqual(found.map((f) => f.name), ["a", "b"]);
  for (const f of found) {
    const block = layout.get(f.name);
    const sub = Array.from(
      { length: block.size },
      (_, i) => Float64Array.from({ length: block.size }, (_, j) => A[block.offset + i][block.offset + j]),
    );
    const want = dominantEigenvalue(sub);
    assert.ok(relativeError(f.eigenvalue, want) < 1e-8, `${f.name}: ${f.eigenvalue} vs ${want}`);
    assert.ok(f.converged);
  }
  const [only] = await blockTopEigenvaluesCpu(gradAt, params, layout, { blocks: ["b"], epsilon: 0.5 });
  assert.deepEqual([only.name, only.epsilon], ["b", 0.5]);
  await assert.rejects(
    () => blockTopEigenvaluesCpu(gradAt, params, layout, { blocks: ["c"] }),
    /no parameter block/,
  );
});

// The tiny transformer of tests/transformer_test.ts: weights ×0.2 of the reference scale.
const config = tokenConfig("pre", true, lm(false));
const layout = transformerLayout(config);
const params = randomParams(config, layout, 10);
for (const block of layout.blocks) {
  if (block.kind === "weight" || block.kind === "embedding") {
    layout.view(params, block.name).forEach((v, i, a) => a[i] = 0.2 * v);
  }
}
const batch = randomBatch(config, 20);
const gradAt = (p: Float64Array) => referenceLossAndGrad(config, layout, p, batch).grad;
/** Small blocks with well separated top eigenvalues, two of them negative. */
const BLOCKS = ["ln_f.weight", "blocks.1.mlp.fc.bias", "blocks.1.attn.proj.bias", "blocks.1.ln2.weight"];
let exactCache: Map<string, number> | null = null;
function exact(): Map<string, number> {
  exactCache ??= new Map(
    BLOCKS.map((name) => [name, dominantEigenvalue(exactBlockHessian(gradAt, params, layout.get(name)))]),
  );
  return exactCache;
}
const ITERATIONS = 20;

Deno.test("CPU power iteration matches the exact block Hessian of a tiny transformer to 1e-3", async () => {
  const found = await blockTopEigenvaluesCpu(gradAt, params, layout, {
    blocks: BLOCKS,
    iterations: ITERATIONS,
  });
  assert.ok(found.some((f) => f.eigenvalue < 0), "a negative dominant eigenvalue keeps its sign");
  for (const f of found) {
    const want = exact().get(f.name)!;
    assert.ok(relativeError(f.eigenvalue, want) < 1e-3, `${f.name}: ${f.eigenvalue} vs ${want}`);
  }
});

Deno.test("GPU power iteration matches the exact block Hessian to 5e-3 and restores the model", async () => {
  const gpu = await testGpu();
  const model = await Transformer.create(gpu, config, { batchSize: B, params: Float32Array.from(params) });
  try {
    model.setBatch({ B: batch.B, tokens: batch.tokens, targets: batch.targets, lengths: batch.lengths });
    await model.forwardBackward();
    const [paramsBefore, gradsBefore] = await Promise.all([model.params.read(), model.grads.read()]);
    const live = gpu.liveBuffers;
    const found = await blockTopEigenvalues(model, { blocks: BLOCKS, iterations: ITERATIONS });
    assert.equal(gpu.liveBuffers, live, "scratch freed");
    assert.deepEqual(await model.params.read(), paramsBefore, "params restored bit for bit");
    assert.deepEqual(await model.grads.read(), gradsBefore, "grads recomputed at the restored params");
    for (const f of found) {
      const want = exact().get(f.name)!;
      // Measured on lavapipe: ≤ 1e-4 relative with the default ε = 3e-3·max(1, ‖θ_b‖).
      assert.ok(relativeError(f.eigenvalue, want) < 5e-3, `${f.name}: ${f.eigenvalue} vs ${want}`);
    }
  } finally {
    model.destroy();
  }
});
