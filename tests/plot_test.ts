/**
 * Figures: each chart's SVG parses as XML and holds the expected series, points and labels;
 * PNGs decode at the requested size with the title's text actually drawn; the helpers that
 * read runs and summarise seeds behave on ragged, partial data.
 */
import assert from "node:assert/strict";
import { DOMParser } from "npm:@xmldom/xmldom@0.9.8";
import { Buffer } from "node:buffer";
import pngjs from "npm:pngjs@7.0.0";
import { meanBand, meanStd } from "../src/plot/aggregate.ts";
import { barChart } from "../src/plot/bar_chart.ts";
import { Figure, JUPYTER_DISPLAY } from "../src/plot/figure.ts";
import { heatmap } from "../src/plot/heatmap.ts";
import { lineChart } from "../src/plot/line_chart.ts";
import { svgToPng } from "../src/plot/png.ts";
import { parseJsonl, type RunRecord } from "../src/plot/results.ts";
import {
  blockCurve,
  blockNames,
  curveOf,
  familyNames,
  finalMetrics,
  groupRuns,
  metricKeys,
  settingKey,
} from "../src/plot/run_metrics.ts";
import { scatterPlot } from "../src/plot/scatter.ts";

type Node = { getAttribute(name: string): string | null; textContent: string | null };

/** Parses SVG strictly: any XML warning or error fails the test. */
function parseSvg(svg: string) {
  const parser = new DOMParser({
    onError: (level: string, message: string) => {
      throw new Error(`SVG ${level}: ${message}`);
    },
  });
  const doc = parser.parseFromString(svg, "image/svg+xml");
  assert.equal(doc.documentElement?.tagName, "svg");
  const all = (tagName = "*") => Array.from(doc.getElementsByTagName(tagName)) as unknown as Node[];
  return {
    all,
    byClass: (cls: string) => all().filter((e) => (e.getAttribute("class") ?? "").split(" ").includes(cls)),
    texts: () => all("text").map((e) => e.textContent ?? ""),
  };
}

/** Number of vertices in a path made only of M and L commands (d3 line output). */
function vertices(d: string | null): number {
  return (d ?? "").match(/[ML]/g)?.length ?? 0;
}

const steps = [0, 10, 20, 30, 40];

Deno.test("line chart: series, bands, points on a log axis, legend, title and axis labels", () => {
  const adam = meanBand([{ x: steps, y: [2.3, 1.1, 0.6, 0.4, 0.3] }, {
    x: steps,
    y: [2.3, 1.3, 0.8, 0.5, 0.35],
  }]);
  const fig = lineChart({
    title: "Loss <by> optimizer & seed",
    xLabel: "step",
    yLabel: "loss",
    yLog: true,
    series: [
      { name: "adam", ...adam },
      {
        name: "sgd",
        x: steps,
        y: [2.3, 2.0, 1.8, 1.7, 1.6],
        lower: [2.2, 1.9, 1.7, 1.6, 1.5],
        upper: [2.4, 2.1, 1.9, 1.8, 1.7],
      },
      // 0 and NaN cannot be drawn on a log axis: 3 of 5 points remain, in two pieces.
      { name: "diverged", x: steps, y: [2.3, 0, 1.5, NaN, 1.4] },
    ],
  });
  const svg = parseSvg(fig.svg);
  const series = svg.byClass("series");
  assert.deepEqual(series.map((s) => s.getAttribute("data-name")), ["adam", "sgd", "diverged"]);
  assert.deepEqual(series.map((s) => s.getAttribute("data-points")), ["5", "5", "3"]);
  assert.deepEqual(svg.byClass("line").map((p) => vertices(p.getAttribute("d"))), [5, 5, 3]);
  assert.equal(svg.byClass("band").length, 2);
  assert.equal(svg.byClass("marker").length, 13);
  assert.equal(svg.byClass("legend-item").length, 3);
  const texts = svg.texts();
  for (const label of ["Loss <by> optimizer & seed", "step", "loss", "adam", "sgd", "diverged"]) {
    assert.ok(texts.includes(label), `missing text ${label}`);
  }
  assert.equal(svg.byClass("chart-title")[0].textContent, "Loss <by> optimizer & seed");
  assert.equal(svg.byClass("axis-label").length, 2);
  assert.equal(fig.width, 640);
  assert.equal(fig.height, 400);
});

