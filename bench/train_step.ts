/**
 * Training-step throughput (tokens/s of forward+backward) of gradscope's GPU transformer
 * against the same model in jax-js (`npm:@jax-js/jax@0.1.25`, WebGPU backend, a jitted
 * `valueAndGrad` of the loss, see bench/jax_transformer.ts) on the same adapter in the same
 * run. Both start from the same parameters and batch; before timing, the peer's loss and
 * gradient are compared with ours and printed, so a speed-up can't come from computing
 * something else.
 *
 * Readback is excluded from the timing: a trial submits `steps` forward+backward passes and
 * then waits once (`gpu.sync()` for ours, `blockUntilReady` on every result for jax-js).
 * Trials of the two alternate and the best trial of each counts.
 *
 *   deno run -A bench/train_step.ts [--json] [--quick] [--config tiny|small] [--no-peer]
 *
 * `--quick` runs the tiny config with few steps (a smoke test); `--json` prints one JSON line
 * per row: {"name","config","ours_tokens_per_s","peer","peer_tokens_per_s","ratio"}.
 *
 * @module
 */

import { getDevice, type Gpu } from "../src/gpu/device.ts";
import type { TransformerConfig } from "../src/nn/config.ts";
import type { ParamLayout } from "../src/nn/layout.ts";
import { Rng } from "../src/nn/rng.ts";
import { Transformer } from "../src/nn/transformer.ts";
import { type Jax, loadPeer } from "./peer.ts";
import {
  disposeParams,
  flattenGrads,
  type JaxParams,
  jaxParams,
  type JaxTrainStep,
  jaxTrainStep,
  refParams,
} from "./jax_transformer.ts";

/** A named model size with its batch size and default step count. */
export interface TrainStepCase {
  /** `tiny`, `small`, ... */
  name: string;
  /** The model. */
  config: TransformerConfig;
  /** Examples per batch. */
  batchSize: number;
  /** Steps per timed trial by default. */
  steps: number;
  /** Timed trials per contender by default. */
  trials: number;
}

/** Options of {@linkcode runTrainStepBench}. */
export interface TrainStepBenchOptions {
  /** Tiny config only, few steps and trials: a smoke test. */
  quick?: boolean;
  /** Names of the cases to run (default: all; quick: tiny). */
  configs?: string[];
  /** Steps per trial (default: per case). */
  steps?: number;
  /** Trials per contender; the best counts (default: per case; quick 2). */
  trials?: number;
  /** Run jax-js as well (default true). */
  peer?: boolean;
  /** The device to use; one is requested (and destroyed) when absent. */
  gpu?: Gpu;
}

/** One row of the result table, also the `--json` line. */
export interface TrainStepBenchRow {
  /** Our contender, `gradscope.forwardBackward`. */
  name: string;
  /** The case name, e.g. `tiny`. */
  config: string;
  /** Our throughput, B·T tokens per second of step time. */
  ours_tokens_per_s: number;
  /** The peer's name, or `unavailable`. */
  peer: string;
  /** The peer's throughput, or null. */
  peer_tokens_per_s: number | null;
  /** ours / peer, or null. */
  ratio: number | null;
}

/** The start-of-run cross-check of one case: the same batch and parameters through both. */
export interface TrainStepCheck {
  /** The case name. */
  config: string;
  /** Our batch loss. */
  oursLoss: number;
  /** The peer's batch loss, or null when it did not run. */
  peerLoss: number | null;
  /** |ours − peer| / |peer|, or null. */
  lossRelError: number | null;
  /** ‖g_ours − g_peer‖ / ‖g_peer‖ over the whole flat gradient, or null. */
  gradRelError: number | null;
  /** Why the peer did not run on this case (the failing stage and jax-js's message), or null. */
  peerError: string | null;
}

/** What {@linkcode runTrainStepBench} measured. */
export interface TrainStepBenchReport {
  /** Our adapter's description. */
  adapter: string;
  /** Why jax-js did not load at all, or null. */
  peerError: string | null;
  /** One cross-check per case. */
  checks: TrainStepCheck[];
  /** One row per case. */
  rows: TrainStepBenchRow[];
}

const PEER = "jax-js@0.1.25";
/** Loss agreement the brief asks for; a larger gap is reported, not hidden. */
export const LOSS_TOLERANCE = 1e-3;

function lmConfig(dModel: number, nLayers: number, nHeads: number, seqLen: number): TransformerConfig {
  return {
    dModel,
    nHeads,
    nLayers,
    dMlp: 4 * dModel,
    seqLen,
    norm: "pre",
    causal: true,
    input: { kind: "tokens", vocabSize: 256 },
    head: { kind: "lm", tied: false },
  };
}

/**
 * The benchmarked cases. Steps and trials keep the default run under ~3 minutes on lavapipe,
 * where a small-config step takes seconds (tens of seconds for the peer).
 */
export const TRAIN_STEP_CASES: TrainStepCase[] = [
  { name: "tiny", config: lmConfig(64, 2, 4, 64), batchSize: 16, steps: 10, trials: 3 },
  { name: "small", config: lmConfig(256, 4, 8, 128), batchSize: 16, steps: 1, trials: 2 },
];

