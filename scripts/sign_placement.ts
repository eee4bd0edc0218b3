/**
 * Where to put the sign (Roulet & Agarwala 2025, §4): four sign placements on Moby Dick bytes,
 * each with its learning rate tuned on a small grid (seed 0) and then run on three seeds, and
 * the signal-to-noise argument that orders them: for a coordinate with SNR r = |μ|/σ, the sign
 * of an average of n examples agrees with sign(μ) on average by erf(r·√n/√2). The script
 * measures r per coordinate (at initialisation and on a trained model, from the model's
 * per-example statistics over many batches), measures the mean sign of n-example averages on
 * other batches, and sets one against the other per block and per r bin.
 *
 * Placements, by how many examples are averaged before the sign (n):
 * - meanSignSgd: sign of each example, then the batch mean (n = 1);
 * - meanSignEma: EMA of the batch mean of per-example signs (n = 1);
 * - signSgd: sign of the batch mean (n = B);
 * - signum: EMA of the batch mean, then the sign (n ≈ B·(1 + β)/(1 − β) for a stationary mean).
 *
 * Run: `deno run --allow-read --allow-write=results --allow-env scripts/sign_placement.ts`
 * (`--smoke` for a few steps, `--full` for GPU scale, `--out DIR`). Results in
 * `results/sign_placement/`: run folders, `results.json`, `figures/`, `report.html`.
 *
 * @module
 */

import { barChart, initParams, lineChart, meanBand, scatterPlot, transformerLayout } from "../mod.ts";
import { logEdges, modelNoise, seedStats } from "../src/experiments/per_example_math.ts";
import { GradientProbe, type ProbeSums } from "../src/experiments/per_example_probe.ts";
import {
  type ExperimentReport,
  type NamedFigure,
  type ReportPaths,
  writeExperimentReport,
} from "../src/experiments/per_example_report.ts";
import {
  blockSizes,
  DIVERGED_LOSS,
  type ExperimentMode,
  experimentModel,
  type ExperimentOptions,
  experimentRun,
  fmt,
  parseExperimentArgs,
  readFinalParams,
  readTrainLog,
  runCurves,
  withGpu,
} from "../src/experiments/per_example_setup.ts";
import {
  type AlignmentCheck,
  alignmentCheck,
  meanPredictedAlignment,
  type SignMeasurement,
} from "../src/experiments/per_example_signs.ts";
import { type TunedVariant, tuneThenSeed, type Variant } from "../src/experiments/per_example_tuning.ts";
import type { Gpu } from "../src/gpu/device.ts";

const BETA = 0.9;

