import assert from "node:assert/strict";
import { testGpu } from "./helpers.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { type ParamBlock, ParamLayout } from "../src/nn/layout.ts";
import { Rng } from "../src/nn/rng.ts";
import { clipByGlobalNorm } from "../src/optim/clip.ts";
import { GaussianNoise } from "../src/optim/gaussian_noise.ts";
import { lrMultipliers } from "../src/optim/lr_multipliers.ts";
import { adam, signSgd } from "../src/optim/optimizers.ts";
import { clipWeights, recordClipWeights } from "../src/optim/per_example_clip.ts";
import {
  meanSignEma,
  meanSignSgd,
  microAdam,
  microAdamMsq,
  microAdamVar,
  type MicroAdamVariant,
  requiredStats,
  scaleByMeanSign,
  scaleByMeanSignEma,
  scaleByMicroAdam,
  SIGN_PLACEMENTS,
  signPlacement,
} from "../src/optim/per_example_rules.ts";
import { scaleByLearningRate } from "../src/optim/schedule.ts";
import { chain, type GradientTransformation, type GradStats } from "../src/optim/transform.ts";
import { addDecayedWeights, excludeKinds } from "../src/optim/weight_decay.ts";
import { clipRef, type Elementwise } from "./reference/optim.ts";
import {
  clipWeightsRef,
  emaOfSignsRef,
  type ExampleRule,
  exampleStats,
  exampleStep,
  meanOfSignsRef,
  microAdamRef,
  noiseRef,
  philox4x32,
  signOfEmaRef,
  signOfMeanRef,
} from "./reference/per_example_optim.ts";

// Odd block sizes, several 64-float granules, and gaps between the blocks.
const LAYOUT = new ParamLayout([
  { name: "embed.weight", shape: [11, 3], kind: "embedding" },
  { name: "ln.weight", shape: [3], kind: "norm" },
  { name: "fc.weight", shape: [5, 13], kind: "weight" },
  { name: "fc.bias", shape: [13], kind: "bias" },
  { name: "head.weight", shape: [1], kind: "weight" },
  { name: "big.weight", shape: [3, 29], kind: "weight" },
]);
const N = LAYOUT.size;
const LIVE = LAYOUT.blocks.flatMap((b) => Array.from({ length: b.size }, (_, j) => b.offset + j));
const STEPS = 5;
/** Per-block gradient scale: the tiny ones make ε matter. */
const GRAD_SCALE = [1, 1e-7, 0.3, 1e-3, 2, 1];
const NO_DECAY = excludeKinds("norm", "bias");
const MULTIPLIERS = [{ match: "embed.*", scale: 0.5 }, { match: /\.bias$/, scale: 2 }];
const BATCHES = [1, 3, 8];

function perElement(f: (b: ParamBlock) => number): Float64Array {
  const out = new Float64Array(N);
  for (const b of LAYOUT.blocks) out.fill(f(b), b.offset, b.offset + b.size);
  return out;
}

const decays = (b: ParamBlock) => b.kind !== "norm" && b.kind !== "bias";
const multiplierOf = (b: ParamBlock) => b.name.startsWith("embed.") ? 0.5 : b.name.endsWith(".bias") ? 2 : 1;

function elementwise(o: { l2?: number; wd?: number; mult?: boolean }): Elementwise {
  return {
    live: LIVE,
    l2: perElement(() => o.l2 ?? 0),
    wd: perElement((b) => decays(b) ? o.wd ?? 0 : 0),
    mult: perElement(o.mult ? multiplierOf : () => 1),
  };
}

/**
 * Per-example gradients g_b for every step: a per-coordinate signal plus per-example noise,
 * scaled per block; in each block the first coordinate is 0 for every example, the second
 * is 0.5 for every example (zero variance, exactly), and example 0 is 0 at the third.
 */
