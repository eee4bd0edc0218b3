/**
 * Learning rate against batch size: Adam and MicroAdam at several batch sizes B, each with the
 * learning rate scaled from a base rate at B₀ by the square-root rule η₀·√(B/B₀), the linear rule
 * η₀·B/B₀, or kept constant, all trained on the same number of examples. A rule that transfers
 * the learning rate well makes the loss curves against examples seen collapse onto one; the
 * collapse score is the mean, over the readings every batch size shares, of the standard
 * deviation of the loss across batch sizes (lower is better).
 *
 * Claim (Roulet & Agarwala 2025): the square-root rule collapses Adam's curves best.
 *
 * Run: `deno run --allow-read --allow-write=results --allow-env scripts/lr_scaling.ts`
 * (`--smoke`, `--full`, `--out DIR`). Results in `results/lr_scaling/`.
 *
 * @module
 */

import { barChart, batchScale, type BatchScaling, lineChart } from "../mod.ts";
import { collapseScore } from "../src/experiments/per_example_math.ts";
import {
  type ExperimentReport,
  type NamedFigure,
  type ReportPaths,
  writeExperimentReport,
} from "../src/experiments/per_example_report.ts";
import {
  DIVERGED_LOSS,
  type ExperimentMode,
  experimentModel,
  type ExperimentOptions,
  experimentRun,
  fmt,
  parseExperimentArgs,
  runCurves,
  runOne,
  type RunResult,
  withGpu,
} from "../src/experiments/per_example_setup.ts";

const SIZES: Record<ExperimentMode, {
  batches: number[];
  base: number;
  examples: number;
  window: number;
  lr: Record<Optimizer, number>;
}> = {
  smoke: { batches: [4, 8], base: 4, examples: 16, window: 8, lr: { adam: 3e-3, microAdam: 1e-2 } },
  default: {
    batches: [8, 32, 128],
    base: 32,
    examples: 4096,
    window: 256,
    lr: { adam: 3e-3, microAdam: 1e-2 },
  },
  full: {
    batches: [8, 16, 32, 64, 128],
    base: 32,
    examples: 131072,
    window: 2048,
    lr: { adam: 1e-3, microAdam: 3e-3 },
  },
};

type Optimizer = "adam" | "microAdam";
const OPTIMIZERS: Optimizer[] = ["adam", "microAdam"];
const RULES: { name: string; rule: BatchScaling }[] = [
  { name: "constant", rule: 0 },
  { name: "sqrt", rule: "sqrt" },
  { name: "linear", rule: "linear" },
];

/**
 * Runs the experiment and writes its report.
 *
 * @example
 * ```ts ignore
 * await lrScalingExperiment({ mode: "smoke", out: "/tmp/lr_scaling" });
 * ```
 */
export async function lrScalingExperiment(options: ExperimentOptions): Promise<ReportPaths> {
  const { mode, out, quiet } = options, s = SIZES[mode];
  return await withGpu(options, async (gpu) => {
    if (!quiet) {
      console.log(
        `LR scaling (${mode}): B ∈ {${s.batches.join(", ")}}, B₀ = ${s.base}, ${s.examples} examples each`,
      );
    }
    // One run per (optimizer, batch size, learning rate): at B₀ every rule gives the base rate.
    const done = new Map<string, RunResult>();
    const results: { optimizer: Optimizer; rule: string; batch: number; lr: number; run: RunResult }[] = [];
    for (const optimizer of OPTIMIZERS) {
      for (const { name, rule } of RULES) {
        for (const batch of s.batches) {
          const lr = Number((s.lr[optimizer] * batchScale(batch, s.base, rule)).toPrecision(6));
          const dir = `${out}/runs/${optimizer}/B=${batch},lr=${lr}`;
          let run = done.get(dir);
          if (!run) {
            const steps = Math.round(s.examples / batch);
            const config = {
              ...experimentRun(mode, { batch, steps, optimizer: { name: optimizer, lr } }),
              metrics_every: Math.max(1, Math.round(s.window / batch)),
              eval_batches: Math.max(1, Math.round((2 * s.window) / batch)),
            };
            run = await runOne(gpu, config, dir, quiet);
            done.set(dir, run);
          }
          results.push({ optimizer, rule: name, batch, lr, run });
        }
      }
    }
    return await report(out, mode, results, quiet);
  });
}