/** The sizes of each mode: training runs, and the probe's draws. */
const SIZES: Record<ExperimentMode, {
  batch: number;
  steps: number;
  seeds: number[];
  signLrs: number[];
  meanSignLrs: number[];
  probe: { n: number; reference: number; draws: number; small: { n: number; draws: number }[] };
}> = {
  smoke: {
    batch: 4,
    steps: 4,
    seeds: [0],
    signLrs: [1e-3],
    meanSignLrs: [3e-3],
    probe: { n: 4, reference: 2, draws: 2, small: [{ n: 2, draws: 2 }] },
  },
  default: {
    batch: 16,
    steps: 100,
    seeds: [0, 1, 2],
    signLrs: [1e-3, 3e-3, 1e-2],
    meanSignLrs: [3e-3, 1e-2, 3e-2],
    probe: { n: 32, reference: 24, draws: 16, small: [{ n: 2, draws: 64 }, { n: 8, draws: 32 }] },
  },
  full: {
    batch: 32,
    steps: 2000,
    seeds: [0, 1, 2],
    signLrs: [1e-4, 3e-4, 1e-3, 3e-3],
    meanSignLrs: [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
    probe: { n: 64, reference: 64, draws: 32, small: [{ n: 2, draws: 256 }, { n: 8, draws: 128 }] },
  },
};

/** Each placement: its optimizer and the number of examples averaged before the sign. */
function placements(mode: ExperimentMode): (Variant & { label: string; nBeforeSign: number })[] {
  const s = SIZES[mode], B = s.batch;
  return [
    {
      name: "meanSignSgd",
      label: "sign → mean",
      optimizer: { name: "meanSignSgd" },
      lrs: s.meanSignLrs,
      nBeforeSign: 1,
    },
    {
      name: "meanSignEma",
      label: "sign → mean → EMA",
      optimizer: { name: "meanSignEma", beta: BETA },
      lrs: s.meanSignLrs,
      nBeforeSign: 1,
    },
    { name: "signSgd", label: "mean → sign", optimizer: { name: "signSgd" }, lrs: s.signLrs, nBeforeSign: B },
    {
      name: "signum",
      label: "mean → EMA → sign",
      optimizer: { name: "signum", beta: BETA },
      lrs: s.signLrs,
      nBeforeSign: (B * (1 + BETA)) / (1 - BETA),
    },
  ];
}

/** The sign check at one set of parameters: reference SNRs, then measured signs for several n. */
async function probeSigns(
  gpu: Gpu,
  mode: ExperimentMode,
  params: Float32Array,
  seed: number,
): Promise<AlignmentCheck> {
  const model = experimentModel(mode), p = SIZES[mode].probe;
  const big = await GradientProbe.create(gpu, model, { n: p.n, seed: 1000 + seed, params });
  let reference: ProbeSums, measured: ProbeSums;
  try {
    reference = await big.measure(p.reference, { perExample: true });
    measured = await big.measure(p.draws, { perExample: true });
  } finally {
    big.destroy();
  }
  const measurements: SignMeasurement[] = [
    { n: 1, signSum: measured.exampleSign!, draws: measured.draws * measured.n },
    { n: p.n, signSum: measured.meanSign, draws: measured.draws },
  ];
  for (const { n, draws } of p.small) {
    const probe = await GradientProbe.create(gpu, model, { n, seed: 2000 + seed + n, params });
    try {
      const sums = await probe.measure(draws, { perExample: false });
      measurements.push({ n, signSum: sums.meanSign, draws });
    } finally {
      probe.destroy();
    }
  }
  measurements.sort((a, b) => a.n - b.n);
  return alignmentCheck(
    { sum: reference.sum, sumSq: reference.sumSq!, count: reference.draws * reference.n },
    measurements,
    transformerLayout(model).blocks.map((b) => ({ ...b, sparse: b.name.startsWith("embed.tokens") })),
    logEdges(1e-3, 10, 13),
  );
}

/** Quantiles of the finite SNRs. */
function snrQuantiles(snr: Float64Array): Record<string, number> {
  const values = Array.from(snr).filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number) => values[Math.min(values.length - 1, Math.floor(p * values.length))] ?? NaN;
  return {
    p10: q(0.1),
    p50: q(0.5),
    p90: q(0.9),
    zero: values.filter((v) => v === 0).length / values.length,
  };
}

/** Block-level SNR √(‖ḡ‖²/tr Σ̂) over training, from a run's logged `sum_sq_mean` and `grad_norm`. */
async function blockSnrCurves(
  dir: string,
  mode: ExperimentMode,
): Promise<Map<string, { x: number[]; y: number[] }>> {
  const sizes = blockSizes(experimentModel(mode));
  const curves = new Map<string, { x: number[]; y: number[] }>();
  for (const line of (await readTrainLog(dir)).filter((l) => l.kind === "train" && l.sum_sq_mean)) {
    const noise = modelNoise(
      sizes,
      line.sum_sq_mean as Record<string, number>,
      line.grad_norm as Record<string, number>,
      SIZES[mode].batch,
    );
    for (const [block, gsnr] of Object.entries(noise.gsnr)) {
      const c = curves.get(block) ?? { x: [], y: [] };
      c.x.push(Number(line.step));
      c.y.push(Math.sqrt(gsnr));
      curves.set(block, c);
    }
  }
  return curves;
}