function examplesFor(batch: number, seed: number): Float64Array[][] {
  const rng = new Rng(seed);
  return Array.from({ length: STEPS }, () => {
    const signal = Float64Array.from({ length: N }, () => 0.7 * rng.normal());
    return Array.from({ length: batch }, (_, b) => {
      const g = new Float64Array(N);
      LAYOUT.blocks.forEach((block, k) => {
        for (let j = 0; j < block.size; j++) {
          const i = block.offset + j;
          g[i] = j === 0 || (j === 2 && b === 0)
            ? 0
            : j === 1
            ? 0.5
            : GRAD_SCALE[k] * (signal[i] + rng.normal());
        }
      });
      return g;
    });
  });
}

function initialParams(seed: number): Float32Array {
  const rng = new Rng(seed);
  const p = new Float32Array(N);
  for (const i of LIVE) p[i] = rng.normal();
  return p;
}

/** The statistics as f32, with garbage in the gaps (which must be ignored). */
function uploadable(examples: readonly Float64Array[], rng: Rng): [Float32Array, Float32Array, Float32Array] {
  const s = exampleStats(examples);
  const live = new Set(LIVE);
  return [s.mean, s.sumSq, s.sumSign].map((x) =>
    Float32Array.from(x, (v, i) => live.has(i) ? v : 100 * rng.normal())
  ) as [Float32Array, Float32Array, Float32Array];
}

interface Run {
  params: Float32Array;
  state: Record<string, Float32Array>;
}

/** Records one update over GPU statistics tensors and replays it once per step. */
async function runGpu(
  opt: GradientTransformation,
  params: Float32Array,
  steps: readonly Float64Array[][],
  saved?: Record<string, Float32Array>,
): Promise<Run> {
  const gpu = await testGpu();
  const state = opt.init(gpu, LAYOUT);
  if (saved) state.load(saved);
  const p = Tensor.from(gpu, [N], params);
  const stats: GradStats = {
    mean: new Tensor(gpu, [N]),
    sumSq: new Tensor(gpu, [N]),
    sumSign: new Tensor(gpu, [N]),
    batchSize: steps[0].length,
  };
  const program = await opt.update(stats, state, p);
  const rng = new Rng(99);
  for (const examples of steps) {
    const [mean, sumSq, sumSign] = uploadable(examples, rng);
    stats.mean.write(mean);
    stats.sumSq!.write(sumSq);
    stats.sumSign!.write(sumSign);
    program.run();
  }
  const out = { params: await p.read(), state: await state.save() };
  for (const t of [program, state, p, stats.mean, stats.sumSq!, stats.sumSign!]) t.destroy();
  return out;
}

function runRef(
  c: Case,
  params: Float32Array,
  steps: readonly Float64Array[][],
): { params: Float64Array; state: Record<string, Float64Array>; path: Float64Array } {
  const p = Float64Array.from(params);
  const state = Object.fromEntries(c.slots.map((name) => [name, new Float64Array(N)]));
  const path = new Float64Array(N);
  steps.forEach((examples, s) => {
    // Global-norm clipping scales every example by the scale of the mean gradient.
    const scale = c.clip === undefined ? 1 : clipScale(examples, c.clip);
    const before = Float64Array.from(p);
    exampleStep(c.ref, p, examples, state, s + 1, c.lr, c.e, scale);
    for (const i of LIVE) path[i] += Math.abs(p[i] - before[i]);
  });
  return { params: p, state, path };
}

function clipScale(examples: readonly Float64Array[], maxNorm: number): number {
  const mean = Float64Array.from(exampleStats(examples).mean, (x) => Math.fround(x));
  const norm = clipRef(mean, LIVE, maxNorm);
  return Math.min(1, maxNorm / (norm + 1e-6));
}

/** Worst over blocks of max |a − b| / max |b| within the block. */
function blockError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (const block of LAYOUT.blocks) {
    let scale = 0, err = 0;
    for (let i = block.offset; i < block.offset + block.size; i++) {
      scale = Math.max(scale, Math.abs(b[i]));
      err = Math.max(err, Math.abs(a[i] - b[i]));
    }
    worst = Math.max(worst, scale === 0 ? err : err / scale);
  }
  return worst;
}

