// Gradient heterogeneity metrics on hand-computed cases.

import assert from "node:assert/strict";
import {
  blockGradientDensities,
  blockGradientNorms,
  coefficientOfVariation,
  giniCoefficient,
  gradientDensity,
  gradientHeterogeneity,
  maxMinRatio,
  spearmanCorrelation,
} from "../src/stats/heterogeneity.ts";
import { ParamLayout } from "../src/nn/layout.ts";

function near(got: number, want: number, tol = 1e-12): void {
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${got} vs ${want}`);
}

Deno.test("equal norms: ratio 1, CV 0, Gini 0", () => {
  const norms = [2.5, 2.5, 2.5, 2.5, 2.5];
  assert.equal(maxMinRatio(norms), 1);
  assert.equal(coefficientOfVariation(norms), 0);
  assert.equal(giniCoefficient(norms), 0);
  assert.equal(maxMinRatio([7]), 1);
  assert.equal(giniCoefficient([7]), 0);
});

Deno.test("a single non-zero norm among n", () => {
  const n = 5, norms = [0, 0, 3, 0, 0];
  assert.equal(maxMinRatio(norms), 1, "zero-norm blocks are ignored");
  near(coefficientOfVariation(norms), Math.sqrt(n - 1));
  near(giniCoefficient(norms), (n - 1) / n);
});

Deno.test("known values", () => {
  near(maxMinRatio([2, 0, 8, 4]), 4);
  near(maxMinRatio([0.5, 3]), 6);
  near(coefficientOfVariation([1, 3]), 0.5);
  // μ = 2.5, σ² = (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25.
  near(coefficientOfVariation([4, 1, 3, 2]), Math.sqrt(1.25) / 2.5);
  near(giniCoefficient([1, 2, 3, 4]), 0.25);
  near(giniCoefficient([4, 3, 2, 1]), 0.25, 1e-15);
  // Σ|xi − xj| over ordered pairs = 2·(9 + 1 + 10) = 40; G = 40 / (2·3·11).
  near(giniCoefficient([1, 10, 0]), 40 / 66);
  // Scale invariance.
  near(giniCoefficient([10, 20, 30, 40]), 0.25);
  near(coefficientOfVariation([10, 30]), 0.5);
});

Deno.test("degenerate and invalid norms", () => {
  assert.ok(Number.isNaN(maxMinRatio([0, 0])));
  assert.ok(Number.isNaN(coefficientOfVariation([0, 0])));
  assert.ok(Number.isNaN(giniCoefficient([0, 0, 0])));
  for (const f of [maxMinRatio, coefficientOfVariation, giniCoefficient]) {
    assert.throws(() => f([]), /at least one value/);
    assert.throws(() => f([1, -1]), /non-negative/);
    assert.throws(() => f([1, NaN]), /non-negative/);
  }
});

Deno.test("per-block norms skip the layout's gaps", () => {
  const layout = new ParamLayout([
    { name: "w", shape: [2, 3], kind: "weight" },
    { name: "b", shape: [1], kind: "bias" },
    { name: "g", shape: [4], kind: "norm" },
  ]);
  const grad = new Float32Array(layout.size).fill(100); // gaps hold garbage that must not count
  layout.view(grad, "w").set([1, 2, 2, 0, 0, 0]);
  layout.view(grad, "b").set([-7]);
  layout.view(grad, "g").set([1, 1, 1, 1]);
  assert.deepEqual(blockGradientNorms(grad, layout), Float64Array.from([3, 7, 2]));
  assert.deepEqual(blockGradientNorms([3, 4, 9, 1], [[0, 2], [3, 4]]), Float64Array.from([5, 1]));
  assert.throws(() => blockGradientNorms([1, 2], [[0, 3]]), /outside an array of 2/);

  const summary = gradientHeterogeneity(grad, layout);
  assert.deepEqual(summary.blockNorms, Float64Array.from([3, 7, 2]));
  near(summary.maxMinRatio, 3.5);
  near(summary.gini, giniCoefficient([3, 7, 2]));
  near(summary.coefficientOfVariation, coefficientOfVariation([3, 7, 2]));
  // ‖g‖₁ = 5 + 7 + 4 = 16, ‖g‖₂² = 9 + 49 + 4 = 62, d = 11.
  near(summary.density, 256 / (11 * 62));
  near(summary.blockDensities[0], 25 / (6 * 9));
  near(summary.blockDensities[1], 1);
  near(summary.blockDensities[2], 1);
});

Deno.test("density ‖g‖₁²/(d‖g‖₂²): 1 for constant magnitude, 1/d for one-hot", () => {
  for (const d of [1, 3, 17]) {
    const constant = Float32Array.from({ length: d }, (_, i) => (i % 2 ? -0.3 : 0.3));
    near(gradientDensity(constant), 1, 1e-6);
    const oneHot = new Float32Array(d);
    oneHot[d - 1] = -2;
    near(gradientDensity(oneHot), 1 / d);
  }
  // Ranges: only the coordinates inside them count (d = 4 here, the 9 is skipped).
  near(gradientDensity([1, 1, 9, 1, 1], [[0, 2], [3, 5]]), 1);
  near(gradientDensity([0, 5, 9, 0, 0], [[0, 2], [3, 5]]), 1 / 4);
  assert.ok(Number.isNaN(gradientDensity([0, 0])));
  const per = blockGradientDensities([1, 1, 0, 3, 0], [[0, 2], [2, 5]]);
  near(per[0], 1);
  near(per[1], 1 / 3);
});

Deno.test("Spearman correlation, with ties averaged", () => {
  near(spearmanCorrelation([1, 2, 3], [10, 40, 20]), 0.5);
  near(spearmanCorrelation([1, 2, 3, 4], [1, 4, 9, 16]), 1, 1e-15);
  near(spearmanCorrelation([1, 2, 3, 4], [-1, -4, -9, -16]), -1, 1e-15);
  // x ranks [1, 2.5, 2.5, 4], y ranks [1, 3, 2, 4]: 4.5 / √(4.5 · 5).
  near(spearmanCorrelation([1, 2, 2, 3], [1, 3, 2, 4]), 4.5 / Math.sqrt(4.5 * 5));
  // Ties on both sides: x ranks [1.5, 1.5, 3, 4], y ranks [1, 2.5, 2.5, 4].
  // centred: x [−1, −1, 0.5, 1.5], y [−1.5, 0, 0, 1.5]; Σxy = 3.75, Σx² = 4.5, Σy² = 4.5.
  near(spearmanCorrelation([5, 5, 6, 7], [0.1, 0.2, 0.2, 0.3]), 3.75 / 4.5);
  // Unordered input with ties: the order of the pairs must not matter.
  near(
    spearmanCorrelation([6, 5, 7, 5], [0.2, 0.1, 0.3, 0.2]),
    spearmanCorrelation([5, 5, 6, 7], [0.1, 0.2, 0.2, 0.3]),
  );
  assert.ok(Number.isNaN(spearmanCorrelation([1, 1, 1], [1, 2, 3])));
  assert.throws(() => spearmanCorrelation([1, 2], [1]), /lengths differ/);
  assert.throws(() => spearmanCorrelation([1], [1]), /at least 2/);
  assert.throws(() => spearmanCorrelation([1, NaN], [1, 2]), /non-finite/);
});
