/**
 * One report per experiment: reads the runs in a results directory and writes
 * `report.html` (figures inline as SVG), `report.md` and `figures/<slug>.{svg,png}`.
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { svgToPng } from "./png.ts";
import { reportFigures } from "./report_figures.ts";
import { reportHtml } from "./report_html.ts";
import { reportMarkdown } from "./report_markdown.ts";
import { finalMetricTable } from "./report_table.ts";
import { readRuns } from "./results.ts";
import { groupRuns } from "./run_metrics.ts";

/** Options for {@link writeReport}. */
export interface ReportOptions {
  /** Where to write (default: the results directory itself). */
  outDir?: string;
  /** Page title (default: `Report: <results dir name>`). */
  title?: string;
  /** Also rasterise every figure to `figures/<slug>.png` (default true; report.md links them). */
  png?: boolean;
}

/** What {@link writeReport} wrote. */
export interface ReportFiles {
  /** Path of report.html. */
  html: string;
  /** Path of report.md. */
  markdown: string;
  /** Paths of the figure files (SVG and PNG). */
  figures: string[];
  /** How many runs were found. */
  runs: number;
}

/**
 * Reads every run under `resultsDir` and writes the report. Throws when no run is found.
 *
 * @example
 * ```ts
 * import { writeReport } from "./mod.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/adam_seed0`);
 * await Deno.writeTextFile(`${dir}/adam_seed0/log.jsonl`, '{"step":0,"loss":2.3}\n{"step":5,"loss":1.2}\n');
 * const files = await writeReport(dir, { png: false });
 * console.log(files.html.endsWith("report.html"), files.runs); // true 1
 * ```
 */
export async function writeReport(resultsDir: string, options: ReportOptions = {}): Promise<ReportFiles> {
  const runs = await readRuns(resultsDir);
  if (runs.length === 0) {
    throw new Error(`gradscope: no runs (folders with log.jsonl or summary.json) in ${resultsDir}`);
  }
  const groups = groupRuns(runs);
  const content = {
    title: options.title ?? `Report: ${basename(resolve(resultsDir))}`,
    runs,
    table: finalMetricTable(groups),
    figures: reportFigures(groups),
  };
  const outDir = options.outDir ?? resultsDir;
  const figureDir = join(outDir, "figures");
  await Deno.mkdir(figureDir, { recursive: true });
  const written: string[] = [];
  for (const { slug, figure } of content.figures) {
    const svgPath = join(figureDir, `${slug}.svg`);
    await Deno.writeTextFile(svgPath, figure.svg);
    written.push(svgPath);
    if (options.png ?? true) {
      const pngPath = join(figureDir, `${slug}.png`);
      await Deno.writeFile(pngPath, await svgToPng(figure));
      written.push(pngPath);
    }
  }
  const html = join(outDir, "report.html"), markdown = join(outDir, "report.md");
  await Deno.writeTextFile(html, reportHtml(content));
  await Deno.writeTextFile(markdown, reportMarkdown(content));
  return { html, markdown, figures: written, runs: runs.length };
}