Deno.test("line chart: log x axis drops x ≤ 0 and labels decades", () => {
  const fig = lineChart({
    title: "lr sweep",
    xLog: true,
    series: [{ name: "a", x: [0, 1e-4, 1e-3, 1e-2], y: [3, 2, 1, 2] }],
  });
  const svg = parseSvg(fig.svg);
  assert.equal(svg.byClass("series")[0].getAttribute("data-points"), "3");
  const labels = svg.texts();
  for (const tick of ["1e-4", "0.001", "0.01"]) assert.ok(labels.includes(tick), `missing tick ${tick}`);
});

Deno.test("scatter plot: log-log, labels, groups in the legend", () => {
  const fig = scatterPlot({
    title: "Gradient norm vs curvature",
    xLabel: "curvature",
    yLabel: "gradient norm",
    logLog: true,
    showLabels: true,
    points: [
      { x: 0.1, y: 2, label: "embed", group: "adam" },
      { x: 3, y: 0.5, label: "head", group: "adam" },
      { x: 1, y: 1, label: "blocks.0.mlp", group: "sgd" },
      { x: -1, y: 1, label: "negative: not on a log axis", group: "sgd" },
    ],
  });
  const svg = parseSvg(fig.svg);
  assert.equal(svg.byClass("point").length, 3);
  assert.deepEqual(svg.byClass("point-label").map((t) => t.textContent), ["embed", "head", "blocks.0.mlp"]);
  assert.equal(svg.byClass("legend-item").length, 2);
  assert.ok(svg.texts().includes("curvature") && svg.texts().includes("gradient norm"));

  const plain = parseSvg(scatterPlot({ title: "no labels", points: [{ x: -1, y: 1, label: "kept" }] }).svg);
  assert.equal(plain.byClass("point").length, 1);
  assert.equal(plain.byClass("point-label").length, 0);
});

Deno.test("heatmap: one cell per finite value, row labels, colour bar; wide inputs are binned", () => {
  const rows = ["embed", "blocks.0.attn.qkv.weight", "head"];
  const values = [[1, 2, 3, 4], [0.5, NaN, 0.25, 0.1], [10, 20, 30, 40]];
  const svg = parseSvg(
    heatmap({
      title: "grad_norm per block",
      xLabel: "step",
      colorLabel: "norm",
      rows,
      columns: steps.slice(0, 4),
      values,
    }).svg,
  );
  assert.equal(svg.byClass("cell").length, 11);
  for (const label of [...rows, "grad_norm per block", "step", "norm"]) {
    assert.ok(svg.texts().includes(label), label);
  }
  assert.equal(svg.all("linearGradient").length, 1);
  assert.equal(svg.byClass("color-bar").length, 1);

  const wide = Array.from({ length: 1000 }, (_, i) => i);
  const binned = parseSvg(
    heatmap({ title: "binned", rows: ["a", "b"], columns: wide, values: [wide, wide], maxColumns: 50 }).svg,
  );
  assert.equal(binned.byClass("cell").length, 100);
  assert.equal(binned.byClass("cells")[0].getAttribute("data-columns"), "50");
});

Deno.test("bar chart: one bar per group, error bars where there is a spread, a dot per seed", () => {
  const fig = barChart({
    title: "Final loss",
    xLabel: "optimizer",
    yLabel: "loss",
    bars: [
      { label: "adam", values: [0.31, 0.29, 0.33] },
      { label: "sgd", values: [0.45, 0.5] },
      { label: "signum", values: [0.38] },
      { label: "failed", values: [NaN] },
    ],
  });
  const svg = parseSvg(fig.svg);
  assert.equal(svg.byClass("bar").length, 3);
  assert.equal(svg.byClass("error-bar").length, 2);
  assert.equal(svg.byClass("seed").length, 6);
  for (const label of ["adam", "sgd", "signum", "failed", "Final loss", "optimizer", "loss"]) {
    assert.ok(svg.texts().includes(label), label);
  }
});