async function report(
  out: string,
  mode: ExperimentMode,
  results: { optimizer: Optimizer; rule: string; batch: number; lr: number; run: RunResult }[],
  quiet?: boolean,
): Promise<ReportPaths> {
  const s = SIZES[mode];
  const scores: {
    optimizer: Optimizer;
    rule: string;
    collapse: number;
    lateCollapse: number;
    finalSpread: number;
    finals: Record<number, number>;
    lrs: Record<number, number>;
  }[] = [];
  const figures: NamedFigure[] = [];
  for (const optimizer of OPTIMIZERS) {
    for (const { name } of RULES) {
      const group = results.filter((r) => r.optimizer === optimizer && r.rule === name);
      const curves = await Promise.all(group.map(async (r) => {
        const [curve] = await runCurves([r.run.dir], { xPerStep: r.batch });
        // A diverged run makes its rule's collapse score +∞.
        if (r.run.summary.status === "diverged") curve.y = curve.y.map(() => Infinity);
        return curve;
      }));
      const finals = group.map((r) => r.run.finalLoss);
      scores.push({
        optimizer,
        rule: name,
        collapse: collapseScore(curves, s.window),
        lateCollapse: collapseScore(curves, s.examples / 2 - 1),
        finalSpread: finals.every(Number.isFinite) ? Math.max(...finals) - Math.min(...finals) : Infinity,
        finals: Object.fromEntries(group.map((r) => [r.batch, r.run.finalLoss])),
        lrs: Object.fromEntries(group.map((r) => [r.batch, r.lr])),
      });
      figures.push({
        slug: `curves_${optimizer}_${name}`,
        caption: `${optimizer}, ${name} rule: training loss against examples seen for each batch size ` +
          `(learning rate ${name === "constant" ? "kept at" : `scaled from`} ${
            s.lr[optimizer]
          } at B₀ = ${s.base}).`,
        figure: lineChart({
          title: `${optimizer}, ${name} rule`,
          xLabel: "examples seen",
          yLabel: "training loss",
          series: group.map((r, i) => ({
            name: `B=${r.batch} lr=${r.lr}${r.run.summary.status === "diverged" ? " (diverged)" : ""}`,
            x: curves[i].x,
            y: curves[i].y.map((y) => (Number.isFinite(y) && y <= DIVERGED_LOSS ? y : NaN)),
          })),
        }),
      });
    }
  }
  figures.unshift({
    slug: "collapse_score",
    caption:
      "Collapse score per optimizer and rule: mean over shared readings (after the first window) of the " +
      "standard deviation of the training loss across batch sizes at equal examples seen. Lower is better.",
    figure: barChart({
      title: "Collapse of loss curves across batch sizes",
      width: 900,
      yLabel: "mean std of loss across B",
      bars: scores.map((x) => ({ label: `${x.optimizer} ${x.rule}`, values: [x.collapse] })),
    }),
  });
  const best = (optimizer: Optimizer, metric: "collapse" | "lateCollapse" | "finalSpread" = "collapse") =>
    scores.filter((x) => x.optimizer === optimizer).reduce((a, b) => (b[metric] < a[metric] ? b : a)).rule;
  const bests = Object.fromEntries(
    OPTIMIZERS.map((
      o,
    ) => [o, {
      collapse: best(o),
      lateCollapse: best(o, "lateCollapse"),
      finalSpread: best(o, "finalSpread"),
    }]),
  );
  const content: ExperimentReport = {
    title: "Learning rate against batch size: square-root, linear or constant",
    notes: [
      `Moby Dick bytes, ${JSON.stringify(experimentModel(mode))}; batch sizes ${s.batches.join(", ")}, ` +
      `each trained on ${s.examples} examples (so ${s.examples / s.batches.at(-1)!}–${
        s.examples / s.batches[0]
      } steps); ` +
      `base learning rates ${
        JSON.stringify(s.lr)
      } at B₀ = ${s.base} (constant schedule), one seed. Loss readings ` +
      `average every ${s.window} examples, so each batch size's curve has the same number of points.`,
      "Claim (Roulet & Agarwala 2025): the square-root rule collapses Adam's loss curves across batch sizes best.",
      "Three spreads, lower is better: collapse = mean over the readings after the first window of the std of the " +
      "loss across batch sizes; late = the same over the second half (examples ≥ half the budget); final = max − " +
      "min of the final losses.",
      `Best rule (collapse / late / final): Adam ${Object.values(bests.adam).join(" / ")}, MicroAdam ${
        Object.values(bests.microAdam).join(" / ")
      }.`,
    ],
    tables: [{
      title: "LR scaling: collapse score and final loss per batch size",
      header: [
        "optimizer",
        "rule",
        "collapse",
        "late",
        "final spread",
        ...s.batches.map((b) => `loss B=${b} (lr)`),
      ],
      rows: scores.map((x) => [
        x.optimizer,
        x.rule,
        fmt(x.collapse, 4),
        fmt(x.lateCollapse, 4),
        fmt(x.finalSpread),
        ...s.batches.map((b) => `${fmt(x.finals[b])} (${x.lrs[b]})`),
      ]),
    }],
    figures,
    results: {
      experiment: "lr_scaling",
      mode,
      sizes: s,
      scores,
      bestRule: bests,
    },
  };
  return await writeExperimentReport(out, content, { quiet });
}

if (import.meta.main) {
  await lrScalingExperiment(parseExperimentArgs(Deno.args, "lr_scaling"));
}