const PAIR_COLORS = [
  ["#4e79a7", "#a0cbe8"],
  ["#f28e2b", "#ffbe7d"],
  ["#59a14f", "#8cd17d"],
  ["#e15759", "#ff9d9a"],
  ["#b07aa1", "#d4a6c8"],
];

function alignmentFigures(check: AlignmentCheck, where: string, slug: string): NamedFigure[] {
  const series = check.binned.flatMap((b, i) => [
    { name: `measured n=${b.n}`, x: b.r, y: b.measured, color: PAIR_COLORS[i % 5][0] },
    { name: `erf(r√n/√2) n=${b.n}`, x: b.r, y: b.predicted, color: PAIR_COLORS[i % 5][1] },
  ]);
  const points = check.blocks.map((b) => ({
    x: b.predicted,
    y: b.measured,
    group: b.block.startsWith("embed.tokens") ? "token embedding (sparse)" : `n=${b.n}`,
  }));
  return [
    {
      slug: `alignment_binned_${slug}`,
      caption: `${where}: mean of sign(ḡ_n)·sign(μ) over coordinates binned by their SNR r (measured on ` +
        `independent batches), against the prediction erf(r·√n/√2), for averages of n examples.`,
      figure: lineChart({
        title: `Sign alignment vs SNR (${where})`,
        xLabel: "per-coordinate SNR r = |μ|/σ",
        yLabel: "E[sign(ḡ_n)]·sign(μ)",
        xLog: true,
        series,
      }),
    },
    {
      slug: `alignment_blocks_${slug}`,
      caption: `${where}: one point per parameter block and n: measured mean sign alignment against the ` +
        `block mean of erf(r·√n/√2). Points on the diagonal agree with the prediction.`,
      figure: scatterPlot({
        title: `Predicted vs measured sign alignment per block (${where})`,
        xLabel: "predicted (block mean of erf(r√n/√2))",
        yLabel: "measured",
        points: [
          ...points,
          ...[0, 0.25, 0.5, 0.75, 1].map((v) => ({ x: v, y: v, group: "y = x" })),
        ],
      }),
    },
  ];
}

/**
 * Runs the experiment and writes its report.
 *
 * @example
 * ```ts ignore
 * await signPlacementExperiment({ mode: "smoke", out: "/tmp/sign_placement" });
 * ```
 */
export async function signPlacementExperiment(options: ExperimentOptions): Promise<ReportPaths> {
  const { mode, out, quiet } = options;
  const s = SIZES[mode], variants = placements(mode);
  return await withGpu(options, async (gpu) => {
    if (!quiet) console.log(`sign placement (${mode}): ${variants.length} placements, results in ${out}/`);
    const tuned = await tuneThenSeed(gpu, variants, {
      out,
      seeds: s.seeds,
      quiet,
      config: (optimizer, seed) => ({
        ...experimentRun(mode, { batch: s.batch, steps: s.steps, optimizer, seed }),
        log_stats: ["sum_sq", "sign_agreement"],
      }),
    });
    const bestSeed0 = tuned.reduce((a, b) => (b.runs[0].finalLoss < a.runs[0].finalLoss ? b : a));
    if (!quiet) console.log(`probing signs at initialisation and on the trained ${bestSeed0.name} model`);
    const model = experimentModel(mode);
    const initial = initParams(model, transformerLayout(model), 0);
    const atInit = await probeSigns(gpu, mode, initial, 0);
    const trainedParams = await readFinalParams(bestSeed0.runs[0].dir, model);
    const trained = await probeSigns(gpu, mode, trainedParams, 1);
    return await report(out, mode, tuned, variants, { atInit, trained, trainedFrom: bestSeed0 }, quiet);
  });
}

