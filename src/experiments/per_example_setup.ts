/**
 * What the per-example experiment scripts (scripts/sign_placement.ts, micro_adam.ts,
 * lr_scaling.ts, noise_scale.ts) share: the three sizes (`--smoke`, default, `--full`), the
 * Moby Dick byte-level model of each size, command-line parsing, running one training run with
 * a one-line summary, and reading a finished run back (its log and its final parameters).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { getDevice, type Gpu } from "../gpu/device.ts";
import { transformerLayout } from "../nn/layout.ts";
import type { TransformerConfig } from "../nn/config.ts";
import { readCheckpoint } from "../train/checkpoint.ts";
import { readJsonl } from "../train/log.ts";
import { train } from "../train/loop.ts";
import { runPath, type RunSummary } from "../train/run_dir.ts";

/** How big an experiment runs: a few steps, the CPU-sized default, or GPU scale. */
export type ExperimentMode = "smoke" | "default" | "full";

/** Options every experiment takes. */
export interface ExperimentOptions {
  /** Size. */
  mode: ExperimentMode;
  /** The results folder (`results/<name>` by default). */
  out: string;
  /** A device to share; a fresh one is acquired (and destroyed) when absent. */
  gpu?: Gpu;
  /** Print nothing but errors. */
  quiet?: boolean;
}

/**
 * Parses `--smoke`, `--full` and `--out DIR`. The default folder is `results/<name>`, with a
 * `_smoke` or `_full` suffix in those modes, so that sizes never share run folders (a run folder
 * holding another config is refused by the training loop).
 *
 * @example
 * ```ts
 * import { parseExperimentArgs } from "./src/experiments/per_example_setup.ts";
 * console.log(parseExperimentArgs(["--smoke"], "sign_placement")); // { mode: "smoke", out: "results/sign_placement_smoke" }
 * ```
 */
