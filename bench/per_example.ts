/**
 * What per-example gradient statistics cost inside gradscope's backward pass, in one run:
 *
 * 1. **Overhead**: forward+backward step time with {norms, sumSq, sumSign} and with {norms}
 *    alone, over the plain step (`steps` submissions then one `gpu.sync()`, trials of the
 *    three alternating, the best of each counts; every request is warmed up first). Each is
 *    given in wall-clock seconds and in CPU seconds of this process: lavapipe runs shaders on
 *    our own threads, so the CPU time is the steadier measure when other processes load the
 *    machine.
 * 2. **Memory**: `gpu.peakBytes` of the model after a plain pass, against the peak after a
 *    pass with all statistics (the peak is reset in between). The extra bytes are given in
 *    units of P floats (P = `model.layout.size`), with the B × nBlocks norms table apart, and
 *    broken down by buffer label (every buffer the statistics pass creates is logged).
 * 3. **Naive peer**: the same per-example squared norms from jax-js
 *    (`npm:@jax-js/jax@0.1.25`) as `jit(vmap(grad(loss of one example)))` on the same model,
 *    parameters and batch (bench/jax_transformer.ts). Each example's total squared norm is
 *    compared with the row sum of our norms table, then our {norms} step is timed against
 *    the peer's step. Should vmap fail, a loop of one jitted `grad` per example stands in
 *    and the failure is reported.
 *
 *   deno run -A bench/per_example.ts [--json] [--quick] [--no-peer] [--peer-loop]
 *     [--steps N] [--trials N] [--peer-trials N]
 *
 * The default case is d=256, L=4, H=8, T=128, B=32, vocab 256, dMlp 1024, Pre-LN causal LM
 * with an untied head; `--quick` runs a tiny model. `--json` prints one JSON line per row
 * ({@linkcode PerExampleBenchRow}) on stdout, the rest on stderr.
 *
 * @module
 */

import process from "node:process";
import { getDevice, type Gpu } from "../src/gpu/device.ts";
import type { TransformerConfig } from "../src/nn/config.ts";
import type { ParamLayout } from "../src/nn/layout.ts";
import { type StatsRequest, Transformer } from "../src/nn/transformer.ts";
import {
  disposeParams,
  type Jax,
  type JaxArray,
  jaxLoss,
  type JaxParams,
  jaxParams,
  refParams,
} from "./jax_transformer.ts";
import { loadPeer } from "./peer.ts";
import { randomBatch, TRAIN_STEP_CASES } from "./train_step.ts";

/** A model size with its batch size and default timing effort. */
export interface PerExampleCase {
  /** `tiny` or `small`. */
  name: string;
  /** The model. */
  config: TransformerConfig;
  /** Examples per batch. */
  batchSize: number;
  /** Steps per timed trial. */
  steps: number;
  /** Trials of each of our three passes. */
  trials: number;
  /** Trials of the peer, alternating with our {norms} pass. */
  peerTrials: number;
}

/** Options of {@linkcode runPerExampleBench}. */
export interface PerExampleBenchOptions {
  /** The tiny case with few steps: a smoke test. */
  quick?: boolean;
  /** Steps per trial (default: per case). */
  steps?: number;
  /** Trials of our passes (default: per case). */
  trials?: number;
  /** Trials of the peer (default: per case). */
  peerTrials?: number;
  /** Run the jax-js peer (default true). */
  peer?: boolean;
  /** Use a loop of per-example `grad` calls instead of `vmap(grad)` for the peer. */
  peerLoop?: boolean;
  /** The device to use; one is requested (and destroyed) when absent. */
  gpu?: Gpu;
}