/** A batch of random byte sequences; targets are the next token, all valid. */
export function randomBatch(config: TransformerConfig, B: number, seed: number) {
  const T = config.seqLen, V = (config.input as { vocabSize: number }).vocabSize;
  const rng = new Rng(seed);
  const tokens = new Int32Array(B * T), targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const seq = Array.from({ length: T + 1 }, () => rng.int(V));
    for (let t = 0; t < T; t++) {
      tokens[b * T + t] = seq[t];
      targets[b * T + t] = seq[t + 1];
    }
  }
  return { B, tokens, targets };
}

/** Times one contender: `trial(steps)` resolves when the work is done. */
type Trial = (steps: number) => Promise<void>;

interface Contender {
  trial: Trial;
  dispose: () => void;
}

/** Our contender: `steps` forward+backward submissions, then one sync. */
function oursContender(gpu: Gpu, model: Transformer): Contender {
  return {
    trial: async (steps) => {
      for (let i = 0; i < steps; i++) await model.forwardBackward();
      await gpu.sync();
    },
    dispose: () => model.destroy(),
  };
}

/** The peer's state for one case: parameters and batch on its device, and the jitted step. */
interface PeerSetup {
  params: JaxParams;
  tokens: Jax;
  targets: Jax;
  step: JaxTrainStep;
}

