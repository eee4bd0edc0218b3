/**
 * The report as Markdown, with the figures as PNG files beside it (`figures/<slug>.png`):
 * for viewers that show Markdown but not inline SVG (code hosts, issue trackers).
 *
 * @module
 */

import type { RunRecord } from "./results.ts";
import type { ReportContent } from "./report_html.ts";
import { formatMeanStd, type MetricTable } from "./report_table.ts";
import { runStatus } from "./run_metrics.ts";

/** Escapes `|` so a value cannot break a Markdown table row. */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

function tableMarkdown(table: MetricTable): string {
  const head = ["group", "runs", "status", ...table.metrics];
  const lines = [
    `| ${head.map(cell).join(" | ")} |`,
    `|${head.map((_, i) => (i === 1 || i > 2 ? " ---: " : " --- ")).join("|")}|`,
    ...table.rows.map((r) =>
      `| ${[r.group, String(r.runs), r.status, ...r.cells.map(formatMeanStd)].map(cell).join(" | ")} |`
    ),
  ];
  return lines.join("\n");
}

function runMarkdown(run: RunRecord): string {
  return [
    `<details><summary>${run.name}: ${runStatus(run)}, ${run.rows.length} log rows</summary>`,
    "",
    "```json",
    JSON.stringify(run.config, null, 2),
    "```",
    "",
    "</details>",
  ].join("\n");
}

/**
 * The report as Markdown; figures are linked as `figures/<slug>.png`.
 *
 * @example
 * ```ts
 * import { reportMarkdown } from "./mod.ts";
 * const md = reportMarkdown({ title: "empty", runs: [], table: { metrics: [], rows: [] }, figures: [] });
 * console.log(md.startsWith("# empty")); // true
 * ```
 */
export function reportMarkdown(content: ReportContent): string {
  return [
    `# ${content.title}`,
    "",
    `${content.runs.length} runs in ${content.table.rows.length} groups; ${content.figures.length} figures.`,
    "",
    "## Final metrics",
    "",
    "Mean ± sample standard deviation over each group's runs (seeds).",
    "",
    tableMarkdown(content.table),
    "",
    "## Figures",
    "",
    ...content.figures.flatMap((
      f,
    ) => [`![${f.figure.title}](figures/${f.slug}.png)`, "", `*${f.caption}*`, ""]),
    "## Runs",
    "",
    ...content.runs.map(runMarkdown),
    "",
  ].join("\n");
}
