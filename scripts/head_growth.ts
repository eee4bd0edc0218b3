/**
 * Momentum and the growth of the linear head under sign descent (Tomihari & Sato 2025):
 * SignSGD and Signum (β = 0.9), with Adam for reference, at one shared learning rate, train
 * classifiers with C ∈ {2, 10, 100, 1000} classes (the synthetic Zipf task, exponent 1) and
 * on WordNet's 45 classes. Each run checkpoints every few steps; the Frobenius norm of
 * `head.weight` is read from each checkpoint as the run goes (`<run>/head_norm.json`).
 *
 * The claim checked: without momentum the head norm grows with C.
 *
 * Run: `deno run --allow-read --allow-write --allow-env scripts/head_growth.ts [--smoke | --full] [--out DIR]`
 *
 * @module
 */

import { getDevice, type Gpu } from "../src/gpu/device.ts";
import { initParams } from "../src/nn/init.ts";
import { transformerLayout } from "../src/nn/layout.ts";
import { lineChart, type LineSeries } from "../src/plot/line_chart.ts";
import { meanStd } from "../src/plot/aggregate.ts";
import { formatMeanStd } from "../src/plot/report_table.ts";
import { parseRunConfig } from "../src/train/config.ts";
import { train } from "../src/train/loop.ts";
import type { RunSummary } from "../src/train/run_dir.ts";
import { decodeSafetensors } from "../src/train/safetensors.ts";
import { formatTable } from "../src/train/sweep.ts";
import {
  bySize,
  type ExperimentArgs,
  experimentArgs,
  type ExperimentResult,
  type ExperimentSize,
  writeSummary,
} from "../src/experiments/cli.ts";
import { bandSeries, saveFigure } from "../src/experiments/figures.ts";
import { finalWindowLoss } from "../src/experiments/tuned_runs.ts";

/** A classification task: a label, its class count, and the data section of the run config. */
interface Task {
  label: string;
  classes: number;
  data: Record<string, unknown>;
  input: Record<string, unknown>;
  seqLen: number;
}

function tasks(size: ExperimentSize): Task[] {
  const B = bySize(size, { smoke: 4, default: 16, full: 32 });
  const counts = bySize(size, { smoke: [2, 1000], default: [2, 10, 100, 1000], full: [2, 10, 100, 1000] });
  const zipf = counts.map((C): Task => ({
    label: `zipf_C${C}`,
    classes: C,
    seqLen: 9,
    input: { kind: "tokens", vocabSize: 33 },
    data: {
      dataset: "zipf",
      n_classes: C,
      exponent: 1,
      vocab_size: 32,
      noise: 0.1,
      n_train: bySize(size, { smoke: 200, default: 4000, full: 20000 }),
      n_test: bySize(size, { smoke: 50, default: 500, full: 2000 }),
      cls: true,
      batch_size: B,
    },
  }));
  const wordnet: Task = {
    label: "wordnet_C45",
    classes: 45,
    seqLen: bySize(size, { smoke: 8, default: 16, full: 64 }),
    input: { kind: "tokens", vocabSize: 257 },
    data: { dataset: "wordnet", cls: true, test_fraction: 0.005, batch_size: B },
  };
  return [...zipf, wordnet];
}

/** The optimizers compared; one learning rate for all, so the sign methods take equal steps. */
const OPTIMIZERS: { label: string; optimizer: Record<string, unknown> }[] = [
  { label: "signSgd", optimizer: { name: "signSgd" } },
  { label: "signum", optimizer: { name: "signum", beta: 0.9 } },
  { label: "adam", optimizer: { name: "adam" } },
];

function runConfig(size: ExperimentSize, task: Task, optimizer: Record<string, unknown>, seed: number) {
  const steps = bySize(size, { smoke: 4, default: 150, full: 2000 });
  return {
    seed,
    model: {
      dModel: bySize(size, { smoke: 16, default: 32, full: 128 }),
      nHeads: 2,
      nLayers: bySize(size, { smoke: 1, default: 2, full: 4 }),
      dMlp: bySize(size, { smoke: 32, default: 128, full: 512 }),
      seqLen: task.seqLen,
      norm: "pre",
      causal: false,
      input: task.input,
      head: { kind: "classify", nClasses: task.classes, pool: "cls" },
    },
    data: task.data,
    optimizer: { ...optimizer, lr: bySize(size, { smoke: 1e-3, default: 1e-3, full: 3e-4 }) },
    steps,
    metrics_every: bySize(size, { smoke: 2, default: 10, full: 50 }),
    checkpoint_every: bySize(size, { smoke: 2, default: 10, full: 50 }),
    eval_every: 0,
    eval_batches: 40,
  };
}