/**
 * max |a − b| / max(1, |b|, path) over the live elements, where path = Σ_t |Δθ_t| is the
 * size of the updates summed into θ: steps of m̂/ε can be huge and cancel.
 */
function paramError(a: ArrayLike<number>, b: ArrayLike<number>, path: ArrayLike<number>): number {
  return Math.max(...LIVE.map((i) => Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]), path[i])));
}

function assertGapsZero(name: string, x: Float32Array): void {
  const live = new Set(LIVE);
  for (let i = 0; i < x.length; i++) {
    if (!live.has(i)) assert.equal(x[i], 0, `${name}[${i}] is in a gap but ${x[i]}`);
  }
}

interface Case {
  name: string;
  opt: () => GradientTransformation;
  ref: ExampleRule;
  e: Elementwise;
  slots: string[];
  lr: number;
  clip?: number;
}

function microChain(variant: MicroAdamVariant, b1: number, b2: number, eps: number): Case {
  return {
    name: `clip + coupled decay + scaleByMicroAdam(${variant})`,
    opt: () =>
      chain(
        clipByGlobalNorm(1),
        addDecayedWeights(0.05),
        scaleByMicroAdam({ variant, betas: [b1, b2], eps }),
        scaleByLearningRate(0.01),
      ),
    ref: microAdamRef(variant, b1, b2, eps),
    e: elementwise({ l2: 0.05 }),
    slots: ["exp_avg", { sq: "exp_avg_sq", var: "exp_avg_var", msq: "exp_avg_msq" }[variant]],
    lr: 0.01,
    clip: 1,
  };
}

const CASES: Case[] = [
  {
    name: "signPlacement signOfMean (signSgd)",
    opt: () => signPlacement("signOfMean", { lr: 0.05, weightDecay: 0.1, weightDecayMask: NO_DECAY }),
    ref: signOfMeanRef,
    e: elementwise({ wd: 0.1 }),
    slots: [],
    lr: 0.05,
  },
  {
    name: "signPlacement meanOfSigns (meanSignSgd)",
    opt: () => signPlacement("meanOfSigns", { lr: 0.05, weightDecay: 0.1, weightDecayMask: NO_DECAY }),
    ref: meanOfSignsRef,
    e: elementwise({ wd: 0.1 }),
    slots: [],
    lr: 0.05,
  },
  {
    name: "signPlacement signOfEma (signum)",
    opt: () => signPlacement("signOfEma", { lr: 0.05, beta: 0.8 }),
    ref: signOfEmaRef(0.8),
    e: elementwise({}),
    slots: ["momentum_buffer"],
    lr: 0.05,
  },
  {
    name: "signPlacement emaOfSigns (meanSignEma) with lr multipliers",
    opt: () => chain(signPlacement("emaOfSigns", { lr: 0.05, beta: 0.8 }), lrMultipliers(MULTIPLIERS)),
    ref: emaOfSignsRef(0.8),
    e: elementwise({ mult: true }),
    slots: ["sign_avg"],
    lr: 0.05,
  },
  {
    name: "microAdam, decoupled decay",
    opt: () => microAdam({ lr: 0.01, weightDecay: 0.1, weightDecayMask: NO_DECAY }),
    ref: microAdamRef("sq", 0.9, 0.999, 1e-8),
    e: elementwise({ wd: 0.1 }),
    slots: ["exp_avg", "exp_avg_sq"],
    lr: 0.01,
  },
  {
    name: "microAdamVar",
    opt: () => microAdamVar({ lr: 0.01, betas: [0.8, 0.95], eps: 1e-6 }),
    ref: microAdamRef("var", 0.8, 0.95, 1e-6),
    e: elementwise({}),
    slots: ["exp_avg", "exp_avg_var"],
    lr: 0.01,
  },
  {
    name: "microAdamMsq with lr multipliers",
    opt: () => chain(microAdamMsq({ lr: 0.01, eps: 1e-4 }), lrMultipliers(MULTIPLIERS)),
    ref: microAdamRef("msq", 0.9, 0.999, 1e-4),
    e: elementwise({ mult: true }),
    slots: ["exp_avg", "exp_avg_msq"],
    lr: 0.01,
  },
  microChain("sq", 0.9, 0.99, 1e-8),
  microChain("var", 0.9, 0.99, 1e-2), // ε large: zero-variance coordinates step by m̂/ε
  microChain("msq", 0.5, 0.9, 1e-3), // ε damps the conditioning of ḡ² − s²/B near 0
];

