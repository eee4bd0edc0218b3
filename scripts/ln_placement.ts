/**
 * LayerNorm placement and gradient heterogeneity (Tomihari & Sato 2025): matched Pre-LN,
 * Post-LN and no-LN causal transformers, otherwise identical (same width, depth, data, seeds),
 * trained as byte-level language models on Moby Dick with SGD (momentum 0.9) and Adam, each
 * at its best learning rate from a small grid, 3 seeds.
 *
 * Measured, per placement:
 * - heterogeneity of the per-block gradient norms ‖g_b‖ at initialisation (several init seeds
 *   × batches): max/min ratio and coefficient of variation over all blocks, and over the
 *   matrices only (linear weights and embeddings, the blocks all three models share);
 * - the same max/min ratio during training, from the per-block norms every run logs;
 * - the SGD-vs-Adam gap: final training loss of SGD minus that of Adam.
 *
 * The claim checked: Post-LN is the most heterogeneous and has the largest gap.
 *
 * Run: `deno run --allow-read --allow-write --allow-env scripts/ln_placement.ts [--smoke | --full] [--out DIR]`
 *
 * @module
 */

import { getDevice, type Gpu } from "../src/gpu/device.ts";
import { type NormPlacement } from "../src/nn/config.ts";
import { type ParamLayout, transformerLayout } from "../src/nn/layout.ts";
import { meanStd } from "../src/plot/aggregate.ts";
import { barChart } from "../src/plot/bar_chart.ts";
import { lineChart } from "../src/plot/line_chart.ts";
import { formatMeanStd } from "../src/plot/report_table.ts";
import { coefficientOfVariation, gradientHeterogeneity, maxMinRatio } from "../src/stats/heterogeneity.ts";
import { readJsonl } from "../src/train/log.ts";
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
import { probeGradient, probeModel } from "../src/experiments/probe.ts";
import {
  formatTunedTable,
  overSeeds,
  tuneAndRepeat,
  type TunedOptimizer,
} from "../src/experiments/tuned_runs.ts";

const PLACEMENTS: readonly NormPlacement[] = ["pre", "post", "none"];

/** The run config of one placement (without seed and optimizer). */
function baseConfig(size: ExperimentSize, norm: NormPlacement): Record<string, unknown> {
  return {
    model: {
      dModel: bySize(size, { smoke: 16, default: 32, full: 128 }),
      nHeads: 2,
      nLayers: bySize(size, { smoke: 1, default: 3, full: 6 }),
      dMlp: bySize(size, { smoke: 32, default: 128, full: 512 }),
      seqLen: bySize(size, { smoke: 8, default: 16, full: 64 }),
      norm,
      causal: true,
      input: { kind: "tokens", vocabSize: 256 },
      head: { kind: "lm", tied: false },
    },
    data: {
      dataset: "moby_dick",
      tokenizer: "bytes",
      batch_size: bySize(size, { smoke: 4, default: 16, full: 32 }),
    },
    steps: bySize(size, { smoke: 3, default: 80, full: 2000 }),
    metrics_every: bySize(size, { smoke: 1, default: 10, full: 50 }),
    eval_every: 0,
    eval_batches: bySize(size, { smoke: 1, default: 8, full: 32 }),
    checkpoint_every: 0,
  };
}

function choices(size: ExperimentSize) {
  const grid = (lrs: number[]) => (size === "smoke" ? [lrs[1]] : lrs);
  return [
    { label: "sgd_momentum", optimizer: { name: "sgd", momentum: 0.9 }, lrs: grid([0.03, 0.1, 0.3]) },
    { label: "adam", optimizer: { name: "adam" }, lrs: grid([1e-3, 3e-3, 1e-2]) },
  ];
}

/** The linear weights and embeddings: the blocks every placement has. */
function matrixBlocks(layout: ParamLayout) {
  return layout.blocks.filter((b) => b.kind === "weight" || b.kind === "embedding");
}

/** `[start, end)` ranges of {@linkcode matrixBlocks}. */
function matrixRanges(layout: ParamLayout): [number, number][] {
  return matrixBlocks(layout).map((b) => [b.offset, b.offset + b.size]);
}