/** ‖head.weight‖_F at a step. */
interface HeadNorm {
  step: number;
  norm: number;
}

function frobenius(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i] * values[i];
  return Math.sqrt(s);
}

/** `head.weight` in the run's checkpoint right now, with its step, or null while there is none. */
function checkpointHead(dir: string): { step: number; head: Float32Array } | null {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(`${dir}/checkpoint.safetensors`);
  } catch {
    return null;
  }
  const data = decodeSafetensors(bytes, dir);
  return { step: Number(data.metadata.step), head: data.tensors["head.weight"].data as Float32Array };
}

/** The head-norm curve of a run and how far its head moved. */
interface Tracked {
  /** ‖head.weight‖_F at step 0 and at every checkpoint. */
  norms: HeadNorm[];
  /**
   * ‖W_T − W_0‖_F / (η·T·√n) for the n entries of the head: 1 when every entry moved by η in
   * the same direction at every step (the most a sign method can move it), small when the
   * steps cancel out.
   */
  drift: number;
}

/**
 * Trains one run, reading the head norm from each checkpoint as it is replaced: at a reading,
 * the checkpoint on disk is the previous one (checkpoints follow readings), so every
 * checkpoint is seen once, and the last one after the run ends. Saved as `head_norm.json`.
 */
async function trainTracked(
  gpu: Gpu,
  config: ReturnType<typeof runConfig>,
  dir: string,
): Promise<Tracked & { summary: RunSummary }> {
  const saved = `${dir}/head_norm.json`;
  const model = parseRunConfig(config).model;
  const layout = transformerLayout(model);
  const initial = layout.view(initParams(model, layout, config.seed), "head.weight");
  const norms = new Map<number, number>([[0, frobenius(initial)]]);
  const record = () => {
    const now = checkpointHead(dir);
    if (now) norms.set(now.step, frobenius(now.head));
  };
  const summary = await train(config, { dir, gpu, onProgress: record });
  const done = await Deno.readTextFile(saved).then((text) => JSON.parse(text) as Tracked, () => null);
  if (done && done.norms.length > 1) return { ...done, summary }; // an earlier invocation tracked it
  record();
  const final = checkpointHead(dir)!;
  const moved = frobenius(final.head.map((w, i) => w - initial[i]));
  const tracked: Tracked = {
    norms: [...norms].sort((a, b) => a[0] - b[0]).map(([step, norm]) => ({ step, norm })),
    drift: moved / (config.optimizer.lr * final.step * Math.sqrt(initial.length)),
  };
  await Deno.writeTextFile(saved, JSON.stringify(tracked));
  return { ...tracked, summary };
}

interface Row {
  task: string;
  classes: number;
  optimizer: string;
  initNorm: number[];
  finalNorm: number[];
  drift: number[];
  finalLoss: number[];
  accuracy: number[];
  curves: { x: number[]; y: number[] }[];
}

/** One line per optimizer over the Zipf tasks' class counts of a per-run value (mean over seeds). */
function byClasses(rows: Row[], value: (row: Row) => number[]): LineSeries[] {
  const zipf = rows.filter((r) => r.task.startsWith("zipf"));
  return OPTIMIZERS.map((o) => {
    const mine = zipf.filter((r) => r.optimizer === o.label).sort((a, b) => a.classes - b.classes);
    return { name: o.label, x: mine.map((r) => r.classes), y: mine.map((r) => meanStd(value(r)).mean) };
  });
}