/** One measured quantity; also the `--json` line. */
export interface PerExampleBenchRow {
  /** `overhead`, `memory` or `peer`. */
  section: "overhead" | "memory" | "peer";
  /** What was measured, e.g. `step norms / plain`. */
  name: string;
  /** The case name. */
  config: string;
  /** The value, or null when it could not be measured. */
  value: number | null;
  /** `s`, `ratio`, `bytes`, `P floats`, `x` or `rel`. */
  unit: string;
  /** The brief's target for this quantity, e.g. `<= 1.15`, or null. */
  target: string | null;
  /** Whether the value meets the target, or null when there is none. */
  met: boolean | null;
}

/** Our and the peer's per-example total squared norms, side by side. */
export interface PerExampleNormCheck {
  /** The peer's method: `jit(vmap(grad))` or `loop of jit(grad)`. */
  method: string;
  /** Σ over our norms table's row b, for each example. */
  ours: number[];
  /** The same from the peer. */
  peer: number[];
  /** max_b |ours − peer| / |peer|. */
  maxRelError: number;
  /** max over table entries of |ours − peer| / |peer| (per block). */
  maxBlockRelError: number;
}

/** What {@linkcode runPerExampleBench} measured. */
export interface PerExampleBenchReport {
  /** Our adapter's description. */
  adapter: string;
  /** The case that ran. */
  config: string;
  /** P, the flat parameter count (alignment gaps included). */
  paramCount: number;
  /** The rows. */
  rows: PerExampleBenchRow[];
  /** The cross-check of per-example norms, or null when the peer did not run. */
  check: PerExampleNormCheck | null;
  /** Why the peer (or its vmap) failed, or null. */
  peerError: string | null;
  /** Wall seconds of each phase (warm-ups include pipeline compilation). */
  phases: Record<string, number>;
  /** Wall seconds of the whole run. */
  wallSeconds: number;
  /** The 1-minute load average at the start and the end (other processes skew timings), if readable. */
  load: [number, number] | null;
}

/** The brief's targets. */
export const TARGETS = { overhead: 1.15, extraPFloats: 3, speedup: 5, normRelError: 1e-3 } as const;

const ALL: StatsRequest = { norms: true, sumSq: true, sumSign: true };
const NORMS: StatsRequest = { norms: true };

function trainCase(name: string): TransformerConfig {
  return TRAIN_STEP_CASES.find((c) => c.name === name)!.config;
}

/**
 * The cases: `small` is the brief's model (dMlp = 4d = 1024) at B = 32; `tiny` the smoke test.
 * A `small` step takes ~5–15 s on lavapipe and the peer's ~40 s, after ~1–2 min of pipeline
 * compilation, hence one step per trial to stay near 4 minutes.
 */
export const PER_EXAMPLE_CASES: PerExampleCase[] = [
  { name: "tiny", config: trainCase("tiny"), batchSize: 8, steps: 4, trials: 3, peerTrials: 2 },
  { name: "small", config: trainCase("small"), batchSize: 32, steps: 1, trials: 2, peerTrials: 1 },
];

/** Runs `steps` steps of one contender and resolves when the work is done. */
type Trial = (steps: number) => Promise<void>;

/**
 * Best seconds per step of each contender: wall-clock, and CPU time of this process.
 * lavapipe runs its shaders on this process's threads (jax-js's too), so the CPU time counts
 * the work itself and is far less disturbed by other processes on the machine than the wall.
 */
export interface StepSeconds {
  /** Best wall-clock seconds per step. */
  wall: number[];
  /** Best process CPU seconds (user + system, all threads) per step. */
  cpu: number[];
}

/**
 * Times `rounds` rounds; each runs every contender once, starting one further along, so none
 * always follows the same neighbour.
 */
async function timeAlternating(trials: Trial[], steps: number, rounds: number): Promise<StepSeconds> {
  const wall = trials.map(() => Infinity), cpu = trials.map(() => Infinity);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < trials.length; k++) {
      const i = (r + k) % trials.length;
      const start = performance.now(), cpuStart = process.cpuUsage();
      await trials[i](steps);
      const used = process.cpuUsage(cpuStart);
      wall[i] = Math.min(wall[i], (performance.now() - start) / 1000 / steps);
      cpu[i] = Math.min(cpu[i], (used.user + used.system) / 1e6 / steps);
    }
  }
  return { wall, cpu };
}

