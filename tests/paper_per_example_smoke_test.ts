/**
 * The per-example pipeline (scripts/paper_per_example.ts): its CPU arithmetic against plain
 * float64 references, the sign-alignment check on simulated Gaussian per-example gradients, and
 * a smoke run of all four experiments into a temp folder whose outputs must exist and parse.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { blockMoments, gradientSnr, noiseScale } from "../mod.ts";
import { Rng } from "../src/nn/rng.ts";
import {
  binnedMeans,
  collapseScore,
  debiasedSnr,
  erf,
  logEdges,
  modelNoise,
  momentsFromLog,
  predictedAlignment,
  seedStats,
  splitSecondMoment,
  varianceShare,
} from "../src/experiments/per_example_math.ts";
import { alignmentCheck, meanPredictedAlignment } from "../src/experiments/per_example_signs.ts";
import { bestIndex } from "../src/experiments/per_example_tuning.ts";
import { parseExperimentArgs } from "../src/experiments/per_example_setup.ts";
import { paperPerExample, PER_EXAMPLE_EXPERIMENTS } from "../scripts/paper_per_example.ts";

/** erf by its Maclaurin series, to many terms: a float64 reference for |x| ≤ 3. */
function erfSeries(x: number): number {
  let term = x, total = x;
  for (let k = 1; k < 200; k++) {
    term *= (-x * x) / k;
    total += term / (2 * k + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * total;
}

Deno.test("erf matches its series to 2e-7", () => {
  for (const x of [-3, -1.3, -0.2, 0, 0.01, 0.5, 1, 1.7, 2.9]) {
    assert.ok(Math.abs(erf(x) - erfSeries(x)) < 2e-7, `erf(${x})`);
  }
  assert.equal(erf(Infinity), 1);
  assert.equal(predictedAlignment(0, 64), 0);
  // n = 1, r = 1: P(sign right) − P(sign wrong) = 2Φ(1) − 1 = 0.6827.
  assert.ok(Math.abs(predictedAlignment(1, 1) - 0.682689) < 1e-5);
});

Deno.test("debiasedSnr against per-example values", () => {
  const rng = new Rng(3);
  const P = 5, N = 17;
  const g = Array.from({ length: N }, () => Array.from({ length: P }, (_, j) => 0.3 * j + rng.normal()));
  const sum = Array.from({ length: P }, (_, j) => g.reduce((a, row) => a + row[j], 0));
  const sumSq = Array.from({ length: P }, (_, j) => g.reduce((a, row) => a + row[j] ** 2, 0));
  const snr = debiasedSnr(sum, sumSq, N);
  for (let j = 0; j < P; j++) {
    const mean = sum[j] / N;
    const variance = g.reduce((a, row) => a + (row[j] - mean) ** 2, 0) / (N - 1);
    const expected = Math.sqrt(Math.max(0, mean ** 2 - variance / N) / variance);
    assert.ok(Math.abs(snr[j] - expected) < 1e-12);
  }
  assert.ok(Number.isNaN(debiasedSnr([0], [0], 4)[0]), "no gradient: NaN");
  assert.equal(debiasedSnr([8], [16], 4)[0], Infinity, "no variance: ∞");
});

Deno.test("block moments from a logged reading equal the library's from per-example gradients", () => {
  const rng = new Rng(5);
  const B = 7, P = 13;
  const g = Array.from({ length: B }, () => Array.from({ length: P }, () => 0.2 + rng.normal()));
  const mean = Array.from({ length: P }, (_, j) => g.reduce((a, row) => a + row[j], 0) / B);
  const sumSq = Array.from({ length: P }, (_, j) => g.reduce((a, row) => a + row[j] ** 2, 0));
  const library = blockMoments({ mean, sumSq, batch: B });
  const logged = momentsFromLog({
    size: P,
    sumSqMean: sumSq.reduce((a, b) => a + b, 0) / P,
    gradNorm: Math.sqrt(mean.reduce((a, m) => a + m * m, 0)),
    batch: B,
  });
  assert.ok(Math.abs(logged.trace - library.trace) < 1e-9 * library.trace);
  assert.ok(Math.abs(logged.meanNormSq - library.meanNormSq) < 1e-9 * library.meanNormSq);
  const split = splitSecondMoment(logged, P);
  assert.ok(Math.abs(split.variance * P - library.trace) < 1e-9 * library.trace);
  const noise = modelNoise({ w: P }, { w: sumSq.reduce((a, b) => a + b, 0) / P }, {
    w: Math.sqrt(library.meanNormSq),
  }, B);
  assert.ok(Math.abs(noise.gsnr.w - gradientSnr(library)) < 1e-9);
  assert.ok(Math.abs(noise.noiseScale - noiseScale(library, { debias: true })) < 1e-9);
  assert.equal(varianceShare("microAdamVar", split, B), 1);
  assert.equal(varianceShare("microAdamMsq", split, B), 0);
  assert.ok(varianceShare("adam", split, B) < varianceShare("microAdam", split, B));
});

Deno.test("binnedMeans, collapseScore, seedStats, bestIndex", () => {
  const b = binnedMeans([0.001, 0.05, 0.06, 5, NaN, 100], [[1, 2, 4, 8, 16, 32]], logEdges(0.01, 10, 4));
  assert.deepEqual(b.count, [2, 1]);
  assert.deepEqual(b.means, [[3, 8]]);
  const a = { x: [1, 2, 3], y: [3, 2, 1] };
  assert.equal(collapseScore([a, a]), 0);
  assert.equal(collapseScore([a, { x: [1, 2, 3], y: [3, 2, Infinity] }]), Infinity);
  assert.ok(Number.isNaN(collapseScore([a])));
  assert.ok(Math.abs(collapseScore([a, { x: [1, 2, 3], y: [5, 4, 3] }], 1) - Math.SQRT2) < 1e-12);
  assert.equal(seedStats([1, 2, 3]).std, 1);
  assert.equal(seedStats([2, NaN]).mean, Infinity);
  assert.equal(bestIndex([Infinity, Infinity]), 0);
  assert.equal(bestIndex([NaN, 3, 2, 2]), 2);
});

Deno.test("the sign-alignment check recovers erf(r√n/√2) on Gaussian per-example gradients", () => {
  // Coordinates with SNRs spread over [0, 1]; a reference of N examples and independent draws.
  const rng = new Rng(11);
  const P = 400, N = 4000, ns = [1, 4], draws = 200;
  const mu = Float64Array.from({ length: P }, (_, j) => (j % 2 ? -1 : 1) * (j / P));
  const sample = (j: number) => mu[j] + rng.normal();
  const sum = new Float64Array(P), sumSq = new Float64Array(P);
  for (let k = 0; k < N; k++) {
    for (let j = 0; j < P; j++) {
      const g = sample(j);
      sum[j] += g;
      sumSq[j] += g * g;
    }
  }
  const measurements = ns.map((n) => {
    const signSum = new Float64Array(P);
    for (let d = 0; d < draws; d++) {
      for (let j = 0; j < P; j++) {
        let avg = 0;
        for (let k = 0; k < n; k++) avg += sample(j) / n;
        signSum[j] += Math.sign(avg);
      }
    }
    return { n, signSum, draws };
  });
  const check = alignmentCheck({ sum, sumSq, count: N }, measurements, [
    { name: "a", offset: 0, size: P / 2 },
    { name: "b", offset: P / 2, size: P / 2, sparse: true },
  ], logEdges(0.01, 2, 6));
  for (const b of check.blocks) {
    assert.ok(
      Math.abs(b.measured - b.predicted) < 0.03,
      `block ${b.block} n=${b.n}: ${b.measured} vs ${b.predicted}`,
    );
    const exact = (b.block === "a" ? [...mu.slice(0, P / 2)] : [...mu.slice(P / 2)])
      .reduce((a, m) => a + predictedAlignment(Math.abs(m), b.n), 0) / (P / 2);
    assert.ok(Math.abs(b.predicted - exact) < 0.03, `predicted from the true SNRs, block ${b.block}`);
  }
  // The sparse block is left out of the bins.
  assert.ok(check.binned.every((b) => b.count.reduce((x, y) => x + y, 0) <= P / 2));
  assert.ok(Number.isNaN(check.denseSnr[P - 1]));
  assert.ok(meanPredictedAlignment(check.denseSnr, 16) > meanPredictedAlignment(check.denseSnr, 1));
});

Deno.test("experiment arguments", () => {
  assert.deepEqual(parseExperimentArgs([], "x"), { mode: "default", out: "results/x" });
  assert.deepEqual(parseExperimentArgs(["--full", "--out", "o"], "x"), { mode: "full", out: "o" });
  assert.deepEqual(parseExperimentArgs(["--smoke"], "x"), { mode: "smoke", out: "results/x_smoke" });
  assert.throws(() => parseExperimentArgs(["--full", "--smoke"], "x"));
});

Deno.test("paper:per-example smoke run writes every report, figure and results file", async () => {
  const out = await Deno.makeTempDir({ prefix: "per_example_smoke_" });
  const docs = join(out, "docs");
  try {
    const result = await paperPerExample({ mode: "smoke", out, docs, quiet: true });
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    for (const experiment of PER_EXAMPLE_EXPERIMENTS) {
      const paths = result.reports[experiment.name];
      const results = JSON.parse(await Deno.readTextFile(paths.results));
      assert.equal(results.experiment, experiment.name);
      assert.equal(results.mode, "smoke");
      const html = await Deno.readTextFile(paths.html);
      assert.ok(
        html.startsWith("<!doctype html>") && html.includes("<svg"),
        `${experiment.name} report.html`,
      );
      assert.ok((await Deno.readTextFile(paths.markdown)).includes("](figures/"));
      for (const slug of experiment.docs) {
        assert.ok(paths.png[slug], `${experiment.name} has figure ${slug}`);
        const bytes = await Deno.readFile(join(docs, `${experiment.name}_${slug}.png`));
        assert.deepEqual(bytes.slice(0, 4), png);
      }
    }
    const sign = JSON.parse(await Deno.readTextFile(result.reports.sign_placement.results));
    assert.equal(sign.placements.length, 4);
    assert.ok(sign.alignment.trained.summary.every((s: { measured: number }) => Number.isFinite(s.measured)));
    const lr = JSON.parse(await Deno.readTextFile(result.reports.lr_scaling.results));
    assert.equal(lr.scores.length, 6);
    const noise = JSON.parse(await Deno.readTextFile(result.reports.noise_scale.results));
    assert.ok(noise.stepMs.plain > 0 && noise.readings.length > 0);
    const summary = JSON.parse(await Deno.readTextFile(join(out, "paper_per_example.json")));
    assert.equal(Object.keys(summary.seconds).length, 4);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