async function figures(out: string, rows: Row[]): Promise<string[]> {
  const paths: string[] = [];
  const common = { xLabel: "classes C", xLog: true };
  paths.push(
    await saveFigure(
      out,
      "head_norm_vs_classes",
      lineChart({
        ...common,
        title: "Final ‖head.weight‖ against the number of classes (Zipf task)",
        yLabel: "‖head.weight‖_F at the end",
        yLog: true,
        series: byClasses(rows, (r) => r.finalNorm),
      }),
    ),
    await saveFigure(
      out,
      "head_drift_vs_classes",
      lineChart({
        ...common,
        title: "How far the head moved, as a fraction of η·T·√n (Zipf task)",
        yLabel: "‖W_T − W_0‖_F / (η·T·√n)",
        series: byClasses(rows, (r) => r.drift),
      }),
    ),
  );
  for (const o of OPTIMIZERS) {
    const series = rows.filter((r) => r.optimizer === o.label).map((r) => bandSeries(r.task, r.curves));
    paths.push(
      await saveFigure(
        out,
        `head_norm_steps_${o.label}`,
        lineChart({
          title: `‖head.weight‖ over training: ${o.label}`,
          xLabel: "step",
          yLabel: "‖head.weight‖_F",
          yLog: true,
          series,
        }),
      ),
    );
  }
  return paths;
}

/**
 * Runs the experiment and returns its figures, report directories and summary path.
 *
 * @example
 * ```ts ignore
 * const result = await main({ size: "smoke", out: "/tmp/head_growth" });
 * ```
 */
export async function main(args: ExperimentArgs): Promise<ExperimentResult> {
  const gpu = await getDevice();
  const seeds = bySize(args.size, { smoke: [0], default: [0, 1], full: [0, 1, 2] });
  const rows: Row[] = [];
  try {
    for (const task of tasks(args.size)) {
      for (const o of OPTIMIZERS) {
        const row: Row = {
          task: task.label,
          classes: task.classes,
          optimizer: o.label,
          initNorm: [],
          finalNorm: [],
          drift: [],
          finalLoss: [],
          accuracy: [],
          curves: [],
        };
        for (const seed of seeds) {
          const dir = `${args.out}/runs/${task.label}_${o.label}_seed${seed}`;
          const started = performance.now();
          const config = runConfig(args.size, task, o.optimizer, seed);
          const { norms, drift, summary } = await trainTracked(gpu, config, dir);
          const loss = await finalWindowLoss(dir, summary);
          row.initNorm.push(norms[0].norm);
          row.finalNorm.push(norms[norms.length - 1].norm);
          row.drift.push(drift);
          row.finalLoss.push(loss);
          row.accuracy.push(summary.eval?.accuracy ?? NaN);
          row.curves.push({ x: norms.map((n) => n.step), y: norms.map((n) => n.norm) });
          console.log(
            `  ${task.label.padEnd(12)} ${o.label.padEnd(8)} seed ${seed}: head norm ${
              norms[0].norm.toFixed(2)
            } → ` +
              `${norms[norms.length - 1].norm.toFixed(2)}, loss ${loss.toPrecision(4)}, ` +
              `${((performance.now() - started) / 1000).toFixed(1)} s`,
          );
        }
        rows.push(row);
      }
    }
  } finally {
    gpu.destroy();
  }
  const cell = (values: number[]) => formatMeanStd(meanStd(values));
  console.log(
    `\nHead growth: ‖head.weight‖_F at init and at the end, final training loss (${seeds.length} seed(s))`,
  );
  console.log(formatTable(
    [
      "task",
      "C",
      "optimizer",
      "head norm init",
      "head norm final",
      "growth ×",
      "drift/max",
      "final loss",
      "test acc",
    ],
    rows.map((r) => [
      r.task,
      String(r.classes),
      r.optimizer,
      cell(r.initNorm),
      cell(r.finalNorm),
      (meanStd(r.finalNorm).mean / meanStd(r.initNorm).mean).toFixed(2),
      cell(r.drift),
      cell(r.finalLoss),
      cell(r.accuracy),
    ]),
  ));
  const figs = await figures(args.out, rows);
  const summary = await writeSummary(args.out, {
    experiment: "head_growth",
    size: args.size,
    seeds,
    rows: rows.map(({ curves: _curves, ...r }) => ({
      ...r,
      initNorm: meanStd(r.initNorm),
      finalNorm: meanStd(r.finalNorm),
      drift: meanStd(r.drift),
      finalLoss: meanStd(r.finalLoss),
      accuracy: meanStd(r.accuracy),
    })),
  });
  return { name: "head_growth", figures: figs, reportDirs: [`${args.out}/runs`], summary };
}

if (import.meta.main) await main(experimentArgs("head_growth"));