Deno.test("figures display themselves in Deno's Jupyter kernel", () => {
  const fig = lineChart({ title: "t", series: [{ name: "a", x: [0, 1], y: [1, 2] }] });
  assert.ok(fig instanceof Figure);
  assert.equal(JUPYTER_DISPLAY, Symbol.for("Jupyter.display"));
  const display =
    (fig as unknown as Record<symbol, () => Record<string, string>>)[Symbol.for("Jupyter.display")];
  assert.deepEqual(display.call(fig), { "image/svg+xml": fig.svg });
  assert.equal(String(fig), fig.svg);
});

/** Decodes PNG bytes to RGBA (pngjs wants a Node Buffer). */
function decodePng(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } {
  return pngjs.PNG.sync.read(Buffer.from(bytes));
}

/** Dark pixels (luminance < 100) in rows y0..y1 of a decoded RGBA PNG. */
function darkPixels(image: { width: number; data: Uint8Array }, y0: number, y1: number): number {
  let count = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = 0; x < image.width; x++) {
      const i = 4 * (y * image.width + x);
      if (0.299 * image.data[i] + 0.587 * image.data[i + 1] + 0.114 * image.data[i + 2] < 100) count++;
    }
  }
  return count;
}

Deno.test("PNG: decodes at the requested size, and the title's text is drawn", async () => {
  const spec = {
    xLabel: "step",
    yLabel: "loss",
    series: [{ name: "adam", x: steps, y: [2.3, 1.1, 0.6, 0.4, 0.3] }],
  };
  const png = await svgToPng(lineChart({ title: "Training loss", ...spec }), { width: 800 });
  const image = decodePng(png);
  assert.equal(image.width, 800);
  assert.equal(image.height, 500);
  // The title sits in the top 40 CSS px (50 px at this scale); nothing else is drawn there.
  const titled = darkPixels(image, 0, 50);
  assert.ok(titled > 300, `only ${titled} dark pixels where the title is`);
  const blank = decodePng(await svgToPng(lineChart({ title: "", ...spec }), { width: 800 }));
  assert.equal(darkPixels(blank, 0, 50), 0);
  // The default scale is 2×, for sharp figures in reports.
  const sharp = decodePng(await svgToPng(barChart({ title: "b", bars: [{ label: "x", values: [1] }] })));
  assert.deepEqual([sharp.width, sharp.height], [1280, 800]);
});

Deno.test("seed summaries: mean ± sample std, ragged curves", () => {
  assert.deepEqual(meanStd([1, 2, 3, NaN]), { mean: 2, std: 1, n: 3 });
  assert.deepEqual(meanStd([5]), { mean: 5, std: 0, n: 1 });
  assert.equal(meanStd([]).n, 0);
  // The second run stopped after step 10: step 20 averages one run only.
  const band = meanBand([{ x: [0, 10, 20], y: [4, 2, 1] }, { x: [0, 10], y: [2, 2] }]);
  assert.deepEqual(band.x, [0, 10, 20]);
  assert.deepEqual(band.y, [3, 2, 1]);
  assert.deepEqual(band.n, [2, 2, 1]);
  const widths = band.upper.map((u, i) => u - band.lower[i]);
  assert.ok(Math.abs(widths[0] - 2 * Math.SQRT2) < 1e-12);
  assert.deepEqual(widths.slice(1), [0, 0]);
});

const run = (
  name: string,
  config: Record<string, unknown>,
  rows: Record<string, unknown>[],
  summary = {},
): RunRecord => ({
  name,
  dir: name,
  config,
  rows,
  summary,
});

