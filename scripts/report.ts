/**
 * Writes the report of one experiment: `report.html` (figures inline as SVG, final metrics
 * mean ± std over seeds, every run's config), `report.md` and `figures/*.{svg,png}`.
 *
 * Run: `deno task report <results dir> [--out <dir>] [--title <text>] [--no-png]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { writeReport } from "../src/plot/report.ts";

const USAGE = "usage: deno task report <results dir> [--out <dir>] [--title <text>] [--no-png]";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    out: { type: "string" },
    title: { type: "string" },
    "no-png": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help || positionals.length !== 1) {
  console.error(USAGE);
  Deno.exit(values.help ? 0 : 2);
}

const started = performance.now();
try {
  const files = await writeReport(positionals[0], {
    outDir: values.out,
    title: values.title,
    png: !values["no-png"],
  });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`report: ${files.runs} runs, ${files.figures.length} figure files in ${seconds} s`);
  console.log(`  ${files.html}\n  ${files.markdown}`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  Deno.exit(1);
}