/** Our step with a request: `steps` submissions, then one sync. */
function oursTrial(gpu: Gpu, model: Transformer, request: StatsRequest) {
  return async (steps: number) => {
    for (let i = 0; i < steps; i++) await model.forwardBackward(request);
    await gpu.sync();
  };
}

/** Buffers created (and destroyed) while `body` runs, by label. */
async function logAllocations(gpu: Gpu, body: () => Promise<void>): Promise<Map<string, number>> {
  const bytes = new Map<string, number>();
  const add = (label: string, n: number) => bytes.set(label, (bytes.get(label) ?? 0) + n);
  // Instance properties shadow the class methods for the duration of `body` only.
  const spy = gpu as unknown as Record<string, unknown>;
  const create = gpu.createBuffer.bind(gpu), destroy = gpu.destroyBuffer.bind(gpu);
  spy.createBuffer = (size: number, usage: GPUBufferUsageFlags, label?: string) => {
    const buffer = create(size, usage, label);
    add(groupLabel(label ?? "buffer"), buffer.size);
    return buffer;
  };
  spy.destroyBuffer = (buffer: GPUBuffer) => {
    add(groupLabel(buffer.label), -buffer.size);
    destroy(buffer);
  };
  try {
    await body();
  } finally {
    delete spy.createBuffer;
    delete spy.destroyBuffer;
  }
  return bytes;
}

/** Uniform-parameter buffers are one per dispatch: counted together. */
function groupLabel(label: string): string {
  return label.endsWith(".params") ? "uniform params (all dispatches)" : label;
}

function row(
  section: PerExampleBenchRow["section"],
  name: string,
  config: string,
  value: number | null,
  unit: string,
  target: { text: string; ok: (v: number) => boolean } | null = null,
): PerExampleBenchRow {
  const met = target && value !== null ? target.ok(value) : null;
  return { section, name, config, value, unit, target: target?.text ?? null, met };
}

const atMost = (limit: number) => ({ text: `<= ${limit}`, ok: (v: number) => v <= limit });
const atLeast = (limit: number) => ({ text: `>= ${limit}`, ok: (v: number) => v >= limit });

/**
 * Creates the model and measures peak bytes: plain pass, then (peak reset) the pass with all
 * statistics, which also records and warms up its program. Baseline is the device's live
 * bytes before the model, so a shared device works too.
 */
async function measureMemory(gpu: Gpu, c: PerExampleCase, batch: ReturnType<typeof randomBatch>) {
  const baseline = gpu.liveBytes;
  gpu.resetPeak();
  const model = await Transformer.create(gpu, c.config, { batchSize: c.batchSize, seed: 0 });
  model.setBatch(batch);
  await oursTrial(gpu, model, {})(1);
  const plain = gpu.peakBytes - baseline;
  gpu.resetPeak();
  const allocated = await logAllocations(gpu, () => oursTrial(gpu, model, ALL)(1));
  const stats = gpu.peakBytes - baseline;
  return { model, plain, stats, allocated };
}

function memoryRows(
  name: string,
  model: Transformer,
  m: { plain: number; stats: number; allocated: Map<string, number> },
): PerExampleBenchRow[] {
  const pBytes = 4 * model.layout.size;
  const table = 4 * model.batchSize * model.layout.blocks.length;
  const extra = m.stats - m.plain;
  const rows = [
    row("memory", "peak bytes, plain pass", name, m.plain, "bytes"),
    row("memory", "peak bytes, with norms+sumSq+sumSign", name, m.stats, "bytes"),
    row("memory", "extra bytes of statistics", name, extra, "bytes"),
    row("memory", "norms table B x nBlocks", name, table, "bytes"),
    row(
      "memory",
      "extra bytes without the table",
      name,
      (extra - table) / pBytes,
      "P floats",
      atMost(TARGETS.extraPFloats),
    ),
  ];
  const parts = [...m.allocated].filter(([, bytes]) => bytes !== 0).sort((a, b) => b[1] - a[1]);
  for (const [label, bytes] of parts) {
    rows.push(row("memory", `  of which ${label}`, name, bytes / pBytes, "P floats"));
  }
  return rows;
}