Deno.test("runs: torn lines and NaN strings, kinds, per-block families, final values", () => {
  assert.deepEqual(parseJsonl('{"step":0,"loss":2}\n[1]\n\n{"step":1,"loss":"NaN"}\n{"step":2,"lo'), [
    { step: 0, loss: 2 },
    { step: 1, loss: NaN },
  ]);
  const rows = [
    {
      run: "a",
      kind: "train",
      step: 0,
      time_s: 0.1,
      loss: 2.3,
      lr: 0.01,
      grad_norm: { embed: 1, head: 2 },
      note: "x",
    },
    { run: "a", kind: "eval", step: 0, time_s: 0.15, loss: 2.4, accuracy: 0.1 },
    {
      run: "a",
      kind: "train",
      step: 10,
      time_s: 0.2,
      loss: 1.2,
      grad_norm: { embed: 0.5 },
      "curvature.embed": 3,
    },
    { run: "a", kind: "train", step: 20, time_s: 0.3, loss: NaN, example_norms: [1, 2] },
  ];
  const a = run("adam_seed0", {}, rows);
  assert.deepEqual(metricKeys([a]), ["loss", "lr", "eval_loss", "eval_accuracy"]);
  assert.deepEqual(curveOf(a, "loss"), { x: [0, 10, 20], y: [2.3, 1.2, NaN] });
  assert.deepEqual(curveOf(a, "eval_loss"), { x: [0], y: [2.4] });
  assert.deepEqual(familyNames([a]), ["grad_norm", "curvature"]);
  assert.deepEqual(blockNames([a], "grad_norm"), ["embed", "head"]);
  assert.deepEqual(blockCurve(a, "grad_norm", "embed"), { x: [0, 10], y: [1, 0.5] });
  assert.deepEqual(blockCurve(a, "curvature", "embed"), { x: [10], y: [3] });
  // No summary: the last finite logged values.
  assert.deepEqual(finalMetrics(a), { loss: 1.2, lr: 0.01, eval_loss: 2.4, eval_accuracy: 0.1 });
  const summary = {
    run: "b",
    status: "diverged",
    steps: 20,
    final_loss: null,
    eval: { loss: 0.9, accuracy: 0.8 },
    tokens_per_s: 100,
    diverged: { step: 20, reason: "NaN" },
  };
  assert.deepEqual(finalMetrics(run("b", {}, rows, summary)), {
    "eval.loss": 0.9,
    "eval.accuracy": 0.8,
    tokens_per_s: 100,
  });
  assert.deepEqual(finalMetrics(run("c", {}, [], { status: "ok", final: { loss: 0.7 }, steps: 3 })), {
    loss: 0.7,
  });
});

Deno.test("runs group by setting: seeds together, labels tell same-optimizer settings apart", () => {
  const config = (lr: number, seed: number) => ({
    name: `adam_${lr}_${seed}`,
    seed,
    optimizer: { name: "adam", lr },
    steps: 10,
  });
  assert.equal(settingKey(run("x", config(0.1, 0), [])), settingKey(run("y", config(0.1, 1), [])));
  assert.notEqual(settingKey(run("x", config(0.1, 0), [])), settingKey(run("x", config(0.2, 0), [])));
  assert.equal(settingKey(run("sgd-seed-2", {}, [])), settingKey(run("sgd_seed7", {}, [])));
  const groups = groupRuns([
    run("a0", config(0.1, 0), []),
    run("b0", config(0.01, 0), []),
    run("s0", { seed: 0, optimizer: { name: "sgd", lr: 0.1 }, steps: 10 }, []),
    run("a1", config(0.1, 1), []),
    run("g", { group: "baseline", seed: 3 }, []),
  ]);
  assert.deepEqual(groups.map((g) => [g.name, g.runs.length]), [
    ["adam lr=0.1", 2],
    ["adam lr=0.01", 1],
    ["sgd", 1],
    ["baseline", 1],
  ]);
  assert.equal(new Set(groups.map((g) => g.color)).size, 4);
});