/** Heterogeneity samples at initialisation: one per (init seed, batch). */
interface InitSamples {
  maxMin: number[];
  cv: number[];
  maxMinMatrices: number[];
}

async function initHeterogeneity(gpu: Gpu, size: ExperimentSize, norm: NormPlacement): Promise<InitSamples> {
  const samples: InitSamples = { maxMin: [], cv: [], maxMinMatrices: [] };
  for (let seed = 0; seed < bySize(size, { smoke: 1, default: 4, full: 8 }); seed++) {
    const probe = await probeModel(gpu, {
      ...baseConfig(size, norm),
      seed,
      optimizer: { name: "sgd", lr: 0 },
    });
    try {
      for (let batch = 0; batch < bySize(size, { smoke: 1, default: 4, full: 8 }); batch++) {
        const grad = await probeGradient(probe);
        const h = gradientHeterogeneity(grad, probe.model.layout);
        samples.maxMin.push(h.maxMinRatio);
        samples.cv.push(h.coefficientOfVariation);
        samples.maxMinMatrices.push(
          gradientHeterogeneity(grad, matrixRanges(probe.model.layout)).maxMinRatio,
        );
      }
    } finally {
      probe.destroy();
    }
  }
  return samples;
}

/** A heterogeneity metric of a list of block norms. */
type Metric = (norms: number[]) => number;

/** A run's `metric` of its logged block norms (all blocks, or those in `only`), per reading. */
async function loggedMetric(dir: string, metric: Metric, only: Set<string> | null = null) {
  const rows = (await readJsonl(`${dir}/log.jsonl`)).filter((r) => r.kind === "train" && r.grad_norm);
  const value = (norms: Record<string, number>) =>
    metric(Object.entries(norms).filter(([name]) => !only || only.has(name)).map(([, v]) => v));
  return {
    x: rows.map((r) => r.step as number),
    y: rows.map((r) => value(r.grad_norm as Record<string, number>)),
  };
}

/** Mean over a run's readings of `metric`, then mean ± std over seeds. */
async function trainingMetric(tuned: TunedOptimizer, metric: Metric, only: Set<string> | null = null) {
  const perRun = await Promise.all(
    tuned.runs.map(async (r) => meanStd((await loggedMetric(r.dir, metric, only)).y).mean),
  );
  return meanStd(perRun);
}

/** Legend names of the optimizers. */
const SHORT: Record<string, string> = { sgd_momentum: "SGD+mom", adam: "Adam" };

interface PlacementResult {
  norm: NormPlacement;
  init: InitSamples;
  tuned: TunedOptimizer[];
  matrices: Set<string>;
}

/** SGD's final loss minus Adam's, mean over seeds (+∞ when an SGD seed diverged). */
function gap(p: PlacementResult): number {
  const [sgd, adam] = p.tuned.map((t) => overSeeds(t.runs, (r) => r.finalLoss).mean);
  return sgd - adam;
}

async function figures(out: string, results: PlacementResult[]): Promise<string[]> {
  // The coefficient of variation, not max/min: one near-zero block (a bias) swings max/min by decades.
  const init = barChart({
    title: "Gradient heterogeneity at initialisation",
    xLabel: "LayerNorm placement",
    yLabel: "coefficient of variation of ‖g_b‖ over blocks",
    bars: results.map((p) => ({ label: `${p.norm}-LN`, values: p.init.cv })),
  });
  const series = await Promise.all(results.flatMap((p) =>
    p.tuned.map(async (t) =>
      bandSeries(
        `${p.norm}-LN ${SHORT[t.label]}`,
        await Promise.all(t.runs.map((r) => loggedMetric(r.dir, coefficientOfVariation))),
      )
    )
  ));
  const during = lineChart({
    title: "Gradient heterogeneity during training",
    xLabel: "step",
    yLabel: "coefficient of variation of ‖g_b‖ over blocks",
    series,
  });
  const losses = barChart({
    title: "Final training loss: SGD (momentum) vs Adam at tuned learning rates",
    xLabel: "placement and optimizer",
    yLabel: "final training loss (window mean)",
    zero: false,
    bars: results.flatMap((p) =>
      p.tuned.map((t) => ({
        label: `${p.norm} ${SHORT[t.label]}`,
        values: t.runs.map((r) => r.finalLoss),
      }))
    ),
  });
  return [
    await saveFigure(out, "ln_heterogeneity_init", init),
    await saveFigure(out, "ln_heterogeneity_training", during),
    await saveFigure(out, "ln_gap", losses),
  ];
}

