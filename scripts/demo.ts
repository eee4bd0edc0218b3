/**
 * The demo, gradscope's main job on its embedded default: a small causal transformer
 * trained on Moby Dick (byte-level) with SGD, Adam and SignSGD, logging per-block gradient
 * norms and per-example statistics, then a summary and a report with figures. Results go to
 * `results/demo/`.
 *
 * Run: `deno task demo` (`--steps N` to change the length, `--out DIR` for another folder).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { consoleProgress, getDevice, readJsonl, type RunSummary, train, writeReport } from "../mod.ts";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "150" },
    out: { type: "string", default: "results/demo" },
  },
});
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 1) {
  console.error(`demo: --steps must be a positive integer, got ${values.steps}`);
  Deno.exit(2);
}

/** The embedded default: Moby Dick bytes, d = 64, 2 Pre-LN blocks, T = 32, B = 16. */
const BASE = {
  seed: 0,
  model: {
    dModel: 64,
    nHeads: 4,
    nLayers: 2,
    dMlp: 256,
    seqLen: 32,
    norm: "pre",
    causal: true,
    input: { kind: "tokens", vocabSize: 256 },
    head: { kind: "lm", tied: false },
  },
  data: { dataset: "moby_dick", tokenizer: "bytes", batch_size: 16 },
  steps,
  eval_every: Math.max(1, Math.floor(steps / 3)),
  metrics_every: Math.max(1, Math.floor(steps / 15)),
  checkpoint_every: steps,
  log_stats: ["sum_sq", "sign_agreement", "example_norms"],
};

/** Learning rates picked from a coarse grid at this size (see README). */
const OPTIMIZERS = [
  { name: "sgd", lr: 0.1, momentum: 0.9 },
  { name: "adam", lr: 3e-3 },
  { name: "signSgd", lr: 3e-4 },
];

const gpu = await getDevice();
console.log(`adapter: ${gpu.description}`);
console.log(`training on Moby Dick: ${steps} steps per optimizer, results in ${values.out}/\n`);

const summaries: {
  optimizer: string;
  lr: number;
  summary: RunSummary;
  heterogeneity: number;
  signAgreement: number;
}[] = [];
for (const optimizer of OPTIMIZERS) {
  const dir = `${values.out}/${optimizer.name}`;
  const summary = await train({ ...BASE, name: optimizer.name, optimizer }, {
    dir,
    gpu,
    onProgress: consoleProgress(),
  });
  const lines = (await readJsonl(`${dir}/log.jsonl`)) as Record<string, unknown>[];
  const last = lines.filter((line) => line.kind === "train").at(-1);
  summaries.push({ optimizer: optimizer.name, lr: optimizer.lr, summary, ...blockSpread(last) });
}

/** max/min of the per-block gradient norms, and the mean sign agreement, at the last reading. */
function blockSpread(
  line: Record<string, unknown> | undefined,
): { heterogeneity: number; signAgreement: number } {
  const norms = Object.values((line?.grad_norm ?? {}) as Record<string, number>).filter((v) => v > 0);
  const agreement = Object.values((line?.sign_agreement ?? {}) as Record<string, number>);
  return {
    heterogeneity: norms.length ? Math.max(...norms) / Math.min(...norms) : NaN,
    signAgreement: agreement.length ? agreement.reduce((a, b) => a + b, 0) / agreement.length : NaN,
  };
}

const fmt = (v: number | null | undefined, digits = 3) =>
  v == null || !Number.isFinite(v) ? "-" : v.toFixed(digits);
console.log(
  "\noptimizer  lr       status    train loss  eval loss  eval acc  tokens/s  block-norm max/min  sign agreement",
);
for (const { optimizer, lr, summary: s, heterogeneity, signAgreement } of summaries) {
  console.log(
    [
      optimizer.padEnd(10),
      String(lr).padEnd(8),
      s.status.padEnd(9),
      fmt(s.final_loss).padEnd(11),
      fmt(s.eval?.loss).padEnd(10),
      fmt(s.eval?.accuracy).padEnd(9),
      fmt(s.tokens_per_s, 0).padEnd(9),
      fmt(heterogeneity, 1).padEnd(19),
      fmt(signAgreement),
    ].join(" "),
  );
}
gpu.destroy();
const report = await writeReport(values.out, { title: "gradscope demo: SGD, Adam and SignSGD on Moby Dick" });
console.log(
  `\nlogs: ${values.out}/<optimizer>/log.jsonl (one JSON line per reading); summaries in summary.json`,
);
console.log(`report: ${report.html} (figures in ${values.out}/figures/)`);