export function parseExperimentArgs(args: string[], name: string): ExperimentOptions {
  const { values } = parseArgs({
    args,
    options: {
      smoke: { type: "boolean", default: false },
      full: { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  if (values.smoke && values.full) throw new Error(`${name}: give at most one of --smoke and --full`);
  const mode: ExperimentMode = values.smoke ? "smoke" : values.full ? "full" : "default";
  return { mode, out: values.out ?? `results/${name}${mode === "default" ? "" : `_${mode}`}` };
}

/**
 * The causal byte-level transformer of each size (vocabulary 256, Pre-LN, untied head):
 * smoke d 16 / 1 block / T 8; default d 32 / 2 blocks / T 16; full d 128 / 4 blocks / T 128.
 *
 * @example
 * ```ts
 * import { experimentModel } from "./src/experiments/per_example_setup.ts";
 * console.log(experimentModel("default").dModel); // 32
 * ```
 */
export function experimentModel(mode: ExperimentMode): TransformerConfig {
  const size = {
    smoke: { dModel: 16, nHeads: 2, nLayers: 1, dMlp: 32, seqLen: 8 },
    default: { dModel: 32, nHeads: 4, nLayers: 2, dMlp: 128, seqLen: 16 },
    full: { dModel: 128, nHeads: 4, nLayers: 4, dMlp: 512, seqLen: 128 },
  }[mode];
  return {
    ...size,
    norm: "pre",
    causal: true,
    input: { kind: "tokens", vocabSize: 256 },
    head: { kind: "lm", tied: false },
  };
}

/**
 * A raw run config on Moby Dick bytes: the mode's model, batch size B, `steps`, the optimizer,
 * ten metric readings (so the last reading's `loss_mean` averages the last 10% of steps), one
 * evaluation at the end on 8 validation batches, and the final checkpoint only.
 *
 * @example
 * ```ts
 * import { experimentRun } from "./src/experiments/per_example_setup.ts";
 * const config = experimentRun("smoke", { batch: 4, steps: 20, optimizer: { name: "adam", lr: 1e-3 } });
 * console.log(config.metrics_every); // 2
 * ```
 */
export function experimentRun(
  mode: ExperimentMode,
  run: { batch: number; steps: number; optimizer: Record<string, unknown>; seed?: number },
): Record<string, unknown> & { metrics_every: number } {
  return {
    seed: run.seed ?? 0,
    model: experimentModel(mode),
    data: { dataset: "moby_dick", tokenizer: "bytes", batch_size: run.batch },
    optimizer: run.optimizer,
    steps: run.steps,
    metrics_every: Math.max(1, Math.floor(run.steps / 10)),
    eval_every: 0,
    eval_batches: 8,
    checkpoint_every: 0,
  };
}

/**
 * The device of `options`, or a fresh one for the duration of `body`.
 *
 * @example
 * ```ts ignore
 * await withGpu(options, async (gpu) => { ... });
 * ```
 */
export async function withGpu<T>(options: ExperimentOptions, body: (gpu: Gpu) => Promise<T>): Promise<T> {
  const gpu = options.gpu ?? await getDevice();
  try {
    return await body(gpu);
  } finally {
    if (!options.gpu) gpu.destroy();
  }
}

/** A run with how it ended and its headline numbers. */
export interface RunResult {
  /** The run directory. */
  dir: string;
  /** The run's summary. */
  summary: RunSummary;
  /** Mean training loss of the last reading's window (the last 10% of steps); +∞ if diverged. */
  finalLoss: number;
  /** Validation loss at the end, NaN if none. */
  evalLoss: number;
}

/**
 * Trains `config` into `dir` (skipping a finished run, resuming an interrupted one) and prints
 * one line: the run, its status, final loss and time.
 *
 * @example
 * ```ts ignore
 * const result = await runOne(gpu, config, "results/x/adam/lr=0.001,seed=0");
 * ```
 */
export async function runOne(
  gpu: Gpu,
  config: Record<string, unknown>,
  dir: string,
  quiet = false,
): Promise<RunResult> {
  const started = performance.now();
  const summary = await train(config, { dir, gpu, onProgress: () => {} });
  const log = await readTrainLog(dir);
  const last = log.filter((r) => r.kind === "train").at(-1);
  const finalLoss = summary.status === "diverged"
    ? Infinity
    : Number(last?.loss_mean ?? summary.final_loss ?? NaN);
  const result = { dir, summary, finalLoss, evalLoss: summary.eval?.loss ?? NaN };
  if (!quiet) {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `  ${dir.padEnd(56)} ${summary.status.padEnd(9)} loss ${fmt(finalLoss)}  eval ${
        fmt(result.evalLoss)
      }  ${seconds} s`,
    );
  }
  return result;
}

/**
 * Formats a number for the summary tables: `digits` decimals, `-` for NaN, `inf` for ±∞.
 *
 * @example
 * ```ts
 * import { fmt } from "./src/experiments/per_example_setup.ts";
 * console.log(fmt(1.23456), fmt(Infinity), fmt(NaN)); // "1.235" "inf" "-"
 * ```
 */
export function fmt(value: number, digits = 3): string {
  if (Number.isNaN(value)) return "-";
  if (!Number.isFinite(value)) return "inf";
  return value.toFixed(digits);
}

/** One parsed line of a run's `log.jsonl`. */
export type LogLine = Record<string, unknown>;

/**
 * A run's `log.jsonl` lines (train and eval), in order.
 *
 * @example
 * ```ts ignore
 * const trainLines = (await readTrainLog(dir)).filter((line) => line.kind === "train");
 * ```
 */
export async function readTrainLog(dir: string): Promise<LogLine[]> {
  return (await readJsonl(runPath(dir, "log"))) as LogLine[];
}

/**
 * The final parameters of a finished run, read from its checkpoint into the flat layout.
 *
 * @example
 * ```ts ignore
 * const params = await readFinalParams(dir, experimentModel("default"));
 * ```
 */
export async function readFinalParams(dir: string, model: TransformerConfig): Promise<Float32Array> {
  const layout = transformerLayout(model);
  const data = await readCheckpoint(runPath(dir, "checkpoint"));
  const params = new Float32Array(layout.size);
  for (const block of layout.blocks) {
    const tensor = data.tensors[block.name];
    if (!tensor || tensor.data.length !== block.size) {
      throw new Error(`gradscope: ${dir}: the checkpoint lacks block ${block.name} of ${block.size} values`);
    }
    params.set(tensor.data as Float32Array, block.offset);
  }
  return params;
}

/**
 * Coordinates per parameter block, by block name.
 *
 * @example
 * ```ts
 * import { blockSizes, experimentModel } from "./src/experiments/per_example_setup.ts";
 * console.log(Object.keys(blockSizes(experimentModel("smoke"))).length > 0); // true
 * ```
 */
export function blockSizes(model: TransformerConfig): Record<string, number> {
  return Object.fromEntries(transformerLayout(model).blocks.map((b) => [b.name, b.size]));
}

/**
 * Writes `value` as pretty JSON (non-finite numbers as the strings the logs use).
 *
 * @example
 * ```ts ignore
 * await writeJson("results/x/results.json", { loss: Infinity });
 * ```
 */
export async function writeJson(path: string, value: unknown): Promise<void> {
  const text = JSON.stringify(
    value,
    (_key, v) => typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
    2,
  );
  await Deno.writeTextFile(path, text + "\n");
}

/** A training loss above this (twice the loss ln 256 of a uniform byte guess) is drawn as a gap: the run diverged. */
export const DIVERGED_LOSS: number = 2 * Math.log(256);

/**
 * A logged scalar (`loss_mean` by default) of each run over its train readings, x = step · `xPerStep`;
 * values that are not finite or exceed `max` become NaN (a gap in a line chart).
 *
 * @example
 * ```ts ignore
 * const curves = await runCurves(results.map((r) => r.dir)); // one { x, y } per run
 * ```
 */
export async function runCurves(
  dirs: readonly string[],
  options: { key?: string; xPerStep?: number; max?: number } = {},
): Promise<{ x: number[]; y: number[] }[]> {
  const { key = "loss_mean", xPerStep = 1, max = Infinity } = options;
  return await Promise.all(dirs.map(async (dir) => {
    const lines = (await readTrainLog(dir)).filter((line) => line.kind === "train" && key in line);
    const y = lines.map((line) => Number(line[key])).map((v) => (Number.isFinite(v) && v <= max ? v : NaN));
    return { x: lines.map((line) => Number(line.step) * xPerStep), y };
  }));
}
