/**
 * The gradient noise scale and each block's gradient signal-to-noise ratio over a training run,
 * from per-example statistics (Roulet & Agarwala 2025 use the same statistics to read the noise
 * of each block). An Adam run logs, every few steps, each block's per-example sum of squares
 * Σ_b‖G_b‖² and its batch gradient norm ‖ḡ‖; from them tr Σ̂ = (Σ_b‖G_b‖² − B‖ḡ‖²)/(B − 1),
 * the block GSNR ‖ḡ‖²/tr Σ̂ and the simple noise scale B_simple = tr Σ̂/|G|² (McCandlish et al.
 * 2018, debiased: |G|² ≈ ‖ḡ‖² − tr Σ̂/B).
 *
 * The cost: the forward+backward step timed with and without each statistic (alternating
 * trials, the fastest of each), and the same training run with and without the logged statistics.
 *
 * Run: `deno run --allow-read --allow-write=results --allow-env scripts/noise_scale.ts`
 * (`--smoke`, `--full`, `--out DIR`). Results in `results/noise_scale/`.
 *
 * @module
 */

import { barChart, type Gpu, heatmap, lineChart, type StatsRequest, Transformer } from "../mod.ts";
import { modelNoise } from "../src/experiments/per_example_math.ts";
import {
  type ExperimentReport,
  type NamedFigure,
  type ReportPaths,
  writeExperimentReport,
} from "../src/experiments/per_example_report.ts";
import {
  blockSizes,
  type ExperimentMode,
  experimentModel,
  type ExperimentOptions,
  experimentRun,
  fmt,
  parseExperimentArgs,
  readTrainLog,
  runOne,
  withGpu,
} from "../src/experiments/per_example_setup.ts";
import { parseRunConfig } from "../src/train/config.ts";
import { loadRunData } from "../src/train/data.ts";

const SIZES: Record<
  ExperimentMode,
  { batch: number; steps: number; every: number; timing: { steps: number; trials: number } }
> = {
  smoke: { batch: 4, steps: 4, every: 2, timing: { steps: 2, trials: 1 } },
  default: { batch: 16, steps: 100, every: 5, timing: { steps: 10, trials: 3 } },
  full: { batch: 32, steps: 2000, every: 20, timing: { steps: 20, trials: 5 } },
};

const REQUESTS: { name: string; request: StatsRequest }[] = [
  { name: "plain", request: {} },
  { name: "sumSq", request: { sumSq: true } },
  { name: "sumSq+sumSign", request: { sumSq: true, sumSign: true } },
  { name: "norms", request: { norms: true } },
  { name: "all", request: { sumSq: true, sumSign: true, norms: true } },
];

/** Fastest ms/step of each request: trials alternate between the requests, each warmed up first. */
async function timeSteps(gpu: Gpu, mode: ExperimentMode): Promise<Record<string, number>> {
  const s = SIZES[mode], model = experimentModel(mode);
  const config = parseRunConfig({
    model,
    data: { dataset: "moby_dick", tokenizer: "bytes", batch_size: s.batch },
    optimizer: { name: "sgd", lr: 0 },
    steps: 1,
  });
  const batcher = (await loadRunData(config)).trainBatcher(0);
  const transformer = await Transformer.create(gpu, model, { batchSize: s.batch, seed: 0 });
  try {
    transformer.setBatch(batcher.next());
    const best: Record<string, number> = {};
    for (const { name, request } of REQUESTS) {
      await transformer.forwardBackward(request);
      await gpu.sync();
      best[name] = Infinity;
    }
    for (let trial = 0; trial < s.timing.trials; trial++) {
      for (const { name, request } of REQUESTS) {
        const start = performance.now();
        for (let k = 0; k < s.timing.steps; k++) await transformer.forwardBackward(request);
        await gpu.sync();
        best[name] = Math.min(best[name], (performance.now() - start) / s.timing.steps);
      }
    }
    return best;
  } finally {
    transformer.destroy();
  }
}

