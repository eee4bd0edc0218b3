/**
 * The per-example pipeline (Roulet & Agarwala 2025, "Per-example gradients: a new frontier for
 * understanding and improving optimizers"): runs scripts/sign_placement.ts, micro_adam.ts,
 * lr_scaling.ts and noise_scale.ts in turn on one device, each writing its report into
 * `<out>/<name>/`, then writes `<out>/paper_per_example.json` (the time of each step) and copies
 * the key figures into `docs/figures/per_example/` as `<experiment>_<figure>.png`.
 *
 * Run: `deno task paper:per-example` (default size) or `deno task paper:per-example:smoke`
 * (a few steps each, figures not copied). Flags: `--smoke`, `--full`, `--out DIR` (default
 * `results`; `results/per_example_smoke` or `results/per_example_full` in those modes), `--docs DIR`
 * (default `docs/figures/per_example` at the default size, else none; `none` to skip), `--only a,b`
 * (a subset of the experiments).
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { getDevice } from "../mod.ts";
import type { ReportPaths } from "../src/experiments/per_example_report.ts";
import {
  type ExperimentMode,
  type ExperimentOptions,
  writeJson,
} from "../src/experiments/per_example_setup.ts";
import { lrScalingExperiment } from "./lr_scaling.ts";
import { microAdamExperiment } from "./micro_adam.ts";
import { noiseScaleExperiment } from "./noise_scale.ts";
import { signPlacementExperiment } from "./sign_placement.ts";

/** The experiments in order, with the figures the docs keep. */
export const PER_EXAMPLE_EXPERIMENTS: readonly {
  name: string;
  run: (options: ExperimentOptions) => Promise<ReportPaths>;
  docs: string[];
}[] = [
  {
    name: "sign_placement",
    run: signPlacementExperiment,
    docs: ["loss_curves", "final_loss", "alignment_binned_trained", "alignment_blocks_trained"],
  },
  {
    name: "micro_adam",
    run: microAdamExperiment,
    docs: ["loss_curves", "final_loss", "variance_share", "mean_share_blocks"],
  },
  {
    name: "lr_scaling",
    run: lrScalingExperiment,
    docs: ["collapse_score", "curves_adam_sqrt", "curves_adam_linear", "curves_adam_constant"],
  },
  { name: "noise_scale", run: noiseScaleExperiment, docs: ["noise_scale", "gsnr_blocks", "step_cost"] },
];

/** Options of {@linkcode paperPerExample}. */
export interface PipelineOptions {
  /** Size of every experiment. */
  mode: ExperimentMode;
  /** Results root: experiment `x` writes `<out>/x/`. */
  out: string;
  /** Where to copy the key figures; null: nowhere. */
  docs: string | null;
  /** Only these experiments (all when absent). */
  only?: string[];
  /** Print nothing but errors. */
  quiet?: boolean;
  /**
   * Delete each experiment's folder first, so every run trains again; default true for smoke
   * (whose outputs are disposable), false otherwise (finished runs are kept and skipped).
   */
  fresh?: boolean;
}

/** What the pipeline did: seconds per experiment and the report of each. */
export interface PipelineResult {
  /** Seconds per experiment, in order. */
  seconds: Record<string, number>;
  /** Total seconds. */
  total: number;
  /** Each experiment's report files. */
  reports: Record<string, ReportPaths>;
  /** The figures copied into the docs folder. */
  copied: string[];
}

/**
 * Runs the experiments on one device, then copies the key figures.
 *
 * @example
 * ```ts ignore
 * const result = await paperPerExample({ mode: "smoke", out: await Deno.makeTempDir(), docs: null });
 * console.log(result.total);
 * ```
 */
export async function paperPerExample(options: PipelineOptions): Promise<PipelineResult> {
  const unknown = (options.only ?? []).filter((n) => !PER_EXAMPLE_EXPERIMENTS.some((e) => e.name === n));
  if (unknown.length) throw new Error(`paper_per_example: unknown experiments ${unknown.join(", ")}`);
  const chosen = PER_EXAMPLE_EXPERIMENTS.filter((e) => !options.only || options.only.includes(e.name));
  const started = performance.now();
  const result: PipelineResult = { seconds: {}, total: 0, reports: {}, copied: [] };
  const gpu = await getDevice();
  try {
    for (const experiment of chosen) {
      const t = performance.now();
      const out = join(options.out, experiment.name);
      if (options.fresh ?? options.mode === "smoke") {
        await Deno.remove(out, { recursive: true }).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      }
      result.reports[experiment.name] = await experiment.run({
        mode: options.mode,
        out,
        gpu,
        quiet: options.quiet,
      });
      result.seconds[experiment.name] = (performance.now() - t) / 1000;
      if (!options.quiet) {
        console.log(`${experiment.name}: ${result.seconds[experiment.name].toFixed(0)} s\n`);
      }
    }
  } finally {
    gpu.destroy();
  }
  result.total = (performance.now() - started) / 1000;
  if (options.docs) {
    await Deno.mkdir(options.docs, { recursive: true });
    for (const experiment of chosen) {
      for (const slug of experiment.docs) {
        const from = result.reports[experiment.name].png[slug];
        if (!from) continue;
        const to = join(options.docs, `${experiment.name}_${slug}.png`);
        await Deno.copyFile(from, to);
        result.copied.push(to);
      }
    }
  }
  await writeJson(join(options.out, "paper_per_example.json"), {
    mode: options.mode,
    seconds: result.seconds,
    total: result.total,
    reports: Object.fromEntries(Object.entries(result.reports).map(([k, v]) => [k, v.html])),
    copied: result.copied,
  });
  return result;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      smoke: { type: "boolean", default: false },
      full: { type: "boolean", default: false },
      out: { type: "string" },
      docs: { type: "string" },
      only: { type: "string" },
    },
  });
  const mode: ExperimentMode = values.smoke ? "smoke" : values.full ? "full" : "default";
  const docs = values.docs ?? (mode === "default" ? "docs/figures/per_example" : "none");
  const result = await paperPerExample({
    mode,
    out: values.out ?? (mode === "default" ? "results" : `results/per_example_${mode}`),
    docs: docs === "none" ? null : docs,
    only: values.only?.split(","),
  });
  console.log(
    `per-example pipeline (${mode}): ${
      Object.entries(result.seconds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(", ")
    }; total ${result.total.toFixed(0)} s`,
  );
  for (const [name, paths] of Object.entries(result.reports)) console.log(`  ${name}: ${paths.html}`);
  if (result.copied.length) console.log(`figures copied to ${docs}/ (${result.copied.length})`);
}