for (const [k, c] of CASES.entries()) {
  Deno.test(`${c.name}: 5 steps match the float64 reference on the per-example gradients`, async () => {
    for (const batch of BATCHES) {
      const params = initialParams(k), steps = examplesFor(batch, 100 * k + batch);
      const got = await runGpu(c.opt(), params, steps);
      const want = runRef(c, params, steps);
      const label = `${c.name}, B = ${batch}`;
      assert.equal(got.state.step[0], STEPS, `${label}: step counter`);
      const e = paramError(got.params, want.params, want.path);
      assert.ok(e <= 1e-5, `${label}: params error ${e}`);
      assertGapsZero(`${label} params`, got.params);
      assert.deepEqual(Object.keys(got.state).sort(), ["step", ...c.slots].sort());
      for (const name of c.slots) {
        const err = blockError(got.state[name], want.state[name]);
        assert.ok(err <= 1e-5, `${label}: ${name} relative error ${err}`);
        assertGapsZero(`${label} ${name}`, got.state[name]);
      }
    }
  });
}

Deno.test("per-example rules: state saved after step 3 continues exactly", async () => {
  const gpu = await testGpu();
  const live = gpu.liveBuffers;
  for (const [k, c] of CASES.entries()) {
    const params = initialParams(50 + k), steps = examplesFor(3, 60 + k);
    const whole = await runGpu(c.opt(), params, steps);
    const first = await runGpu(c.opt(), params, steps.slice(0, 3));
    const resumed = await runGpu(c.opt(), first.params, steps.slice(3), first.state);
    assert.deepEqual(resumed.params, whole.params, `${c.name}: params`);
    assert.deepEqual(resumed.state, whole.state, `${c.name}: state`);
  }
  assert.equal(gpu.liveBuffers, live, "every buffer was freed");
});