/**
 * Runs the experiment and writes its report.
 *
 * @example
 * ```ts ignore
 * await noiseScaleExperiment({ mode: "smoke", out: "/tmp/noise_scale" });
 * ```
 */
export async function noiseScaleExperiment(options: ExperimentOptions): Promise<ReportPaths> {
  const { mode, out, quiet } = options, s = SIZES[mode];
  return await withGpu(options, async (gpu) => {
    if (!quiet) {
      console.log(`noise scale (${mode}): Adam, B = ${s.batch}, ${s.steps} steps, results in ${out}/`);
    }
    const base = {
      ...experimentRun(mode, { batch: s.batch, steps: s.steps, optimizer: { name: "adam", lr: 3e-3 } }),
      metrics_every: s.every,
    };
    // The step timings first: they compile every statistics kernel, which the runs then reuse.
    const timing = await timeSteps(gpu, mode);
    const without = await runOne(gpu, base, `${out}/runs/adam_plain`, quiet);
    const withStats = await runOne(
      gpu,
      { ...base, log_stats: ["sum_sq", "example_norms"] },
      `${out}/runs/adam_stats`,
      quiet,
    );
    const sizes = blockSizes(experimentModel(mode));
    const readings = (await readTrainLog(withStats.dir)).filter((l) => l.kind === "train" && l.sum_sq_mean)
      .map(
        (l) => ({
          step: Number(l.step),
          loss: Number(l.loss_mean),
          noise: modelNoise(
            sizes,
            l.sum_sq_mean as Record<string, number>,
            l.grad_norm as Record<string, number>,
            s.batch,
          ),
          exampleNorms: (l.example_norms as number[] | undefined) ?? [],
        }),
      );
    const perStep = await Promise.all([withStats, without].map((r) => steadyStepMs(r.dir)));
    return await report(out, mode, { readings, timing, stepMsInRun: perStep }, quiet);
  });
}

/** Median over reading intervals after the first of the wall time per step (ms), from the log's `time_s`. */
async function steadyStepMs(dir: string): Promise<number> {
  const lines = (await readTrainLog(dir)).filter((l) => l.kind === "train");
  const rates = lines.slice(2).map((l, i) =>
    (1000 * (Number(l.time_s) - Number(lines[i + 1].time_s))) / (Number(l.step) - Number(lines[i + 1].step))
  );
  return median(rates);
}

const median = (values: number[]) => {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN;
};