/**
 * Runs the experiment and returns its figures, report directories and summary path.
 *
 * @example
 * ```ts ignore
 * const result = await main({ size: "smoke", out: "/tmp/ln_placement" });
 * ```
 */
export async function main(args: ExperimentArgs): Promise<ExperimentResult> {
  const gpu = await getDevice();
  const seeds = bySize(args.size, { smoke: [0], default: [0, 1, 2], full: [0, 1, 2] });
  const results: PlacementResult[] = [];
  try {
    for (const norm of PLACEMENTS) {
      console.log(`\n${norm}-LN`);
      const init = await initHeterogeneity(gpu, args.size, norm);
      const base = baseConfig(args.size, norm);
      const tuned = await tuneAndRepeat(base, choices(args.size), {
        out: `${args.out}/${norm}`,
        seeds,
        gpu,
        extend: args.size === "smoke" ? 0 : 2,
      });
      const layout = transformerLayout(base.model as never);
      const matrices = new Set(matrixBlocks(layout).map((b) => b.name));
      results.push({ norm, init, tuned, matrices });
      console.log(formatTunedTable(tuned));
    }
  } finally {
    gpu.destroy();
  }
  const rows = await Promise.all(results.map(async (p) => ({
    placement: p.norm,
    init_max_min: meanStd(p.init.maxMin),
    init_max_min_matrices: meanStd(p.init.maxMinMatrices),
    init_cv: meanStd(p.init.cv),
    training_max_min_sgd: await trainingMetric(p.tuned[0], maxMinRatio),
    training_max_min_matrices_sgd: await trainingMetric(p.tuned[0], maxMinRatio, p.matrices),
    training_cv_sgd: await trainingMetric(p.tuned[0], coefficientOfVariation),
    training_max_min_adam: await trainingMetric(p.tuned[1], maxMinRatio),
    training_cv_adam: await trainingMetric(p.tuned[1], coefficientOfVariation),
    sgd: { lr: p.tuned[0].lr, final_loss: overSeeds(p.tuned[0].runs, (r) => r.finalLoss) },
    adam: { lr: p.tuned[1].lr, final_loss: overSeeds(p.tuned[1].runs, (r) => r.finalLoss) },
    gap_sgd_minus_adam: gap(p),
  })));
  console.log(
    `\nLayerNorm placement: heterogeneity (mean ± std) and the SGD − Adam gap (${seeds.length} seeds)`,
  );
  console.log(formatTable(
    [
      "placement",
      "init max/min",
      "init max/min (matrices)",
      "init CV",
      "train max/min (sgd)",
      "train max/min (matrices, sgd)",
      "train CV (sgd)",
      "sgd loss",
      "adam loss",
      "gap",
    ],
    rows.map((r) => [
      `${r.placement}-LN`,
      formatMeanStd(r.init_max_min),
      formatMeanStd(r.init_max_min_matrices),
      formatMeanStd(r.init_cv),
      formatMeanStd(r.training_max_min_sgd),
      formatMeanStd(r.training_max_min_matrices_sgd),
      formatMeanStd(r.training_cv_sgd),
      formatMeanStd(r.sgd.final_loss),
      formatMeanStd(r.adam.final_loss),
      r.gap_sgd_minus_adam.toFixed(3),
    ]),
  ));
  const figs = await figures(args.out, results);
  const summary = await writeSummary(args.out, {
    experiment: "ln_placement",
    size: args.size,
    seeds,
    placements: rows,
  });
  return {
    name: "ln_placement",
    figures: figs,
    reportDirs: PLACEMENTS.map((norm) => `${args.out}/${norm}/final`),
    summary,
  };
}

if (import.meta.main) await main(experimentArgs("ln_placement"));
