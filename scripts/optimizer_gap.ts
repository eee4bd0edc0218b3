/**
 * Adam against SGD and the sign methods (Tomihari & Sato 2025, the optimizer gap): SGD,
 * SGD with momentum, Adam, RMSprop, SignSGD and Signum, each at its best learning rate from a
 * small grid (chosen by final training loss on seed 0), then 3 seeds, in two settings:
 *
 * 1. fine-tuning a pretrained Post-LN text encoder on WordNet's 45 lexicographer classes.
 *    The pipeline pretrains the body itself: a causal byte-level language model on Moby Dick
 *    with the same body (`<out>/pretrain`), whose every block but the head initialises the
 *    classifier (`init_from`). The classifier keeps the causal attention it was pretrained
 *    with and mean-pools the positions (a CLS token would change the vocabulary and, under a
 *    causal mask, see nothing);
 * 2. a Pre-LN ViT (7×7 patches, CLS pooling) on Fashion-MNIST, from scratch.
 *
 * Output: `<out>/<setting>/{tune,final}/<run>/` run directories, loss curves
 * (`<out>/figures/loss_<setting>.png`), the table of final training loss and test accuracy
 * (mean ± std over seeds) printed and in `<out>/summary.json`.
 *
 * Run: `deno run --allow-read --allow-write --allow-env scripts/optimizer_gap.ts [--smoke | --full] [--out DIR]`
 *
 * @module
 */

import { getDevice, type Gpu } from "../src/gpu/device.ts";
import { lineChart } from "../src/plot/line_chart.ts";
import { train } from "../src/train/loop.ts";
import {
  bySize,
  type ExperimentArgs,
  experimentArgs,
  type ExperimentResult,
  type ExperimentSize,
  writeSummary,
} from "../src/experiments/cli.ts";
import { bandSeries, saveFigure, trainCurve } from "../src/experiments/figures.ts";
import {
  formatTunedTable,
  type OptimizerChoice,
  overSeeds,
  tuneAndRepeat,
  type TunedOptimizer,
} from "../src/experiments/tuned_runs.ts";

/** The transformer body shared by the language model and the WordNet classifier. */
function textBody(size: ExperimentSize) {
  return {
    dModel: bySize(size, { smoke: 16, default: 32, full: 128 }),
    nHeads: bySize(size, { smoke: 2, default: 2, full: 4 }),
    nLayers: bySize(size, { smoke: 1, default: 2, full: 4 }),
    dMlp: bySize(size, { smoke: 32, default: 128, full: 512 }),
    seqLen: bySize(size, { smoke: 8, default: 16, full: 64 }),
    norm: "post",
    causal: true,
  };
}

/**
 * Per-setting learning-rate grids (three points each; the middle one in smoke mode), centred
 * on the best rates of a 5-point scan (factor √10 apart) at the default size, seed 0.
 */
type Grids = Record<string, readonly number[]>;

const WORDNET_GRIDS: Grids = {
  sgd: [0.03, 0.1, 0.3],
  sgd_momentum: [0.01, 0.03, 0.1],
  adam: [3e-4, 1e-3, 3e-3],
  rmsprop: [3e-4, 1e-3, 3e-3],
  signSgd: [1e-3, 3e-3, 1e-2],
  signum: [3e-4, 1e-3, 3e-3],
};

const FASHION_GRIDS: Grids = WORDNET_GRIDS;

const OPTIMIZERS: Record<string, Record<string, unknown>> = {
  sgd: { name: "sgd" },
  sgd_momentum: { name: "sgd", momentum: 0.9 },
  adam: { name: "adam" },
  rmsprop: { name: "rmsprop" },
  signSgd: { name: "signSgd" },
  signum: { name: "signum", beta: 0.9 },
};

/** Legend names. */
const DISPLAY: Record<string, string> = {
  sgd: "SGD",
  sgd_momentum: "SGD+mom",
  adam: "Adam",
  rmsprop: "RMSprop",
  signSgd: "SignSGD",
  signum: "Signum",
};

/** The optimizer choices of a setting; smoke mode keeps two optimizers at their middle rate. */
function choices(size: ExperimentSize, grids: Grids): OptimizerChoice[] {
  const labels = size === "smoke" ? ["sgd", "adam"] : Object.keys(OPTIMIZERS);
  return labels.map((label) => ({
    label,
    optimizer: OPTIMIZERS[label],
    lrs: size === "smoke" ? [grids[label][1]] : grids[label],
  }));
}

/** Run length, logging and evaluation common to both settings. */
function schedule(size: ExperimentSize) {
  const steps = bySize(size, { smoke: 3, default: 80, full: 2000 });
  return {
    steps,
    metrics_every: bySize(size, { smoke: 1, default: 10, full: 50 }),
    eval_every: 0,
    eval_batches: bySize(size, { smoke: 1, default: 40, full: 400 }),
    checkpoint_every: 0,
  };
}

/** Pretrains the causal byte-level LM on Moby Dick and returns its run directory. */
async function pretrain(args: ExperimentArgs, gpu: Gpu): Promise<string> {
  const dir = `${args.out}/pretrain`;
  const steps = bySize(args.size, { smoke: 3, default: 300, full: 5000 });
  const summary = await train({
    seed: 0,
    model: {
      ...textBody(args.size),
      input: { kind: "tokens", vocabSize: 256 },
      head: { kind: "lm", tied: false },
    },
    data: {
      dataset: "moby_dick",
      tokenizer: "bytes",
      batch_size: bySize(args.size, { smoke: 4, default: 16, full: 32 }),
    },
    optimizer: { name: "adam", lr: 3e-3, schedule: { kind: "cosine", warmup_steps: Math.ceil(steps / 20) } },
    steps,
    metrics_every: Math.max(1, Math.floor(steps / 20)),
    eval_every: 0,
  }, { dir, gpu, onProgress: () => {} });
  console.log(
    `pretrained LM (Post-LN, causal, Moby Dick bytes): ${summary.steps} steps, ` +
      `train loss ${summary.final_loss?.toFixed(3)}, valid loss ${summary.eval?.loss.toFixed(3)}`,
  );
  return dir;
}

