import assert from "node:assert/strict";
import { testGpu } from "./helpers.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { type ParamBlock, ParamLayout } from "../src/nn/layout.ts";
import { Rng } from "../src/nn/rng.ts";
import { scaleLrForBatch, sqrtScaledLr } from "../src/optim/batch_size.ts";
import { clipByGlobalNorm } from "../src/optim/clip.ts";
import { lrMultipliers } from "../src/optim/lr_multipliers.ts";
import { adam, adamw, lion, rmsprop, sgd, signSgd, signum } from "../src/optim/optimizers.ts";
import {
  identityRule,
  ruleSource,
  ruleTransform,
  scaleByAdam,
  scaleByLion,
  scaleBySign,
} from "../src/optim/rules.ts";
import {
  constantLr,
  cosineDecay,
  evaluateSchedule,
  linearDecay,
  linearWarmup,
  scaleByLearningRate,
  type Schedule,
  stepDecay,
} from "../src/optim/schedule.ts";
import { CONTROL } from "../src/optim/state.ts";
import { chain, type GradientTransformation } from "../src/optim/transform.ts";
import { addDecayedWeights, excludeKinds } from "../src/optim/weight_decay.ts";
import {
  adamRef,
  clipRef,
  type Elementwise,
  lionRef,
  type RefStep,
  rmspropRef,
  sgdRef,
  signSgdRef,
  signumRef,
} from "./reference/optim.ts";

// Odd block sizes, norm/bias kinds, blocks spanning several 64-float granules, and gaps.
const LAYOUT = new ParamLayout([
  { name: "embed.weight", shape: [17, 3], kind: "embedding" },
  { name: "ln.weight", shape: [3], kind: "norm" },
  { name: "ln.bias", shape: [3], kind: "norm" },
  { name: "fc.weight", shape: [5, 13], kind: "weight" },
  { name: "fc.bias", shape: [13], kind: "bias" },
  { name: "head.weight", shape: [1], kind: "weight" },
  { name: "big.weight", shape: [7, 29], kind: "weight" },
]);
const N = LAYOUT.size;
const LIVE = LAYOUT.blocks.flatMap((b) => Array.from({ length: b.size }, (_, j) => b.offset + j));
const STEPS = 5;
/** Gradient scale per block: the tiny ones make Adam's and RMSprop's eps matter. */
const GRAD_SCALE = [1, 0.3, 1e-7, 2, 1e-3, 0.5, 1];
const NO_DECAY = excludeKinds("norm", "bias");
const MULTIPLIERS = [{ match: "embed.*", scale: 0.5 }, { match: /\.bias$/, scale: 2 }];

/** Per-element values of a per-block function (0 in the gaps). */
function perElement(f: (b: ParamBlock) => number): Float64Array {
  const out = new Float64Array(N);
  for (const b of LAYOUT.blocks) out.fill(f(b), b.offset, b.offset + b.size);
  return out;
}

/** The multiplier the MULTIPLIERS rules give a block, written out by name. */
function multiplierOf(b: ParamBlock): number {
  if (b.name.startsWith("embed.")) return 0.5;
  return b.name.endsWith(".bias") ? 2 : 1;
}

const decays = (b: ParamBlock) => b.kind !== "norm" && b.kind !== "bias";

function elementwise(o: { l2?: (b: ParamBlock) => number; wd?: (b: ParamBlock) => number; mult?: boolean }) {
  return {
    live: LIVE,
    l2: perElement(o.l2 ?? (() => 0)),
    wd: perElement(o.wd ?? (() => 0)),
    mult: perElement(o.mult ? multiplierOf : () => 1),
  } satisfies Elementwise;
}