Deno.test("per-example rules: missing statistics, bad hyperparameters and chains raise clear errors", async () => {
  const bad: [() => unknown, RegExp][] = [
    [() => microAdam({ lr: -1 }), /microAdam: lr must be finite and ≥ 0, got -1/],
    [() => microAdam({ lr: 1e-3, betas: [1, 0.999] }), /microAdam: betas\[0\] must be in \[0, 1\), got 1/],
    [() => microAdamVar({ lr: 1e-3, betas: [0.9, -0.5] }), /microAdamVar: betas\[1\] must be in \[0, 1\)/],
    [() => microAdamMsq({ lr: 1e-3, eps: 0 }), /microAdamMsq: eps must be finite and > 0, got 0/],
    [() => microAdam({ lr: 1e-3, weightDecay: -0.1 }), /microAdam: weightDecay must be finite and ≥ 0/],
    [
      () => scaleByMicroAdam({ variant: "mean" as MicroAdamVariant }),
      /variant must be one of sq, var, msq, got mean/,
    ],
    [() => meanSignEma({ lr: 1e-3, beta: 1 }), /meanSignEma: beta must be in \[0, 1\), got 1/],
    [() => scaleByMeanSignEma({ beta: NaN }), /meanSignEma: beta must be in \[0, 1\), got NaN/],
    [() => meanSignSgd({ lr: NaN }), /meanSignSgd: lr must be finite/],
    [() => signPlacement("signOfEma", { lr: 1e-3, beta: -0.1 }), /signum: beta must be in \[0, 1\)/],
    [() => signPlacement("sign" as "signOfMean", { lr: 1e-3 }), /placement must be one of signOfMean, mean/],
    [
      () => chain(addDecayedWeights(0.1), scaleByMeanSign(), scaleByLearningRate(0.1)),
      /meanSign cannot take coupled decay \(addDecayedWeights before the rule\)/,
    ],
    [() => chain(addDecayedWeights(0.1), scaleByMeanSignEma()), /meanSignEma cannot take coupled decay/],
  ];
  for (const [make, message] of bad) assert.throws(make, message);

  assert.deepEqual(SIGN_PLACEMENTS, ["signOfMean", "meanOfSigns", "signOfEma", "emaOfSigns"]);
  assert.deepEqual(requiredStats(microAdamVar({ lr: 1 })), ["sumSq"]);
  assert.deepEqual(requiredStats(signPlacement("emaOfSigns", { lr: 1 })), ["sumSign"]);
  assert.deepEqual(requiredStats(signSgd({ lr: 1 })), []);
  assert.deepEqual(requiredStats(adam({ lr: 1 })), []);

  const gpu = await testGpu();
  const p = new Tensor(gpu, [N]), g = new Tensor(gpu, [N]);
  const needs: [GradientTransformation, RegExp][] = [
    [microAdam({ lr: 1e-3 }), /microAdam reads stats.sumSq, which the statistics lack/],
    [microAdamMsq({ lr: 1e-3 }), /microAdamMsq reads stats.sumSq/],
    [meanSignSgd({ lr: 1e-3 }), /meanSign reads stats.sumSign, which the statistics lack/],
    [meanSignEma({ lr: 1e-3 }), /meanSignEma reads stats.sumSign/],
  ];
  for (const [opt, message] of needs) {
    const state = opt.init(gpu, LAYOUT);
    await assert.rejects(() => opt.update({ mean: g, batchSize: 4, sumSq: undefined }, state, p), message);
    state.destroy();
  }
  const opt = microAdam({ lr: 1e-3 }), state = opt.init(gpu, LAYOUT), short = new Tensor(gpu, [N - 1]);
  await assert.rejects(
    () => opt.update({ mean: g, batchSize: 4, sumSq: short }, state, p),
    /stats.sumSq must be f32 with/,
  );
  await assert.rejects(() => opt.update({ mean: g, batchSize: 0, sumSq: g }, state, p), /batchSize must be/);
  for (const t of [state, p, g, short]) t.destroy();
});

Deno.test("clipping weights w_b = min(1, C/‖g_b‖) match the formula on odd batches and tables", async () => {
  const gpu = await testGpu();
  const rng = new Rng(5);
  const cases: { batch: number; nCols: number; cols?: [number, number]; maxNorm: number }[] = [
    { batch: 1, nCols: 1, maxNorm: 0.5 },
    { batch: 3, nCols: 5, maxNorm: 1.5 },
    { batch: 8, nCols: 5, cols: [1, 4], maxNorm: 2 },
    { batch: 37, nCols: 3, cols: [2, 3], maxNorm: 0.9 },
    { batch: 130, nCols: 7, maxNorm: 3 },
  ];
  for (const { batch, nCols, cols, maxNorm } of cases) {
    const table = Float32Array.from({ length: batch * nCols }, () => rng.uniform() ** 2 * 3);
    if (batch > 1) table.fill(0, nCols, 2 * nCols); // row 1: a zero gradient, weight 1
    if (batch > 2 && nCols >= 2) {
      // row 2: ‖g‖ = C = 1.5 exactly (2.25 = 1 + 1.25), weight exactly 1
      table.fill(0, 2 * nCols, 3 * nCols);
      table.set([1, 1.25], 2 * nCols);
    }
    const norms = Tensor.from(gpu, [batch, nCols], table);
    const got = await clipWeights(gpu, { norms, batchSize: batch, nCols, cols, maxNorm });
    const want = clipWeightsRef(table, batch, nCols, maxNorm, cols);
    for (let b = 0; b < batch; b++) {
      assert.ok(Math.abs(got[b] - want[b]) <= 1e-6 * want[b], `B=${batch} b=${b}: ${got[b]} vs ${want[b]}`);
    }
    if (batch > 1) assert.equal(got[1], 1);
    if (batch === 3) assert.equal(got[2], 1);
    assert.ok(want.some((w) => w < 1) || batch === 1, "some examples are clipped");
    norms.destroy();
  }
});