/** jax-js on WebGPU; throws with the reason when it cannot start. */
async function loadJax(): Promise<Jax> {
  const { jax, error } = await loadPeer(true);
  if (!jax) throw new Error(error ?? "jax-js did not start");
  return jax;
}

/** Labels a jax-js failure with the stage it happened in. */
async function stage<T>(name: string, body: () => T | Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${name}: ${message.split("\n")[0]}`);
  }
}

/** The peer's per-example norms step: dispatch lazily, then read or wait. */
interface PeerNorms {
  method: string;
  /** Dispatches one step; the results are lazy jax-js arrays. */
  step(): JaxArray[];
  /** Reads a step's results as the [B, nBlocks] table (consumes them). */
  read(results: JaxArray[]): Promise<Float32Array>;
  dispose(): void;
}

/**
 * ‖∇ loss_b‖² per block for one example (tokens and targets [T]) as a jax-js function:
 * the loss is jaxLoss of a batch of one, the mean over the example's T tokens.
 */
function squaredNormsOfOne(jax: Jax, config: TransformerConfig, layout: ParamLayout) {
  const np = jax.numpy, gradOne = jax.grad(jaxLoss(jax, config, 1));
  const names = layout.blocks.map((b) => b.name);
  return (p: JaxParams, tokens: JaxArray, targets: JaxArray): JaxArray => {
    const g = gradOne(p, tokens, targets);
    return np.stack(names.map((n) => np.square(g[n]).sum()));
  };
}

/** The naive peer: `jit(vmap(grad))` over the batch, params not mapped. */
function vmapPeer(jax: Jax, config: TransformerConfig, layout: ParamLayout, params: JaxParams, batch: {
  tokens: Int32Array;
  targets: Int32Array;
}): PeerNorms {
  const np = jax.numpy, B = batch.tokens.length / config.seqLen, shape = [B, config.seqLen];
  const f = jax.jit(jax.vmap(squaredNormsOfOne(jax, config, layout), [null, 0, 0]));
  const tokens = np.array(batch.tokens, { shape, dtype: np.int32 });
  const targets = np.array(batch.targets, { shape, dtype: np.int32 });
  return {
    method: "jit(vmap(grad))",
    step: () => [f(refParams(params), tokens.ref, targets.ref)],
    read: async ([table]) => await table.data() as Float32Array,
    dispose: () => {
      tokens.dispose();
      targets.dispose();
      f.dispose();
    },
  };
}

/** The fallback peer: one jitted `grad` per example, B calls per step. */
function loopPeer(jax: Jax, config: TransformerConfig, layout: ParamLayout, params: JaxParams, batch: {
  tokens: Int32Array;
  targets: Int32Array;
}): PeerNorms {
  const np = jax.numpy, T = config.seqLen, B = batch.tokens.length / T;
  const f = jax.jit(squaredNormsOfOne(jax, config, layout));
  const row = (a: Int32Array, b: number) =>
    np.array(a.slice(b * T, (b + 1) * T), { shape: [T], dtype: np.int32 });
  const tokens = Array.from({ length: B }, (_, b) => row(batch.tokens, b));
  const targets = Array.from({ length: B }, (_, b) => row(batch.targets, b));
  return {
    method: "loop of jit(grad)",
    step: () => tokens.map((t, b) => f(refParams(params), t.ref, targets[b].ref)),
    read: async (results) => {
      const rows = [];
      for (const r of results) rows.push(...(await r.data() as Float32Array));
      return Float32Array.from(rows);
    },
    dispose: () => {
      [...tokens, ...targets].forEach((a) => a.dispose());
      f.dispose();
    },
  };
}

/** Compares our [B, nBlocks] table with the peer's. */
function compareNorms(
  method: string,
  ours: Float32Array,
  peer: Float32Array,
  B: number,
): PerExampleNormCheck {
  const nBlocks = ours.length / B;
  const total = (t: Float32Array, b: number) =>
    t.subarray(b * nBlocks, (b + 1) * nBlocks).reduce((s, x) => s + x, 0);
  const oursTotals = Array.from({ length: B }, (_, b) => total(ours, b));
  const peerTotals = Array.from({ length: B }, (_, b) => total(peer, b));
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
  return {
    method,
    ours: oursTotals,
    peer: peerTotals,
    maxRelError: Math.max(...oursTotals.map((x, b) => rel(x, peerTotals[b]))),
    maxBlockRelError: Math.max(...Array.from(ours, (x, i) => peer[i] === 0 ? Math.abs(x) : rel(x, peer[i]))),
  };
}

/** Builds the peer (vmap, or the loop when asked or when vmap fails) and runs its first step. */
async function setUpPeer(
  jax: Jax,
  model: Transformer,
  batch: { tokens: Int32Array; targets: Int32Array },
  loop: boolean,
): Promise<{ peer: PeerNorms; table: Float32Array; params: JaxParams; vmapError: string | null }> {
  const params = await stage(
    "loading parameters",
    async () => jaxParams(jax, model.layout, await model.params.read()),
  );
  const build = loop ? [loopPeer] : [vmapPeer, loopPeer];
  let vmapError: string | null = null;
  for (const make of build) {
    const peer = make(jax, model.config, model.layout, params, batch);
    try {
      const table = await stage(peer.method, () => peer.read(peer.step()));
      return { peer, table, params, vmapError };
    } catch (error) {
      peer.dispose();
      if (make === loopPeer) {
        disposeParams(params);
        throw new Error(`${vmapError ? vmapError + "; then " : ""}${(error as Error).message}`);
      }
      vmapError = (error as Error).message;
    }
  }
  throw new Error("unreachable");
}

/** The peer, set up and cross-checked, ready to be timed. */
interface PeerRun {
  trial: Trial;
  check: PerExampleNormCheck;
  vmapError: string | null;
  dispose(): void;
}

/** Loads jax-js, builds the peer, runs its first (compiling) step and checks it against `ours`. */
async function preparePeer(
  c: PerExampleCase,
  model: Transformer,
  batch: { tokens: Int32Array; targets: Int32Array },
  ours: Float32Array,
  loop: boolean,
): Promise<PeerRun> {
  const jax = await stage("loading jax-js", loadJax);
  const { peer, table, params, vmapError } = await setUpPeer(jax, model, batch, loop);
  const trial = async (steps: number) => {
    const outs = Array.from({ length: steps }, () => peer.step());
    await jax.blockUntilReady(outs);
    outs.flat().forEach((a) => a.dispose());
  };
  return {
    trial,
    check: compareNorms(peer.method, ours, table, c.batchSize),
    vmapError,
    dispose: () => {
      peer.dispose();
      disposeParams(params);
    },
  };
}

function overheadRows(name: string, t: StepSeconds): PerExampleBenchRow[] {
  const rows: PerExampleBenchRow[] = [];
  for (const [clock, seconds] of [["wall", t.wall], ["cpu", t.cpu]] as const) {
    const [plain, norms, all] = seconds;
    rows.push(
      row("overhead", `${clock} step plain`, name, plain, "s"),
      row("overhead", `${clock} step norms`, name, norms, "s"),
      row("overhead", `${clock} step norms+sumSq+sumSign`, name, all, "s"),
      row("overhead", `${clock} norms / plain`, name, norms / plain, "ratio", atMost(TARGETS.overhead)),
      row(
        "overhead",
        `${clock} norms+sumSq+sumSign / plain`,
        name,
        all / plain,
        "ratio",
        atMost(TARGETS.overhead),
      ),
    );
  }
  return rows;
}

function peerRows(
  name: string,
  check: PerExampleNormCheck | null,
  t: StepSeconds | null,
): PerExampleBenchRow[] {
  const rows = [
    row(
      "peer",
      "per-example total norm rel diff",
      name,
      check?.maxRelError ?? null,
      "rel",
      atMost(TARGETS.normRelError),
    ),
  ];
  for (const [clock, seconds] of [["wall", t?.wall], ["cpu", t?.cpu]] as const) {
    const [ours, peer] = seconds ?? [null, null];
    rows.push(
      row("peer", `${clock} step ours {norms}`, name, ours, "s"),
      row("peer", `${clock} step jax-js ${check?.method ?? "(did not run)"}`, name, peer, "s"),
      row(
        "peer",
        `${clock} speed-up ours vs jax-js`,
        name,
        ours && peer ? peer / ours : null,
        "x",
        atLeast(TARGETS.speedup),
      ),
    );
  }
  return rows;
}

/**
 * Runs the three sections on one case and returns the rows (nothing is printed).
 *
 * Order: the model and the memory passes (which also warm up the plain and the all-statistics
 * programs), a first {norms} pass, alternating timed trials of plain, {norms} and all
 * statistics; then jax-js: the peer's first step and cross-check, and alternating trials of
 * the peer and our {norms} pass.
 *
 * @example
 * ```ts ignore
 * const report = await runPerExampleBench({ quick: true });
 * console.log(formatPerExampleReport(report));
 * ```
 */
export async function runPerExampleBench(
  options: PerExampleBenchOptions = {},
): Promise<PerExampleBenchReport> {
  const start = performance.now(), loadAtStart = loadAverage();
  const c = PER_EXAMPLE_CASES.find((x) => x.name === (options.quick ? "tiny" : "small"))!;
  const steps = options.steps ?? c.steps, trials = options.trials ?? c.trials;
  const phases: Record<string, number> = {};
  const phase = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const result = await body();
    phases[name] = (performance.now() - t0) / 1000;
    return result;
  };
  const gpu = options.gpu ?? await getDevice();
  const batch = randomBatch(c.config, c.batchSize, 1);
  let model: Transformer | null = null, peer: PeerRun | null = null;
  try {
    const memory = await phase("model, first plain and all-stats passes", () => measureMemory(gpu, c, batch));
    model = memory.model;
    await phase("first norms pass", () => oursTrial(gpu, memory.model, NORMS)(1));
    const ours = await model.statistics.norms!.read();
    // Our three passes are timed before jax-js starts, so its device and memory stay out of them.
    const seconds = await phase(
      "overhead trials",
      () => timeAlternating([{}, NORMS, ALL].map((r) => oursTrial(gpu, memory.model, r)), steps, trials),
    );
    const rows = [...overheadRows(c.name, seconds), ...memoryRows(c.name, model, memory)];
    let peerError: string | null = options.peer ?? true ? null : "disabled (--no-peer)";
    let peerSeconds: StepSeconds | null = null;
    if (!peerError) {
      try {
        const loop = options.peerLoop ?? false;
        peer = await phase(
          "jax-js load and first step",
          () => preparePeer(c, memory.model, batch, ours, loop),
        );
        if (peer.vmapError) peerError = `vmap failed, loop used: ${peer.vmapError}`;
        const pair = [oursTrial(gpu, memory.model, NORMS), peer.trial];
        peerSeconds = await phase(
          "peer trials",
          () => timeAlternating(pair, steps, options.peerTrials ?? c.peerTrials),
        );
      } catch (error) {
        peerError = error instanceof Error ? error.message : String(error);
      }
    }
    rows.push(...peerRows(c.name, peer?.check ?? null, peerSeconds));
    const wallSeconds = (performance.now() - start) / 1000;
    return {
      adapter: gpu.description,
      config: c.name,
      paramCount: model.layout.size,
      rows,
      check: peer?.check ?? null,
      peerError,
      phases,
      wallSeconds,
      load: loadAtStart === null ? null : [loadAtStart, loadAverage() ?? NaN],
    };
  } finally {
    peer?.dispose();
    model?.destroy();
    if (!options.gpu) gpu.destroy();
  }
}

/** The 1-minute load average, or null without `--allow-sys`. */
function loadAverage(): number | null {
  try {
    return Deno.loadavg()[0];
  } catch {
    return null;
  }
}

function formatValue(r: PerExampleBenchRow): string {
  if (r.value === null) return "-";
  if (r.unit === "bytes") {
    return r.value >= 2 ** 20
      ? `${(r.value / 2 ** 20).toFixed(2)} MiB`
      : `${(r.value / 1024).toFixed(2)} KiB`;
  }
  if (r.unit === "rel") return r.value.toExponential(2);
  if (r.unit === "s") return `${r.value.toFixed(4)} s`;
  return `${r.value.toFixed(3)} ${r.unit === "ratio" ? "" : r.unit}`.trimEnd();
}

/** Formats the report as text: the rows, then both columns of the norm check. */
export function formatPerExampleReport(report: PerExampleBenchReport): string {
  const lines = [
    `adapter: ${report.adapter}; config ${report.config}; P = ${report.paramCount}; wall ${
      report.wallSeconds.toFixed(0)
    } s`,
  ];
  const phases = Object.entries(report.phases).map(([name, s]) => `${name} ${s.toFixed(0)} s`);
  lines.push(`phases: ${phases.join("; ")}`);
  if (report.load) lines.push(`load average (2 cores): ${report.load.map((x) => x.toFixed(1)).join(" -> ")}`);
  if (report.peerError) lines.push(`peer: ${report.peerError}`);
  const table = [
    ["section", "quantity", "value", "target", "met"],
    ...report.rows.map((r) => [
      r.section,
      r.name,
      formatValue(r),
      r.target ?? "",
      r.met === null ? "" : r.met ? "yes" : "NO",
    ]),
  ];
  const widths = table[0].map((_, j) => Math.max(...table.map((cells) => cells[j].length)));
  lines.push(...table.map((cells) => cells.map((cell, j) => cell.padEnd(widths[j])).join("  ").trimEnd()));
  const check = report.check;
  if (check) {
    lines.push(`per-example total squared norms, ours vs jax-js ${check.method}:`);
    check.ours.forEach((x, b) => {
      const rel = Math.abs(x - check.peer[b]) / Math.abs(check.peer[b]);
      lines.push(
        `  b=${b}  ours ${x.toPrecision(8)}  peer ${check.peer[b].toPrecision(8)}  rel ${
          rel.toExponential(1)
        }`,
      );
    });
    lines.push(
      `  max rel over examples ${check.maxRelError.toExponential(2)}; per block ${
        check.maxBlockRelError.toExponential(2)
      }`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const count = (flag: string) => {
    const at = Deno.args.indexOf(flag);
    return at >= 0 ? Number(Deno.args[at + 1]) : undefined;
  };
  const report = await runPerExampleBench({
    quick: Deno.args.includes("--quick"),
    peer: !Deno.args.includes("--no-peer"),
    peerLoop: Deno.args.includes("--peer-loop"),
    steps: count("--steps"),
    trials: count("--trials"),
    peerTrials: count("--peer-trials"),
  });
  if (Deno.args.includes("--json")) {
    // stdout holds only the rows; the rest goes to stderr.
    const { rows, ...rest } = report;
    console.error(JSON.stringify(rest));
    for (const r of rows) console.log(JSON.stringify(r));
  } else {
    console.log(formatPerExampleReport(report));
  }
}