/** Random parameters (zero gaps) and gradients (garbage in the gaps, which must be ignored). */
function randomData(seed: number): { params: Float32Array; grads: Float32Array[] } {
  const rng = new Rng(seed);
  const params = new Float32Array(N);
  for (const i of LIVE) params[i] = rng.normal();
  const grads = Array.from({ length: STEPS + 2 }, () => {
    const g = Float32Array.from({ length: N }, () => 100 * rng.normal());
    LAYOUT.blocks.forEach((b, k) => {
      for (let j = b.offset; j < b.offset + b.size; j++) g[j] = GRAD_SCALE[k] * rng.normal();
    });
    return g;
  });
  return { params, grads };
}

interface Run {
  params: Float32Array;
  state: Record<string, Float32Array>;
}

/** Records one update and replays it once per gradient. */
async function runGpu(
  opt: GradientTransformation,
  params: Float32Array,
  grads: readonly Float32Array[],
  saved?: Record<string, Float32Array>,
): Promise<Run> {
  const gpu = await testGpu();
  const state = opt.init(gpu, LAYOUT);
  if (saved) state.load(saved);
  const p = Tensor.from(gpu, [N], params);
  const g = new Tensor(gpu, [N]);
  const program = await opt.update({ mean: g, batchSize: 4 }, state, p);
  for (const grad of grads) {
    g.write(grad);
    program.run();
  }
  const out = { params: await p.read(), state: await state.save() };
  program.destroy();
  state.destroy();
  p.destroy();
  g.destroy();
  return out;
}