async function report(
  out: string,
  mode: ExperimentMode,
  tuned: TunedVariant[],
  variants: ReturnType<typeof placements>,
  probes: { atInit: AlignmentCheck; trained: AlignmentCheck; trainedFrom: TunedVariant },
  quiet?: boolean,
): Promise<ReportPaths> {
  const rows = tuned.map((t, i) => {
    const finals = seedStats(t.runs.map((r) => r.finalLoss));
    const evals = seedStats(t.runs.map((r) => r.evalLoss));
    return {
      placement: t.name,
      label: variants[i].label,
      lr: t.lr,
      lrAtGridEdge: t.edge,
      grid: t.grid,
      finalLoss: finals,
      evalLoss: evals,
      seeds: t.runs.length,
      diverged: t.runs.filter((r) => r.summary.status === "diverged").length,
      nBeforeSign: variants[i].nBeforeSign,
      predictedAlignment: meanPredictedAlignment(probes.trained.denseSnr, variants[i].nBeforeSign),
    };
  });
  const byLoss = [...rows].sort((a, b) => a.finalLoss.mean - b.finalLoss.mean).map((r) => r.placement);
  const byPredicted = [...rows].sort((a, b) => b.predictedAlignment - a.predictedAlignment);
  const byPrediction = byPredicted.map((r) => r.placement);
  // Placements with the same n before the sign have the same prediction: a tie, written "=".
  const predictionText = byPredicted.map((r, i) =>
    i === 0
      ? r.placement
      : `${byPredicted[i - 1].predictedAlignment === r.predictedAlignment ? "=" : ">"} ${r.placement}`
  ).join(" ");
  const curves = await Promise.all(
    tuned.map((t) => runCurves(t.runs.map((r) => r.dir), { max: DIVERGED_LOSS })),
  );
  const snrCurves = await blockSnrCurves(probes.trainedFrom.runs[0].dir, mode);
  const figures: NamedFigure[] = [
    {
      slug: "loss_curves",
      caption:
        "Training loss (mean over each reading window) per sign placement at its tuned learning rate; " +
        "band: mean ± std over seeds.",
      figure: lineChart({
        title: "Sign placement: training loss",
        xLabel: "step",
        yLabel: "training loss (nats/byte)",
        series: tuned.map((t, i) => ({
          name: t.name,
          ...meanBand(curves[i]),
        })),
      }),
    },
    {
      slug: "final_loss",
      caption: "Final training loss (last 10% of steps) per placement, mean ± std over seeds, dots per seed.",
      figure: barChart({
        title: "Sign placement: final loss",
        yLabel: "final training loss",
        zero: false,
        bars: tuned.map((t) => ({ label: t.name, values: t.runs.map((r) => r.finalLoss) })),
      }),
    },
    {
      slug: "lr_grid",
      caption: "Learning-rate grid (seed 0): final training loss against the learning rate per placement.",
      figure: lineChart({
        title: "Sign placement: learning-rate grid",
        xLabel: "learning rate",
        yLabel: "final training loss",
        xLog: true,
        series: tuned.map((t) => ({
          name: t.name,
          x: t.grid.map((g) => g.lr),
          y: t.grid.map((g) => (Number.isFinite(g.finalLoss) ? g.finalLoss : NaN)),
        })),
      }),
    },
    ...alignmentFigures(probes.trained, `trained ${probes.trainedFrom.name}`, "trained"),
    ...alignmentFigures(probes.atInit, "initialisation", "init"),
    {
      slug: "block_snr_training",
      caption: `Block-level SNR √(‖ḡ‖²/tr Σ̂) of the weight matrices and embeddings over training ` +
        `(${probes.trainedFrom.name}, seed 0), from the ` +
        "logged per-example sum of squares and the batch gradient norm of each block.",
      figure: lineChart({
        title: "Block SNR during training",
        xLabel: "step",
        yLabel: "√(‖ḡ‖² / tr Σ̂)",
        yLog: true,
        series: [...snrCurves].filter(([block]) => block.endsWith(".weight") && !/ln/.test(block))
          .map(([block, c]) => ({ name: block, ...c })),
      }),
    },
  ];
  const alignmentRows = (check: AlignmentCheck, where: string) =>
    check.binned.map((b) => {
      const total = b.count.reduce((x, y) => x + y, 0);
      const avg = (v: number[]) => v.reduce((x, y, k) => x + y * b.count[k], 0) / total;
      const mae = b.measured.reduce((x, m, k) => x + Math.abs(m - b.predicted[k]) * b.count[k], 0) / total;
      return [where, String(b.n), fmt(avg(b.measured)), fmt(avg(b.predicted)), fmt(mae), String(total)];
    });
  const alignmentSummary = (check: AlignmentCheck) =>
    check.binned.map((b) => {
      const total = b.count.reduce((x, y) => x + y, 0);
      const avg = (v: number[]) => v.reduce((x, y, k) => x + y * b.count[k], 0) / total;
      return { n: b.n, measured: avg(b.measured), predicted: avg(b.predicted), coords: total };
    });
  const content: ExperimentReport = {
    title: "Sign placement: sign of examples, of the batch mean, or of the EMA",
    notes: [
      `Moby Dick bytes, ${JSON.stringify(experimentModel(mode))}; B = ${SIZES[mode].batch}, ` +
      `${
        SIZES[mode].steps
      } steps, constant learning rate tuned per placement on seed 0 over the grid shown, then ` +
      `${
        SIZES[mode].seeds.length
      } seeds at that rate. Final loss = mean training loss over the last 10% of steps.`,
      "Claim (Roulet & Agarwala 2025): the later the sign is applied in the gradient processing chain, the better; " +
      "the SNR argument E[sign(ḡ_n)]·sign(μ) = erf(r√n/√2) orders the placements by the number n of examples " +
      "averaged before the sign.",
      `Ranking by final loss (best first): ${byLoss.join(" < ")}. ` +
      `Ranking by the predicted alignment at the trained model: ${predictionText}.`,
      "The per-coordinate SNR r is measured on one set of batches (debiased: r² = max(μ̂² − σ̂²/N, 0)/σ̂²) and " +
      "the signs on independent batches, so the measured alignment is not biased towards the reference.",
    ],
    tables: [
      {
        title: "Sign placement: tuned learning rate and final loss",
        header: [
          "placement",
          "chain",
          "lr",
          "final loss",
          "eval loss",
          "seeds",
          "n before sign",
          "pred. alignment",
        ],
        rows: rows.map((r) => [
          r.placement,
          r.label,
          `${r.lr}${r.lrAtGridEdge ? " (edge)" : ""}`,
          `${fmt(r.finalLoss.mean)} ± ${fmt(r.finalLoss.std)}`,
          `${fmt(r.evalLoss.mean)} ± ${fmt(r.evalLoss.std)}`,
          `${r.seeds}${r.diverged ? ` (${r.diverged} diverged)` : ""}`,
          fmt(r.nBeforeSign, 0),
          fmt(r.predictedAlignment),
        ]),
      },
      {
        title: "Sign alignment: measured vs predicted, coordinate means over r bins",
        header: ["model", "n", "measured", "predicted", "mean |meas − pred| per bin", "coords"],
        rows: [...alignmentRows(probes.atInit, "init"), ...alignmentRows(probes.trained, "trained")],
      },
    ],
    figures,
    results: {
      experiment: "sign_placement",
      mode,
      placements: rows,
      rankingByLoss: byLoss,
      rankingByPrediction: byPrediction,
      snr: { init: snrQuantiles(probes.atInit.denseSnr), trained: snrQuantiles(probes.trained.denseSnr) },
      alignment: {
        init: { summary: alignmentSummary(probes.atInit), blocks: probes.atInit.blocks },
        trained: {
          from: probes.trainedFrom.runs[0].dir,
          summary: alignmentSummary(probes.trained),
          blocks: probes.trained.blocks,
        },
      },
    },
  };
  return await writeExperimentReport(out, content, { quiet });
}

if (import.meta.main) {
  await signPlacementExperiment(parseExperimentArgs(Deno.args, "sign_placement"));
}