Deno.test("clipping weights: bad arguments raise clear errors", async () => {
  const gpu = await testGpu();
  const norms = new Tensor(gpu, [4, 2]), weights = new Tensor(gpu, [4]);
  const args = { norms, batchSize: 4, nCols: 2, maxNorm: 1 };
  const bad: [Parameters<typeof recordClipWeights>[1], RegExp][] = [
    [{ ...args, maxNorm: 0 }, /clipWeights: maxNorm must be finite and > 0, got 0/],
    [{ ...args, maxNorm: NaN }, /maxNorm must be finite/],
    [{ ...args, batchSize: 0 }, /clipWeights: batchSize must be an integer ≥ 1, got 0/],
    [{ ...args, nCols: 1.5 }, /nCols must be an integer ≥ 1/],
    [{ ...args, cols: [1, 1] }, /cols \[1, 1\) is not a column range of 2/],
    [{ ...args, cols: [0, 3] }, /cols \[0, 3\) is not a column range of 2/],
    [{ ...args, batchSize: 5 }, /clipWeights needs 10 elements in 'norms', it holds 8/],
    [{ ...args, nCols: 1, batchSize: 8 }, /needs 8 elements in 'weights', it holds 4/],
  ];
  for (const [a, message] of bad) await assert.rejects(() => recordClipWeights(gpu, a, weights), message);
  await assert.rejects(
    () => recordClipWeights(gpu, { norms, batchSize: 4, maxNorm: 1 }, norms),
    /norms and weights must be different buffers/,
  );
  await assert.rejects(
    () => clipWeights(gpu, { ...args, batchSize: -1 }),
    /batchSize must be an integer ≥ 1/,
  );
  norms.destroy();
  weights.destroy();
});