/** Runs the float64 reference; `lr(s)` and `clip` mirror the chain. */
function runRef(
  step: RefStep,
  e: Elementwise,
  slots: readonly string[],
  params: Float32Array,
  grads: readonly Float32Array[],
  lr: (s: number) => number,
  clip?: number,
): { params: Float64Array; state: Record<string, Float64Array> } {
  const p = Float64Array.from(params);
  const state = Object.fromEntries(slots.map((name) => [name, new Float64Array(N)]));
  grads.forEach((grad, s) => {
    const g = Float64Array.from(grad);
    if (clip !== undefined) clipRef(g, LIVE, clip);
    step(p, g, state, s + 1, lr(s), e);
  });
  return { params: p, state };
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

function assertGapsZero(name: string, x: Float32Array): void {
  const live = new Set(LIVE);
  for (let i = 0; i < x.length; i++) {
    if (!live.has(i)) assert.equal(x[i], 0, `${name}[${i}] is in a gap but ${x[i]}`);
  }
}

function assertMatches(label: string, got: Run, want: ReturnType<typeof runRef>, steps = STEPS): void {
  assert.equal(got.state.step[0], steps, `${label}: step counter`);
  const e = blockError(got.params, want.params);
  assert.ok(e <= 1e-5, `${label}: params relative error ${e}`);
  assertGapsZero(`${label} params`, got.params);
  assert.deepEqual(Object.keys(got.state).sort(), ["step", ...Object.keys(want.state)].sort());
  for (const [name, ref] of Object.entries(want.state)) {
    const err = blockError(got.state[name], ref);
    assert.ok(err <= 1e-5, `${label}: ${name} relative error ${err}`);
    assertGapsZero(`${label} ${name}`, got.state[name]);
  }
}

interface Case {
  name: string;
  opt: () => GradientTransformation;
  ref: RefStep;
  e: Elementwise;
  slots: string[];
  lr: number;
}

const CASES: Case[] = [
  {
    name: "sgd, coupled decay with a mask",
    opt: () => sgd({ lr: 0.1, weightDecay: 0.01, weightDecayMask: NO_DECAY }),
    ref: sgdRef(0, 0, false),
    e: elementwise({ l2: (b) => decays(b) ? 0.01 : 0 }),
    slots: [],
    lr: 0.1,
  },
  {
    name: "sgd momentum with dampening",
    opt: () => sgd({ lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.02 }),
    ref: sgdRef(0.9, 0.3, false),
    e: elementwise({ l2: () => 0.02 }),
    slots: ["momentum_buffer"],
    lr: 0.05,
  },
  {
    name: "sgd nesterov",
    opt: () => sgd({ lr: 0.05, momentum: 0.8, nesterov: true }),
    ref: sgdRef(0.8, 0, true),
    e: elementwise({}),
    slots: ["momentum_buffer"],
    lr: 0.05,
  },
  {
    name: "adam, coupled decay",
    opt: () => adam({ lr: 0.05, weightDecay: 0.02 }),
    ref: adamRef(0.9, 0.999, 1e-8),
    e: elementwise({ l2: () => 0.02 }),
    slots: ["exp_avg", "exp_avg_sq"],
    lr: 0.05,
  },
  {
    name: "adamw, masked decay and lr multipliers",
    opt: () =>
      chain(
        adamw({ lr: 0.05, betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.1, weightDecayMask: NO_DECAY }),
        lrMultipliers(MULTIPLIERS),
      ),
    ref: adamRef(0.8, 0.95, 1e-6),
    e: elementwise({ wd: (b) => decays(b) ? 0.1 : 0, mult: true }),
    slots: ["exp_avg", "exp_avg_sq"],
    lr: 0.05,
  },
  {
    name: "rmsprop",
    opt: () => rmsprop({ lr: 0.01 }),
    ref: rmspropRef(0.99, 1e-8),
    e: elementwise({}),
    slots: ["square_avg"],
    lr: 0.01,
  },
  {
    name: "signSgd with decoupled decay",
    opt: () => signSgd({ lr: 0.05, weightDecay: 0.1 }),
    ref: signSgdRef(),
    e: elementwise({ wd: () => 0.1 }),
    slots: [],
    lr: 0.05,
  },
  {
    name: "signum",
    opt: () => signum({ lr: 0.05, beta: 0.7 }),
    ref: signumRef(0.7),
    e: elementwise({}),
    slots: ["momentum_buffer"],
    lr: 0.05,
  },
  {
    name: "lion, masked decay and lr multipliers",
    opt: () =>
      chain(lion({ lr: 0.05, weightDecay: 0.5, weightDecayMask: NO_DECAY }), lrMultipliers(MULTIPLIERS)),
    ref: lionRef(0.9, 0.99),
    e: elementwise({ wd: (b) => decays(b) ? 0.5 : 0, mult: true }),
    slots: ["exp_avg"],
    lr: 0.05,
  },
];

for (const [k, c] of CASES.entries()) {
  Deno.test(`${c.name}: 5 steps match the float64 reference`, async () => {
    const { params, grads } = randomData(10 + k);
    const got = await runGpu(c.opt(), params, grads.slice(0, STEPS));
    assertMatches(c.name, got, runRef(c.ref, c.e, c.slots, params, grads.slice(0, STEPS), () => c.lr));
  });
}

Deno.test("state saved after step 3 continues exactly as an uninterrupted run", async () => {
  const gpu = await testGpu();
  const live = gpu.liveBuffers;
  for (const [k, c] of CASES.entries()) {
    const { params, grads } = randomData(40 + k);
    const whole = await runGpu(c.opt(), params, grads.slice(0, STEPS));
    const first = await runGpu(c.opt(), params, grads.slice(0, 3));
    const resumed = await runGpu(c.opt(), first.params, grads.slice(3, STEPS), first.state);
    assert.deepEqual(resumed.params, whole.params, `${c.name}: params`);
    assert.deepEqual(resumed.state, whole.state, `${c.name}: state`);
  }
  assert.equal(gpu.liveBuffers, live, "every buffer was freed");
});

/** The schedule formulas of src/optim/schedule.ts, written out again. */
function scheduleRef(kind: string, s: number): number {
  switch (kind) {
    case "warmup-cosine": // 2 warmup steps to 0.05, then cosine over 3 steps to 0
      return s < 2 ? 0.05 * s / 2 : 0.05 * 0.5 * (1 + Math.cos(Math.PI * Math.min(s - 2, 3) / 3));
    case "constant":
      return 0.3;
    case "cosine": // 0.2 → 0.01 over 7 steps
      return 0.01 + 0.19 * 0.5 * (1 + Math.cos(Math.PI * Math.min(s, 7) / 7));
    case "linear": // 0.2 → 0.02 over 6 steps
      return 0.2 + (0.02 - 0.2) * Math.min(s, 6) / 6;
    case "step": // 0.5 · 0.3^⌊s/4⌋
      return 0.5 * 0.3 ** Math.floor(s / 4);
    case "warmup-linear": // 0.01 → 0.1 over 3 steps, then linear decay to 0 over 5 steps
      return s < 3 ? 0.01 + 0.09 * s / 3 : 0.1 * (1 - Math.min(s - 3, 5) / 5);
    default:
      throw new Error(kind);
  }
}

const SCHEDULES: Record<string, Schedule> = {
  "constant": constantLr(0.3),
  "cosine": cosineDecay(0.2, 7, 0.01),
  "linear": linearDecay(0.2, 6, 0.02),
  "step": stepDecay(0.5, 4, 0.3),
  "warmup-linear": linearWarmup(linearDecay(0.1, 5), 3, 0.01),
};

Deno.test("clipping + adam + decay + multipliers + warmup-cosine match the composition by hand", async () => {
  const schedule = linearWarmup(cosineDecay(0.05, 3), 2);
  const { params } = randomData(7);
  // Gradient norms around 23, scaled so that clipping at 1 is active on some steps only.
  const grads = randomData(8).grads.slice(0, STEPS).map((g, s) => g.map((x) => x * [2, 0.01, 1, 0.02, 3][s]));
  const norms = grads.map((g) => clipRef(Float64Array.from(g), LIVE, 1));
  assert.deepEqual(norms.map((n) => n > 1), [true, false, true, false, true]);
  const opt = chain(
    clipByGlobalNorm(1),
    scaleByAdam({ betas: [0.8, 0.99], eps: 1e-6 }),
    addDecayedWeights(0.05, NO_DECAY),
    lrMultipliers(MULTIPLIERS),
    scaleByLearningRate(schedule),
  );
  const got = await runGpu(opt, params, grads);
  const e = elementwise({ wd: (b) => decays(b) ? 0.05 : 0, mult: true });
  const lr = (s: number) => scheduleRef("warmup-cosine", s);
  const want = runRef(adamRef(0.8, 0.99, 1e-6), e, ["exp_avg", "exp_avg_sq"], params, grads, lr, 1);
  assertMatches("chain", got, want);
  // The same chain, written as clip + adamw with a schedule.
  const adamwChain = chain(
    clipByGlobalNorm(1),
    adamw({ lr: schedule, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.05, weightDecayMask: NO_DECAY }),
    lrMultipliers(MULTIPLIERS),
  );
  assert.deepEqual(await runGpu(adamwChain, params, grads), got);
});

Deno.test("decay after the learning rate is not scaled by it; a chain without a rule is SGD", async () => {
  const { params, grads } = randomData(9);
  const opt = chain(scaleBySign(), scaleByLearningRate(0.1), addDecayedWeights(0.01));
  const got = await runGpu(opt, params, grads.slice(0, STEPS));
  // θ ← θ − 0.1·sign(g) − 0.01·θ, written as the reference with lr = 1 and mult = 1.
  const e = elementwise({ wd: () => 0.01 });
  const signStep: RefStep = (p, g, _s, _t, _lr, el) => {
    for (const i of el.live) p[i] = p[i] - 0.1 * Math.sign(g[i]) - 0.01 * p[i];
  };
  assertMatches("sign, lr, decay", got, runRef(signStep, e, [], params, grads.slice(0, STEPS), () => 1));
  const plain = await runGpu(
    chain(addDecayedWeights(0.02), scaleByLearningRate(0.1)),
    params,
    grads.slice(0, 3),
  );
  const want = runRef(
    sgdRef(0, 0, false),
    elementwise({ l2: () => 0.02 }),
    [],
    params,
    grads.slice(0, 3),
    () => 0.1,
  );
  assertMatches("identity", plain, want, 3);
});

Deno.test("schedules on the GPU match their formulas step by step", async () => {
  const gpu = await testGpu();
  const g = new Tensor(gpu, [N]);
  const p = new Tensor(gpu, [N]);
  for (const [kind, schedule] of Object.entries(SCHEDULES)) {
    const opt = chain(identityRule(), scaleByLearningRate(schedule));
    const state = opt.init(gpu, LAYOUT);
    const program = await opt.update({ mean: g, batchSize: 1 }, state, p);
    for (let s = 0; s < 12; s++) {
      program.run();
      const control = await state.readControl();
      const want = scheduleRef(kind, s);
      assert.equal(control.step, s + 1);
      assert.ok(
        Math.abs(control.lr - want) <= 1e-6 * schedule.lr,
        `${kind} s=${s}: ${control.lr} vs ${want}`,
      );
      assert.ok(Math.abs(evaluateSchedule(schedule, s) - want) <= 1e-12, `${kind} s=${s}: evaluateSchedule`);
    }
    program.destroy();
    state.destroy();
  }
  g.destroy();
  p.destroy();
});

Deno.test("bias corrections 1 − β^t are accurate for large t and β close to 1", async () => {
  const gpu = await testGpu();
  const g = new Tensor(gpu, [N]);
  const p = new Tensor(gpu, [N]);
  const opt = adam({ lr: 0, betas: [0.9, 0.9999] });
  for (const t of [1, 2, 7, 1000, 123457, 5_000_000]) {
    const state = opt.init(gpu, LAYOUT);
    state.load({
      step: new Float32Array([t - 1]),
      exp_avg: new Float32Array(N),
      exp_avg_sq: new Float32Array(N),
    });
    const program = await opt.update({ mean: g, batchSize: 1 }, state, p);
    program.run();
    const c = await state.control.read();
    assert.equal(c[CONTROL.step], t);
    for (const [slot, beta] of [[CONTROL.bc1, 0.9], [CONTROL.bc2, 0.9999]]) {
      const want = 1 - beta ** t;
      assert.ok(Math.abs(c[slot] - want) <= 1e-6 * want, `t=${t} β=${beta}: ${c[slot]} vs ${want}`);
    }
    program.destroy();
    state.destroy();
  }
  g.destroy();
  p.destroy();
});

Deno.test("clipping reports the global gradient norm and scale", async () => {
  const gpu = await testGpu();
  const { params, grads } = randomData(3);
  const opt = chain(clipByGlobalNorm(0.5), sgd({ lr: 0.1 }));
  const state = opt.init(gpu, LAYOUT);
  const p = Tensor.from(gpu, [N], params);
  const g = Tensor.from(gpu, [N], grads[0]);
  const program = await opt.update({ mean: g, batchSize: 2 }, state, p);
  program.run();
  const control = await state.readControl();
  const norm = clipRef(Float64Array.from(grads[0]), LIVE, 0.5);
  assert.ok(Math.abs(control.gradNorm - norm) <= 1e-6 * norm, `${control.gradNorm} vs ${norm}`);
  assert.ok(Math.abs(control.gradScale - 0.5 / (norm + 1e-6)) <= 1e-6);
  program.destroy();
  state.destroy();
  p.destroy();
  g.destroy();
});

// A rule from another module that keeps a slot and reads Σ_b g_b²: the extension point.
const SUM_SQ_RULE = `
@group(0) @binding(6) var<storage, read_write> acc: array<f32>;
@group(0) @binding(7) var<storage, read> sum_sq: array<f32>;
@compute @workgroup_size(WG)
fn with_sum_sq(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = load(gid, nwg);
  if (!e.live) { return; }
  acc[e.i] = acc[e.i] + sum_sq[e.i];
  store(e, p.h0.x * e.g + sqrt(sum_sq[e.i]));
}`;

Deno.test("a rule in its own module can keep state and read extra gradient statistics", async () => {
  const gpu = await testGpu();
  const rule = ruleTransform({
    name: "with_sum_sq",
    source: ruleSource("optim_test_rule", SUM_SQ_RULE),
    entryPoint: "with_sum_sq",
    hyper: [0.5],
    slots: ["acc"],
    inputs: ["sumSq"],
  });
  const opt = chain(rule, scaleByLearningRate(0.1));
  const { params, grads } = randomData(5);
  const sumSq = grads[1].map((x) => x * x);
  const state = opt.init(gpu, LAYOUT);
  const p = Tensor.from(gpu, [N], params), g = Tensor.from(gpu, [N], grads[0]);
  const sq = Tensor.from(gpu, [N], sumSq);
  await assert.rejects(() => opt.update({ mean: g, batchSize: 2 }, state, p), /reads stats.sumSq, which the/);
  const program = await opt.update({ mean: g, batchSize: 2, sumSq: sq }, state, p);
  program.run();
  program.run();
  const want = Float64Array.from(params), acc = new Float64Array(N);
  for (const i of LIVE) {
    for (let k = 0; k < 2; k++) want[i] -= 0.1 * (0.5 * grads[0][i] + Math.sqrt(sumSq[i]));
    acc[i] = 2 * sumSq[i];
  }
  const saved = await state.save();
  assert.ok(blockError(await p.read(), want) <= 1e-5);
  assert.ok(blockError(saved.acc, acc) <= 1e-6);
  for (const t of [program, state, p, g, sq]) t.destroy();
});

Deno.test("batch-size rules scale the learning rate by (B/B0)^p", () => {
  assert.equal(sqrtScaledLr(1e-3, 400, 100), 2e-3);
  assert.equal(scaleLrForBatch(0.1, 512, 128, "linear"), 0.4);
  assert.ok(Math.abs(scaleLrForBatch(1, 8, 1, 1 / 3) - 2) < 1e-12);
  const s = scaleLrForBatch(linearWarmup(cosineDecay(0.1, 10, 0.01), 5, 0.001), 400, 100);
  assert.deepEqual([s.lr, s.finalLr, s.warmupInit, s.steps, s.warmupSteps], [0.2, 0.02, 0.002, 10, 5]);
  assert.throws(() => scaleLrForBatch(0.1, 0, 128), /batchSize must be finite and > 0/);
});

Deno.test("bad hyperparameters and chains raise clear errors at construction", async () => {
  const bad: [() => unknown, RegExp][] = [
    [() => sgd({ lr: -0.1 }), /sgd: lr must be finite and ≥ 0, got -0.1/],
    [() => sgd({ lr: NaN }), /sgd: lr must be finite/],
    [() => sgd({ lr: 0.1, momentum: -0.5 }), /momentum must be in \[0, 1\), got -0.5/],
    [() => sgd({ lr: 0.1, momentum: 1 }), /momentum must be in \[0, 1\), got 1/],
    [() => sgd({ lr: 0.1, nesterov: true }), /Nesterov momentum needs momentum > 0 and dampening 0/],
    [() => sgd({ lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /Nesterov/],
    [() => sgd({ lr: 0.1, weightDecay: -1 }), /weightDecay must be finite and ≥ 0/],
    [() => adam({ lr: 1e-3, betas: [1, 0.999] }), /adam: betas\[0\] must be in \[0, 1\), got 1/],
    [() => adamw({ lr: 1e-3, betas: [0.9, -0.1] }), /adam: betas\[1\] must be in \[0, 1\)/],
    [() => adam({ lr: 1e-3, eps: 0 }), /adam: eps must be finite and > 0, got 0/],
    [() => rmsprop({ lr: 1e-2, alpha: 1 }), /rmsprop: alpha must be in \[0, 1\)/],
    [() => rmsprop({ lr: 1e-2, eps: -1e-8 }), /rmsprop: eps must be finite and > 0/],
    [() => signum({ lr: 1e-3, beta: 1.5 }), /signum: beta must be in \[0, 1\)/],
    [() => lion({ lr: 1e-4, betas: [0.9, 1] }), /lion: betas\[1\]/],
    [() => lion({ lr: -1e-4 }), /lion: lr must be finite and ≥ 0/],
    [() => clipByGlobalNorm(0), /clipByGlobalNorm: maxNorm must be finite and > 0, got 0/],
    [() => addDecayedWeights(-0.1), /addDecayedWeights: rate must be finite and ≥ 0/],
    [
      () => lrMultipliers([{ match: "a", scale: -1 }]),
      /lrMultipliers: rules\[0\].scale must be finite and ≥ 0/,
    ],
    [() => cosineDecay(0.1, 0), /cosine schedule: steps must be an integer ≥ 1, got 0/],
    [() => stepDecay(0.1, 2.5), /step schedule: steps must be an integer ≥ 1/],
    [() => stepDecay(0.1, 2, 0), /gamma must be finite and > 0/],
    [() => linearWarmup(0.1, 0), /linearWarmup: warmupSteps must be an integer ≥ 1/],
    [() => linearWarmup(linearWarmup(0.1, 2), 2), /already has a warmup/],
    [() => constantLr(-1), /constant schedule: lr must be finite and ≥ 0/],
    [() => adam({ lr: { ...constantLr(0.1), lr: -2 } }), /constant schedule: lr must be finite and ≥ 0/],
    [() => chain(scaleByAdam(), scaleByLion()), /one update rule per chain, got adam, lion/],
    [() => chain(adamw({ lr: 1e-3 }), clipByGlobalNorm(1)), /clipByGlobalNorm must come first/],
    [
      () => chain(scaleByLearningRate(0.1), scaleByAdam()),
      /scaleByLearningRate must come after the update rule/,
    ],
    [() => chain(lrMultipliers([]), scaleByAdam()), /lrMultipliers must come after the update rule/],
    [() => chain(adam({ lr: 1e-3 }), scaleByLearningRate(0.1)), /one scaleByLearningRate per chain/],
  ];
  for (const [make, message] of bad) assert.throws(make, message);

  const gpu = await testGpu();
  const typo = chain(adamw({ lr: 1e-3 }), lrMultipliers([{ match: "embd.*", scale: 0.1 }]));
  assert.throws(() => typo.init(gpu, LAYOUT), /pattern embd\.\* matches no parameter block/);
  const opt = adam({ lr: 1e-3 });
  const state = opt.init(gpu, LAYOUT);
  const p = new Tensor(gpu, [N]), small = new Tensor(gpu, [N - 1]);
  await assert.rejects(
    () => opt.update({ mean: small, batchSize: 1 }, state, p),
    /stats.mean must be f32 with/,
  );
  await assert.rejects(() => opt.update({ mean: p, batchSize: 1 }, state, p), /different buffers/);
  await assert.rejects(() => opt.update({ mean: small, batchSize: 1 }, state, small), /params must be f32/);
  await assert.rejects(() => sgd({ lr: 1 }).update({ mean: p, batchSize: 1 }, state, p), /not made by this/);
  assert.throws(() => state.load({ step: new Float32Array([1]) }), /expects \[step,exp_avg,exp_avg_sq\]/);
  assert.throws(
    () =>
      state.load({
        step: new Float32Array([1.5]),
        exp_avg: new Float32Array(N),
        exp_avg_sq: new Float32Array(N),
      }),
    /step must be one integer/,
  );
  assert.throws(
    () =>
      state.load({
        step: new Float32Array([1]),
        exp_avg: new Float32Array(3),
        exp_avg_sq: new Float32Array(N),
      }),
    /slot 'exp_avg' has 3 floats/,
  );
  state.destroy();
  p.destroy();
  small.destroy();
});