function wordnetBase(args: ExperimentArgs, pretrained: string): Record<string, unknown> {
  return {
    model: {
      ...textBody(args.size),
      input: { kind: "tokens", vocabSize: 256 },
      head: { kind: "classify", nClasses: 45, pool: "mean" },
    },
    data: {
      dataset: "wordnet",
      cls: false,
      // The test split is evaluated in source order, which groups the classes: a small random
      // split evaluated whole is an unbiased sample, its first batches are not.
      test_fraction: bySize(args.size, { smoke: 0.005, default: 0.005, full: 0.1 }),
      batch_size: bySize(args.size, { smoke: 4, default: 16, full: 32 }),
    },
    init_from: pretrained,
    ...schedule(args.size),
  };
}

function fashionBase(args: ExperimentArgs): Record<string, unknown> {
  return {
    model: {
      dModel: bySize(args.size, { smoke: 16, default: 32, full: 128 }),
      nHeads: 2,
      nLayers: bySize(args.size, { smoke: 1, default: 2, full: 4 }),
      dMlp: bySize(args.size, { smoke: 32, default: 128, full: 512 }),
      seqLen: 17,
      norm: "pre",
      causal: false,
      input: { kind: "patches", imageSize: 28, patchSize: 7, channels: 1 },
      head: { kind: "classify", nClasses: 10, pool: "cls" },
    },
    data: {
      dataset: "fashion_mnist",
      batch_size: bySize(args.size, { smoke: 4, default: 16, full: 64 }),
      ...(args.size === "full" ? {} : { limit: 10000 }),
    },
    ...schedule(args.size),
  };
}

/** Loss curves (mean ± std over seeds of the metrics-window mean loss) of one setting. */
async function lossFigure(out: string, setting: string, title: string, tuned: TunedOptimizer[]) {
  const series = await Promise.all(tuned.map(async (t) =>
    bandSeries(
      `${DISPLAY[t.label]} lr=${t.lr}`,
      await Promise.all(t.runs.map((r) => trainCurve(r.dir, "loss_mean"))),
    )
  ));
  return await saveFigure(
    out,
    `loss_${setting}`,
    lineChart({ title, xLabel: "step", yLabel: "training loss (window mean)", series }),
  );
}

function summaryRows(tuned: TunedOptimizer[]) {
  return tuned.map((t) => ({
    optimizer: t.label,
    lr: t.lr,
    grid: t.grid.map((p) => ({ lr: p.lr, final_loss: p.mean_final_loss })),
    final_loss: overSeeds(t.runs, (r) => r.finalLoss),
    test_accuracy: overSeeds(
      t.runs.filter((r) => r.summary.status === "finished"),
      (r) => r.summary.eval?.accuracy,
    ),
    diverged: t.runs.filter((r) => r.summary.status === "diverged").length,
  }));
}

/**
 * Runs the experiment and returns its figures, report directories and summary path.
 *
 * @example
 * ```ts ignore
 * const result = await main({ size: "smoke", out: "/tmp/optimizer_gap" });
 * ```
 */
export async function main(args: ExperimentArgs): Promise<ExperimentResult> {
  const gpu = await getDevice();
  const seeds = bySize(args.size, { smoke: [0], default: [0, 1, 2], full: [0, 1, 2] });
  const settings = [] as { key: string; title: string; tuned: TunedOptimizer[] }[];
  try {
    const pretrained = await pretrain(args, gpu);
    for (
      const [key, title, base, grids] of [
        [
          "wordnet",
          "WordNet (45 classes): fine-tuning a pretrained Post-LN encoder",
          wordnetBase(args, pretrained),
          WORDNET_GRIDS,
        ],
        ["fashion_mnist", "Fashion-MNIST: Pre-LN ViT from scratch", fashionBase(args), FASHION_GRIDS],
      ] as const
    ) {
      console.log(`\n${title}`);
      const tuned = await tuneAndRepeat(base, choices(args.size, grids), {
        out: `${args.out}/${key}`,
        seeds,
        gpu,
        extend: args.size === "smoke" ? 0 : 1,
      });
      settings.push({ key, title, tuned });
    }
  } finally {
    gpu.destroy();
  }
  const figures: string[] = [];
  for (const s of settings) {
    console.log(`\n${s.title}: best learning rate per optimizer, mean ± std over ${seeds.length} seeds`);
    console.log(formatTunedTable(s.tuned));
    figures.push(await lossFigure(args.out, s.key, s.title, s.tuned));
  }
  const summary = await writeSummary(args.out, {
    experiment: "optimizer_gap",
    size: args.size,
    seeds,
    settings: Object.fromEntries(
      settings.map((s) => [s.key, { title: s.title, optimizers: summaryRows(s.tuned) }]),
    ),
  });
  return {
    name: "optimizer_gap",
    figures,
    reportDirs: settings.map((s) => `${args.out}/${s.key}/final`),
    summary,
  };
}

if (import.meta.main) await main(experimentArgs("optimizer_gap"));