Deno.test("Philox4x32-10 reference matches the Random123 known-answer vectors", () => {
  assert.deepEqual(philox4x32([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  const ones = 0xffffffff;
  assert.deepEqual(
    philox4x32([ones, ones, ones, ones], [ones, ones]),
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  );
  assert.deepEqual(
    philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  );
});

/** Runs `draws` draws of noise on `values` and returns the values read back. */
async function drawNoise(noise: GaussianNoise, values: Float32Array, draws = 1): Promise<Float32Array> {
  const gpu = await testGpu();
  const t = Tensor.from(gpu, [values.length], values);
  const program = await noise.record(t);
  for (let d = 0; d < draws; d++) program.run();
  const out = await t.read();
  program.destroy();
  t.destroy();
  return out;
}

Deno.test("Gaussian noise: σC/B · N(0, 1), the documented Philox stream, deterministic per seed and draw", async () => {
  const gpu = await testGpu();
  const live = gpu.liveBuffers;
  const n = (1 << 16) + 3, options = { noiseMultiplier: 1.3, maxNorm: 0.7, batchSize: 5, seed: 1234 };
  const std = 1.3 * 0.7 / 5;
  const noise = new GaussianNoise(gpu, options);
  assert.equal(noise.std, std);
  const base = Float32Array.from({ length: n }, (_, i) => (i % 7) - 3);
  const once = await drawNoise(noise, base);
  assert.equal(await noise.readDraws(), 1);
  const z = Float64Array.from(once, (x, i) => (x - base[i]) / std);
  const ref = noiseRef(n, 1234, 0);
  let worst = 0;
  for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(z[i] - ref[i]));
  assert.ok(worst <= 1e-3, `GPU noise differs from the Philox reference by ${worst}`);

  const mean = z.reduce((a, x) => a + x, 0) / n;
  const sd = Math.sqrt(z.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const within1 = z.filter((x) => Math.abs(x) < 1).length / n;
  assert.ok(Math.abs(mean) < 4 / Math.sqrt(n), `mean ${mean}`);
  assert.ok(Math.abs(sd - 1) < 0.02, `std ${sd * std} vs σC/B = ${std}`);
  assert.ok(Math.abs(within1 - 0.6827) < 0.01, `P(|z| < 1) = ${within1}`);

  // The second draw is fresh; a new generator with the same seed, set to draw 1, repeats it.
  const zeros = new Float32Array(n);
  const second = await drawNoise(noise, zeros);
  assert.equal(await noise.readDraws(), 2);
  const again = new GaussianNoise(gpu, options);
  assert.deepEqual(await drawNoise(again, base), once, "same seed, same draw: identical bits");
  again.setDraws(1);
  assert.deepEqual(await drawNoise(again, zeros), second, "resumed at draw 1");
  const corr = second.reduce((a, x, i) => a + x * (once[i] - base[i]), 0) / (n * std * std);
  assert.ok(Math.abs(corr) < 0.03, `successive draws correlate: ${corr}`);

  // Other seeds (including ones that differ only above bit 32) give other noise.
  for (const seed of [1235, 1234 + 2 ** 32]) {
    const other = new GaussianNoise(gpu, { ...options, seed });
    const z2 = await drawNoise(other, zeros);
    const c = z2.reduce((a, x, i) => a + x * (once[i] - base[i]), 0) / (n * std * std);
    assert.ok(Math.abs(c) < 0.03, `seed ${seed} correlates with seed 1234: ${c}`);
    other.destroy();
  }
  // A zero multiplier adds nothing; a short odd tensor is filled to its end.
  const silent = new GaussianNoise(gpu, { ...options, noiseMultiplier: 0 });
  assert.deepEqual(await drawNoise(silent, base.slice(0, 5)), base.slice(0, 5));
  const tiny = await drawNoise(noise, new Float32Array(5), 1);
  assert.ok(tiny.every((x) => x !== 0), "every element of a 5-element tensor gets noise");
  for (const g of [noise, again, silent]) g.destroy();
  assert.equal(gpu.liveBuffers, live, "every buffer was freed");
});

Deno.test("Gaussian noise: bad options raise clear errors", async () => {
  const gpu = await testGpu();
  const ok = { noiseMultiplier: 1, maxNorm: 1, batchSize: 4, seed: 0 };
  const bad: [Partial<typeof ok>, RegExp][] = [
    [{ noiseMultiplier: -1 }, /gaussianNoise: noiseMultiplier must be finite and ≥ 0, got -1/],
    [{ maxNorm: 0 }, /gaussianNoise: maxNorm must be finite and > 0, got 0/],
    [{ batchSize: 1.5 }, /gaussianNoise: batchSize must be an integer ≥ 1, got 1.5/],
    [{ seed: -1 }, /gaussianNoise: seed must be an integer ≥ 0, got -1/],
    [{ seed: 0.5 }, /seed must be an integer ≥ 0/],
    [{ seed: 2 ** 53 }, /seed must be < 2\^53/],
  ];
  for (const [change, message] of bad) {
    assert.throws(() => new GaussianNoise(gpu, { ...ok, ...change }), message);
  }
  const noise = new GaussianNoise(gpu, ok);
  assert.throws(() => noise.setDraws(-1), /draws must be an integer ≥ 0/);
  assert.throws(() => noise.setDraws(2 ** 32), /draws must be < 2\^32/);
  const ints = new Tensor(gpu, [4], "u32");
  await assert.rejects(
    () => noise.record(ints as unknown as Tensor),
    /values must be a non-empty f32 tensor/,
  );
  ints.destroy();
  noise.destroy();
});
