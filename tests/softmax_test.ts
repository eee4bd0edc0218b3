import assert from "node:assert/strict";
import { type Gpu, Tensor } from "../mod.ts";
import { recordSoftmaxBackward, recordSoftmaxForward, type SoftmaxShape } from "../src/nn/softmax.ts";
import { attentionAllowed, maskedSoftmax } from "./reference/layers.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Float64 reference forward: P = masked softmax(scale·S) of every [b, h, i] row. */
function softmaxRef(
  s: Float64Array,
  shape: SoftmaxShape,
  causal: boolean,
  lengths: Int32Array,
): Float64Array {
  const { batch, heads, seq: t, scale } = shape;
  const p = new Float64Array(s.length);
  for (let row = 0; row < batch * heads * t; row++) {
    const b = Math.floor(row / (heads * t)), i = row % t;
    const allowed = Array.from({ length: t }, (_, j) => attentionAllowed(i, j, causal, lengths[b]));
    const scaled = s.slice(row * t, (row + 1) * t).map((v) => scale * v);
    maskedSoftmax(scaled, allowed, p.subarray(row * t, (row + 1) * t));
  }
  return p;
}

/** Float64 reference backward: dS = scale·P ⊙ (dP − Σ_j P_j·dP_j), row by row. */
function softmaxBackwardRef(p: Float64Array, dp: Float64Array, t: number, scale: number): Float64Array {
  const ds = new Float64Array(p.length);
  for (let base = 0; base < p.length; base += t) {
    let dot = 0;
    for (let j = 0; j < t; j++) dot += p[base + j] * dp[base + j];
    for (let j = 0; j < t; j++) ds[base + j] = scale * p[base + j] * (dp[base + j] - dot);
  }
  return ds;
}

Deno.test("softmax backward reference matches central finite differences in float64", () => {
  const shape = { batch: 2, heads: 1, seq: 5, scale: 0.7 };
  const n = 2 * 5 * 5, h = 1e-6;
  const lengths = new Int32Array([4, 0]);
  const s = Float64Array.from(randn(n, 11, 2)), dp = Float64Array.from(randn(n, 12));
  const loss = (x: Float64Array) => softmaxRef(x, shape, true, lengths).reduce((a, v, k) => a + v * dp[k], 0);
  const analytic = softmaxBackwardRef(softmaxRef(s, shape, true, lengths), dp, 5, 0.7);
  for (let k = 0; k < n; k++) {
    const plus = s.slice(), minus = s.slice();
    plus[k] += h;
    minus[k] -= h;
    const numeric = (loss(plus) - loss(minus)) / (2 * h);
    assert.ok(Math.abs(numeric - analytic[k]) <= 1e-7, `entry ${k}: ${numeric} vs ${analytic[k]}`);
  }
});

/** Runs the in-place forward then backward on the GPU. */
async function runSoftmax(
  gpu: Gpu,
  s: Float32Array,
  dp: Float32Array,
  shape: SoftmaxShape,
  causal: boolean,
  lengths?: Int32Array,
): Promise<[Float32Array, Float32Array]> {
  const size = [shape.batch, shape.heads, shape.seq, shape.seq];
  const scores = Tensor.from(gpu, size, s), grad = Tensor.from(gpu, size, dp);
  const tl = lengths && Tensor.from(gpu, [shape.batch], lengths, "i32");
  const forward = await recordSoftmaxForward(gpu, { ...shape, scores, causal, lengths: tl });
  const backward = await recordSoftmaxBackward(gpu, { ...shape, probs: scores, grad });
  forward.run();
  backward.run();
  const result: [Float32Array, Float32Array] = [await scores.read(), await grad.read()];
  for (const r of [forward, backward, scores, grad, tl]) r?.destroy();
  return result;
}

Deno.test("masked softmax forward and backward match float64 on odd shapes", async () => {
  const gpu = await testGpu();
  // T = 130 > 64 threads exercises the strided loop; lengths include 0 (fully masked rows)
  // and one past T (clamped).
  const cases: [number, number, number, number[]][] = [
    [1, 1, 1, [1]],
    [2, 3, 5, [5, 3]],
    [3, 2, 17, [17, 0, 9]],
    [1, 2, 130, [131]],
  ];
  for (const [batch, heads, seq, lens] of cases) {
    const shape = { batch, heads, seq, scale: 1 / Math.sqrt(8) };
    const n = batch * heads * seq * seq;
    const s = randn(n, n, 4), dp = randn(n, n + 1);
    for (const causal of [false, true]) {
      const lengths = Int32Array.from(lens);
      const [p, ds] = await runSoftmax(gpu, s, dp, shape, causal, lengths);
      const pRef = softmaxRef(Float64Array.from(s), shape, causal, lengths);
      const dsRef = softmaxBackwardRef(pRef, Float64Array.from(dp), seq, shape.scale);
      const label = `B=${batch} H=${heads} T=${seq} causal=${causal}`;
      assert.ok(normalisedError(p, pRef) <= 1e-5, `${label}: P error ${normalisedError(p, pRef)}`);
      assert.ok(normalisedError(ds, dsRef) <= 1e-5, `${label}: dS error ${normalisedError(ds, dsRef)}`);
      assert.ok(p.every((v, k) => pRef[k] !== 0 || v === 0), `${label}: masked P not exactly 0`);
      assert.ok(ds.every((v, k) => pRef[k] !== 0 || v === 0), `${label}: masked dS not exactly 0`);
    }
  }
});

Deno.test("softmax without lengths masks nothing but the causal future", async () => {
  const gpu = await testGpu();
  const shape = { batch: 2, heads: 1, seq: 3, scale: 2 };
  const s = randn(18, 3), dp = randn(18, 4);
  const [p] = await runSoftmax(gpu, s, dp, shape, true);
  const pRef = softmaxRef(Float64Array.from(s), shape, true, new Int32Array([3, 3]));
  assert.ok(normalisedError(p, pRef) <= 1e-5);
});

Deno.test("softmax rejects bad sizes", async () => {
  const gpu = await testGpu();
  const scores = new Tensor(gpu, [2, 1, 3, 3]), lengths = new Tensor(gpu, [1], "i32");
  const shape = { batch: 2, heads: 1, seq: 3, scale: 1, causal: false };
  await assert.rejects(() => recordSoftmaxForward(gpu, { ...shape, scores, seq: 4 }), /needs 32 elements/);
  await assert.rejects(() => recordSoftmaxForward(gpu, { ...shape, scores, lengths }), /in 'lengths'/);
  await assert.rejects(() => recordSoftmaxForward(gpu, { ...shape, scores, scale: NaN }), /finite scale/);
  await assert.rejects(
    () => recordSoftmaxBackward(gpu, { ...shape, probs: lengths, grad: scores }),
    /needs 18 elements in 'probs'/,
  );
  scores.destroy();
  lengths.destroy();
});