/** Labels a jax-js failure with the stage it happened in, so the report says what broke. */
async function stage<T>(name: string, body: () => T | Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${name}: ${message.split("\n")[0]}`);
  }
}

function relativeL2(a: Float32Array, b: Float32Array): number {
  let diff = 0, norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

/** Builds the peer, runs it once on the batch and compares loss and gradient with ours. */
async function setUpPeer(
  jax: Jax,
  c: TrainStepCase,
  layout: ParamLayout,
  flat: Float32Array,
  batch: { tokens: Int32Array; targets: Int32Array },
  ours: { loss: number; grads: Float32Array },
): Promise<{ setup: PeerSetup; check: Omit<TrainStepCheck, "config" | "oursLoss" | "peerError"> }> {
  const np = jax.numpy, shape = [c.batchSize, c.config.seqLen];
  const params = await stage("loading parameters", () => jaxParams(jax, layout, flat));
  const setup: PeerSetup = {
    params,
    tokens: np.array(batch.tokens, { shape, dtype: np.int32 }),
    targets: np.array(batch.targets, { shape, dtype: np.int32 }),
    step: jaxTrainStep(jax, c.config, c.batchSize),
  };
  try {
    const [loss, grads] = await stage(
      "jit(valueAndGrad(loss))",
      () => setup.step(refParams(params), setup.tokens.ref, setup.targets.ref),
    );
    const peerLoss = (await stage("reading the loss", () => loss.data()))[0] as number;
    const peerGrads = await stage("reading the gradient", () => flattenGrads(layout, grads));
    disposeParams(grads);
    const lossRelError = Math.abs(ours.loss - peerLoss) / Math.abs(peerLoss);
    return { setup, check: { peerLoss, lossRelError, gradRelError: relativeL2(ours.grads, peerGrads) } };
  } catch (error) {
    disposePeer(setup);
    throw error;
  }
}

function disposePeer(s: PeerSetup): void {
  disposeParams(s.params);
  s.tokens.dispose();
  s.targets.dispose();
  s.step.dispose(); // frees the jitted function's cached constants
}

/** The jax-js contender: `steps` jitted calls are dispatched, then all results awaited. */
function peerContender(jax: Jax, s: PeerSetup): Contender {
  return {
    trial: async (steps) => {
      const outs = Array.from(
        { length: steps },
        () => s.step(refParams(s.params), s.tokens.ref, s.targets.ref),
      );
      // blockUntilReady dispatches each lazy result and waits for it; nothing is read back.
      await jax.blockUntilReady(outs);
      for (const [loss, grads] of outs) {
        loss.dispose();
        disposeParams(grads);
      }
    },
    dispose: () => disposePeer(s),
  };
}

/**
 * Best seconds per step over `trials` alternating trials of each contender. There is no
 * separate warm-up: the cross-check step already compiled every pipeline of both.
 */
async function timeAlternating(contenders: Trial[], steps: number, trials: number): Promise<number[]> {
  const best = contenders.map(() => Infinity);
  for (let r = 0; r < trials; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const start = performance.now();
      await contenders[i](steps);
      best[i] = Math.min(best[i], (performance.now() - start) / 1000 / steps);
    }
  }
  return best;
}

/** Runs one case: our model, the peer's cross-check, then the alternating trials. */
async function runCase(
  gpu: Gpu,
  jax: Jax,
  c: TrainStepCase,
  steps: number,
  trials: number,
): Promise<{ row: TrainStepBenchRow; check: TrainStepCheck }> {
  const model = await Transformer.create(gpu, c.config, { batchSize: c.batchSize, seed: 0 });
  const batch = randomBatch(c.config, c.batchSize, 1);
  model.setBatch(batch);
  await model.forwardBackward();
  const ours = { loss: await model.readLoss(), grads: await model.grads.read() };
  const contenders: Contender[] = [oursContender(gpu, model)];
  const check: TrainStepCheck = {
    config: c.name,
    oursLoss: ours.loss,
    peerLoss: null,
    lossRelError: null,
    gradRelError: null,
    peerError: jax ? null : "jax-js not loaded",
  };
  if (jax) {
    try {
      const flat = await model.params.read();
      const peer = await setUpPeer(jax, c, model.layout, flat, batch, ours);
      Object.assign(check, peer.check);
      contenders.push(peerContender(jax, peer.setup));
    } catch (error) {
      check.peerError = error instanceof Error ? error.message : String(error);
    }
  }
  try {
    const seconds = await timeAlternating(contenders.map((x) => x.trial), steps, trials);
    const tokens = c.batchSize * c.config.seqLen;
    const oursRate = tokens / seconds[0];
    const peerRate = seconds.length > 1 ? tokens / seconds[1] : null;
    const row: TrainStepBenchRow = {
      name: "gradscope.forwardBackward",
      config: c.name,
      ours_tokens_per_s: oursRate,
      peer: peerRate === null ? "unavailable" : PEER,
      peer_tokens_per_s: peerRate,
      ratio: peerRate === null ? null : oursRate / peerRate,
    };
    return { row, check };
  } finally {
    contenders.forEach((x) => x.dispose());
  }
}

/**
 * Runs the benchmark and returns the cross-checks and rows (nothing is printed).
 *
 * @example
 * ```ts ignore
 * const report = await runTrainStepBench({ quick: true });
 * console.log(report.adapter, report.checks, report.rows);
 * ```
 */
export async function runTrainStepBench(options: TrainStepBenchOptions = {}): Promise<TrainStepBenchReport> {
  const quick = options.quick ?? false;
  const names = options.configs ?? (quick ? ["tiny"] : TRAIN_STEP_CASES.map((c) => c.name));
  const cases = names.map((name) => {
    const found = TRAIN_STEP_CASES.find((c) => c.name === name);
    if (!found) {
      throw new RangeError(`unknown config '${name}' (known: ${TRAIN_STEP_CASES.map((c) => c.name)})`);
    }
    return found;
  });
  const gpu = options.gpu ?? await getDevice();
  const { jax, error: peerError } = await loadPeer(options.peer ?? true);
  const rows: TrainStepBenchRow[] = [], checks: TrainStepCheck[] = [];
  try {
    for (const c of cases) {
      const steps = options.steps ?? (quick ? 2 : c.steps);
      const trials = options.trials ?? (quick ? 2 : c.trials);
      const { row, check } = await runCase(gpu, jax, c, steps, trials);
      rows.push(row);
      checks.push(check);
    }
  } finally {
    if (!options.gpu) gpu.destroy();
  }
  return { adapter: gpu.description, peerError, checks, rows };
}

/** Formats the cross-checks and rows as text. */
export function formatTrainStepReport(report: TrainStepBenchReport): string {
  const fmt = (x: number | null, digits = 1) => x === null ? "-" : x.toFixed(digits);
  const sci = (x: number | null) => x === null ? "-" : x.toExponential(2);
  const lines = [`adapter: ${report.adapter}`];
  if (report.peerError) lines.push(`peer unavailable: ${report.peerError}`);
  for (const c of report.checks) {
    const verdict = c.lossRelError === null
      ? ""
      : c.lossRelError <= LOSS_TOLERANCE
      ? " (agree)"
      : " (MISMATCH)";
    lines.push(
      `check ${c.config}: loss ours ${c.oursLoss.toFixed(6)} peer ${fmt(c.peerLoss, 6)}` +
        ` rel ${sci(c.lossRelError)}${verdict}; grad rel L2 ${sci(c.gradRelError)}` +
        (c.peerError ? `; peer failed: ${c.peerError}` : ""),
    );
  }
  const table = [
    ["contender", "config", "ours tok/s", "peer", "peer tok/s", "ratio"],
    ...report.rows.map((r) => [
      r.name,
      r.config,
      fmt(r.ours_tokens_per_s),
      r.peer,
      fmt(r.peer_tokens_per_s),
      fmt(r.ratio, 2),
    ]),
  ];
  const widths = table[0].map((_, j) => Math.max(...table.map((row) => row[j].length)));
  lines.push(...table.map((row) => row.map((cell, j) => cell.padEnd(widths[j])).join("  ").trimEnd()));
  return lines.join("\n");
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--config");
  const report = await runTrainStepBench({
    quick: Deno.args.includes("--quick"),
    configs: at >= 0 ? [Deno.args[at + 1]] : undefined,
    peer: !Deno.args.includes("--no-peer"),
  });
  if (Deno.args.includes("--json")) {
    // stdout holds only the rows; the adapter and the cross-checks go to stderr.
    console.error(JSON.stringify({ adapter: report.adapter, peerError: report.peerError }));
    for (const check of report.checks) console.error(JSON.stringify({ check }));
    for (const row of report.rows) console.log(JSON.stringify(row));
  } else {
    console.log(formatTrainStepReport(report));
  }
}
