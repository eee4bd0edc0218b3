/**
 * The outputs of a per-example experiment: a plain-text summary printed to the console, and in
 * its results folder `results.json` (the numbers), `figures/<slug>.{svg,png}`, `report.html`
 * (figures inline) and `report.md` (figures linked).
 *
 * @module
 */

import { join } from "node:path";
import type { Figure } from "../plot/figure.ts";
import { svgToPng } from "../plot/png.ts";
import { escapeXml } from "../plot/svg.ts";
import { formatTable } from "../train/sweep.ts";
import { writeJson } from "./per_example_setup.ts";

/** One table of a report: a header and rows of text cells. */
export interface TextTable {
  /** A title printed above it. */
  title: string;
  /** Column names. */
  header: string[];
  /** Rows, one text cell per column. */
  rows: string[][];
}

/** One figure of a report. */
export interface NamedFigure {
  /** File-name stem. */
  slug: string;
  /** One-line caption. */
  caption: string;
  /** The figure. */
  figure: Figure;
}

/** Everything an experiment reports. */
export interface ExperimentReport {
  /** Page title. */
  title: string;
  /** Paragraphs of plain text: the setup, the claim and what was measured. */
  notes: string[];
  /** Tables, also printed. */
  tables: TextTable[];
  /** Figures. */
  figures: NamedFigure[];
  /** The numbers, written to `results.json`. */
  results: Record<string, unknown>;
}

/** What {@linkcode writeExperimentReport} wrote. */
export interface ReportPaths {
  /** `report.html`. */
  html: string;
  /** `report.md`. */
  markdown: string;
  /** `results.json`. */
  results: string;
  /** `figures/<slug>.png`, by slug. */
  png: Record<string, string>;
}

/**
 * A table as aligned plain text, under its title.
 *
 * @example
 * ```ts
 * import { tableText } from "./src/experiments/per_example_report.ts";
 * console.log(tableText({ title: "t", header: ["a", "b"], rows: [["1", "22"]] })); // "t\na  b\n1  22"
 * ```
 */
export function tableText(table: TextTable): string {
  return `${table.title}\n${formatTable(table.header, table.rows)}`;
}

/**
 * Prints the tables, and writes `results.json`, the figures (SVG and PNG), `report.html` and
 * `report.md` into `out`.
 *
 * @example
 * ```ts ignore
 * const paths = await writeExperimentReport("results/sign_placement", report);
 * ```
 */
export async function writeExperimentReport(
  out: string,
  report: ExperimentReport,
  options: { quiet?: boolean } = {},
): Promise<ReportPaths> {
  if (!options.quiet) { for (const table of report.tables) console.log(`\n${tableText(table)}`); }
  await Deno.mkdir(join(out, "figures"), { recursive: true });
  const png: Record<string, string> = {};
  for (const { slug, figure } of report.figures) {
    await Deno.writeTextFile(join(out, "figures", `${slug}.svg`), figure.svg);
    png[slug] = join(out, "figures", `${slug}.png`);
    await Deno.writeFile(png[slug], await svgToPng(figure));
  }
  const paths = {
    html: join(out, "report.html"),
    markdown: join(out, "report.md"),
    results: join(out, "results.json"),
    png,
  };
  await writeJson(paths.results, report.results);
  await Deno.writeTextFile(paths.html, html(report));
  await Deno.writeTextFile(paths.markdown, markdown(report));
  return paths;
}

function html(report: ExperimentReport): string {
  const table = (t: TextTable) => {
    const head = t.header.map((h) => `<th>${escapeXml(h)}</th>`).join("");
    const body = t.rows.map((row) => `<tr>${row.map((c) => `<td>${escapeXml(c)}</td>`).join("")}</tr>`);
    return `<h2>${escapeXml(t.title)}</h2><table><thead><tr>${head}</tr></thead><tbody>${
      body.join("")
    }</tbody></table>`;
  };
  const figure = (f: NamedFigure) =>
    `<figure id="fig-${escapeXml(f.slug)}">${f.figure.svg}<figcaption>${
      escapeXml(f.caption)
    }</figcaption></figure>`;
  return [
    "<!doctype html>",
    '<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">',
    `<title>${escapeXml(report.title)}</title>`,
    "<style>body{font-family:'DejaVu Sans',Verdana,sans-serif;max-width:1400px;margin:2rem auto;padding:0 1rem}",
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}",
    "figure{display:inline-block;margin:.5rem}figcaption{max-width:640px;font-size:.9rem}</style></head><body>",
    `<h1>${escapeXml(report.title)}</h1>`,
    ...report.notes.map((p) => `<p>${escapeXml(p)}</p>`),
    ...report.tables.map(table),
    "<h2>Figures</h2>",
    ...report.figures.map(figure),
    "</body></html>",
    "",
  ].join("\n");
}

function markdown(report: ExperimentReport): string {
  const cell = (c: string) => c.replaceAll("|", "\\|");
  const table = (t: TextTable) => [
    `## ${t.title}`,
    "",
    `| ${t.header.map(cell).join(" | ")} |`,
    `| ${t.header.map(() => "---").join(" | ")} |`,
    ...t.rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
    "",
  ];
  return [
    `# ${report.title}`,
    "",
    ...report.notes.flatMap((p) => [p, ""]),
    ...report.tables.flatMap(table),
    "## Figures",
    "",
    ...report.figures.flatMap((f) => [`![${f.caption}](figures/${f.slug}.png)`, "", f.caption, ""]),
  ].join("\n");
}