async function report(
  out: string,
  mode: ExperimentMode,
  data: {
    readings: { step: number; loss: number; noise: ReturnType<typeof modelNoise>; exampleNorms: number[] }[];
    timing: Record<string, number>;
    stepMsInRun: number[];
  },
  quiet?: boolean,
): Promise<ReportPaths> {
  const s = SIZES[mode], { readings, timing } = data;
  const steps = readings.map((r) => r.step);
  const blocks = Object.keys(readings[0]?.noise.gsnr ?? {});
  const finite = (v: number) => (Number.isFinite(v) ? v : NaN);
  const weightBlocks = blocks.filter((b) => b.endsWith(".weight") && !/ln|norm/.test(b));
  const figures: NamedFigure[] = [
    {
      slug: "noise_scale",
      caption: "Simple gradient noise scale tr Σ̂/|G|² over training (debiased: |G|² ≈ ‖ḡ‖² − tr Σ̂/B, and " +
        `biased: ‖ḡ‖²), from the per-example statistics of each reading's batch; the batch size B = ${s.batch} for ` +
        "reference (B below B_simple: the batch gradient is noise-dominated).",
      figure: lineChart({
        title: "Gradient noise scale B_simple",
        xLabel: "step",
        yLabel: "examples",
        yLog: true,
        series: [
          { name: "B_simple (debiased)", x: steps, y: readings.map((r) => finite(r.noise.noiseScale)) },
          {
            name: "tr Σ̂ / ‖ḡ‖² (biased)",
            x: steps,
            y: readings.map((r) => finite(r.noise.noiseScaleBiased)),
          },
          { name: `batch size B = ${s.batch}`, x: steps, y: steps.map(() => s.batch) },
        ],
      }),
    },
    {
      slug: "gsnr_blocks",
      caption: "Per-block gradient SNR ‖ḡ‖²/tr Σ̂ over training (log colour).",
      figure: heatmap({
        title: "Block GSNR ‖ḡ‖² / tr Σ̂",
        xLabel: "step",
        colorLabel: "GSNR",
        logColor: true,
        rows: blocks,
        columns: steps,
        values: blocks.map((b) => readings.map((r) => finite(r.noise.gsnr[b]))),
      }),
    },
    {
      slug: "gsnr_weights",
      caption: "GSNR of the weight matrices and embeddings over training.",
      figure: lineChart({
        title: "Block GSNR of the weight matrices",
        xLabel: "step",
        yLabel: "‖ḡ‖² / tr Σ̂",
        yLog: true,
        series: weightBlocks.map((b) => ({
          name: b,
          x: steps,
          y: readings.map((r) => finite(r.noise.gsnr[b])),
        })),
      }),
    },
    {
      slug: "step_cost",
      caption: `Forward+backward time per step (B = ${s.batch}) by statistics requested: fastest of ` +
        `${s.timing.trials} alternating trials of ${s.timing.steps} steps.`,
      figure: barChart({
        title: "Cost of per-example statistics",
        yLabel: "ms per step",
        bars: REQUESTS.map(({ name }) => ({ label: name, values: [timing[name]] })),
      }),
    },
  ];
  const at = (k: number) => readings[Math.min(readings.length - 1, Math.max(0, k))];
  const marks = [...new Set([0, Math.floor(readings.length / 2), readings.length - 1])].map(at).filter(
    Boolean,
  );
  const [runWith, runWithout] = data.stepMsInRun;
  const content: ExperimentReport = {
    title: "Gradient noise scale and block GSNR from per-example statistics",
    notes: [
      `Moby Dick bytes, ${
        JSON.stringify(experimentModel(mode))
      }; Adam (lr 3e-3), B = ${s.batch}, ${s.steps} steps, ` +
      `statistics read every ${s.every} steps on that step's batch.`,
      `Training step time (median over reading intervals after the first, from the log's time stamps) with the ` +
      `statistics logged every ${s.every} steps: ${fmt(runWith, 1)} ms, without: ${fmt(runWithout, 1)} ms ` +
      `(×${
        fmt(runWith / runWithout, 2)
      }; the logged statistics take an extra forward+backward pass on reading ` +
      "steps so that the update is unchanged). The machine is shared, so timings vary from run to run.",
    ],
    tables: [
      {
        title: "Noise over training",
        header: [
          "step",
          "loss",
          "B_simple (debiased)",
          "tr Σ̂/‖ḡ‖²",
          "median block GSNR",
          "max/min example norm",
        ],
        rows: marks.map((r) => [
          String(r.step),
          fmt(r.loss),
          fmt(r.noise.noiseScale, 1),
          fmt(r.noise.noiseScaleBiased, 1),
          fmt(median(Object.values(r.noise.gsnr)), 4),
          r.exampleNorms.length ? fmt(Math.max(...r.exampleNorms) / Math.min(...r.exampleNorms), 2) : "-",
        ]),
      },
      {
        title: "Cost of the statistics (forward + backward)",
        header: ["request", "ms/step", "× plain"],
        rows: REQUESTS.map(({ name }) => [name, fmt(timing[name], 1), fmt(timing[name] / timing.plain, 2)]),
      },
    ],
    figures,
    results: {
      experiment: "noise_scale",
      mode,
      readings: readings.map((r) => ({ step: r.step, loss: r.loss, ...r.noise })),
      stepMs: timing,
      stepCostRatio: Object.fromEntries(REQUESTS.map(({ name }) => [name, timing[name] / timing.plain])),
      stepMsInRun: { withStats: runWith, without: runWithout },
    },
  };
  return await writeExperimentReport(out, content, { quiet });
}

if (import.meta.main) {
  await noiseScaleExperiment(parseExperimentArgs(Deno.args, "noise_scale"));
}
