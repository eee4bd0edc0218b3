/**
 * The report as one self-contained HTML page: figures inline as SVG, the final-metric table
 * and every run's config. No scripts and no external resources, so it opens anywhere.
 *
 * @module
 */

import type { RunRecord } from "./results.ts";
import type { ReportFigure } from "./report_figures.ts";
import { formatMeanStd, type MetricTable } from "./report_table.ts";
import { runStatus } from "./run_metrics.ts";
import { escapeXml } from "./svg.ts";

/** What a report shows. */
export interface ReportContent {
  /** Page title. */
  title: string;
  /** The runs (for the config section). */
  runs: RunRecord[];
  /** The final-metric table. */
  table: MetricTable;
  /** The figures, in order. */
  figures: ReportFigure[];
}

const STYLE = `
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem; color: #111; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9rem; } th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
th { background: #f3f3f3; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure.figure { margin: 0; border: 1px solid #e3e3e3; padding: 0.5rem; max-width: 100%; }
figure.figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.85rem; color: #444; max-width: 640px; margin-top: 0.3rem; }
pre { background: #f7f7f7; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
`;

function tableHtml(table: MetricTable): string {
  const head = ["group", "runs", "status", ...table.metrics].map((h) => `<th>${escapeXml(h)}</th>`).join("");
  const body = table.rows.map((row) => {
    const cells = row.cells.map((c) => `<td class="num">${escapeXml(formatMeanStd(c))}</td>`).join("");
    return `<tr><td>${escapeXml(row.group)}</td><td class="num">${row.runs}</td><td>${
      escapeXml(row.status)
    }</td>${cells}</tr>`;
  });
  return `<table id="final-metrics"><thead><tr>${head}</tr></thead><tbody>${body.join("")}</tbody></table>`;
}

function figureHtml({ slug, caption, figure }: ReportFigure): string {
  return `<figure class="figure" id="fig-${escapeXml(slug)}">${figure.svg}<figcaption>${
    escapeXml(caption)
  }</figcaption></figure>`;
}

function runHtml(run: RunRecord): string {
  const summary = `${escapeXml(run.name)}: ${escapeXml(runStatus(run))}, ${run.rows.length} log rows`;
  return `<details class="run"><summary>${summary}</summary><pre>${
    escapeXml(JSON.stringify(run.config, null, 2))
  }</pre></details>`;
}

/**
 * The report page.
 *
 * @example
 * ```ts
 * import { reportHtml } from "./mod.ts";
 * const html = reportHtml({ title: "empty", runs: [], table: { metrics: [], rows: [] }, figures: [] });
 * console.log(html.startsWith("<!doctype html>")); // true
 * ```
 */
export function reportHtml(content: ReportContent): string {
  const title = escapeXml(content.title);
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // An empty icon: without it the browser asks for /favicon.ico and logs a 404.
    '<link rel="icon" href="data:,">',
    `<title>${title}</title><style>${STYLE}</style></head><body>`,
    `<h1>${title}</h1>`,
    `<p>${content.runs.length} runs in ${content.table.rows.length} groups; ${content.figures.length} figures.</p>`,
    `<h2>Final metrics</h2>`,
    `<p>Mean ± sample standard deviation over each group's runs (seeds).</p>`,
    tableHtml(content.table),
    `<h2>Figures</h2><div class="figures">${content.figures.map(figureHtml).join("\n")}</div>`,
    `<h2>Runs</h2>`,
    content.runs.map(runHtml).join("\n"),
    "</body></html>",
    "",
  ].join("\n");
}
