/**
 * What a report plots from runs: each run's group (its setting, over seeds), its metric
 * curves over `step`, its per-block families (`grad_norm: { <block>: n }`) and its final
 * metrics.
 *
 * Log rows are read loosely. A row's `kind` (default `"train"`) keeps series apart: an
 * eval row's `loss` becomes the metric `eval_loss`. A field holding an object of numbers is
 * a per-block family, as is a flattened key `<family>.<block>`.
 *
 * @module
 */

import { seriesColor } from "./palette.ts";
import type { LogRow, RunRecord } from "./results.ts";

/** Log fields that are coordinates or bookkeeping, not metrics to plot over steps. */
const NOT_METRICS = new Set(["step", "run", "kind", "seed", "time_s", "epoch"]);

/** A curve whose arrays can grow. */
type Series = { x: number[]; y: number[] };

/** A run's log, sorted into scalar metrics and per-block families. */
interface Observed {
  scalars: Map<string, Series>;
  families: Map<string, Map<string, Series>>;
}

const observed = new WeakMap<RunRecord, Observed>();

function push<K>(map: Map<K, Series>, key: K, step: number, value: number): void {
  const series = map.get(key) ?? { x: [], y: [] };
  series.x.push(step);
  series.y.push(value);
  map.set(key, series);
}

function pushBlock(o: Observed, family: string, block: string, step: number, value: number): void {
  const blocks = o.families.get(family) ?? new Map<string, Series>();
  push(blocks, block, step, value);
  o.families.set(family, blocks);
}

function observeRow(o: Observed, row: LogRow): void {
  if (typeof row.step !== "number") return;
  const step = row.step;
  const prefix = typeof row.kind === "string" && row.kind !== "train" ? `${row.kind}_` : "";
  for (const [key, value] of Object.entries(row)) {
    if (NOT_METRICS.has(key)) continue;
    const dot = key.indexOf(".");
    if (typeof value === "number" && dot > 0) {
      pushBlock(o, prefix + key.slice(0, dot), key.slice(dot + 1), step, value);
    } else if (typeof value === "number") push(o.scalars, prefix + key, step, value);
    else if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [block, v] of Object.entries(value)) {
        if (typeof v === "number") pushBlock(o, prefix + key, block, step, v);
      }
    }
  }
}

/** The run's log sorted into series, computed once per run. */
function observe(run: RunRecord): Observed {
  let o = observed.get(run);
  if (!o) {
    o = { scalars: new Map(), families: new Map() };
    for (const row of run.rows) observeRow(o, row);
    observed.set(run, o);
  }
  return o;
}

/** Keys of `maps`, in order of first appearance. */
function unionKeys(maps: Iterable<Map<string, unknown> | undefined>): string[] {
  const keys = new Set<string>();
  for (const map of maps) for (const key of map?.keys() ?? []) keys.add(key);
  return [...keys];
}

/**
 * The scalar metrics logged over `step`, in order of first appearance across `runs`
 * (bookkeeping fields and per-block families left out; non-train rows prefixed by their kind).
 *
 * @example
 * ```ts
 * import { metricKeys } from "./mod.ts";
 * const rows = [{ kind: "train", step: 0, loss: 2.3, grad_norm: { head: 1 } }, { kind: "eval", step: 0, loss: 2.4 }];
 * console.log(metricKeys([{ name: "r", dir: "", config: {}, rows, summary: {} }])); // ["loss", "eval_loss"]
 * ```
 */
export function metricKeys(runs: RunRecord[]): string[] {
  return unionKeys(runs.map((r) => observe(r).scalars));
}

/**
 * The per-block families logged (fields holding `{ <block>: number }`, or flattened
 * `<family>.<block>` keys), in order of first appearance.
 *
 * @example
 * ```ts
 * import { familyNames } from "./mod.ts";
 * const rows = [{ step: 0, grad_norm: { embed: 1 }, "curvature.embed": 2 }];
 * console.log(familyNames([{ name: "r", dir: "", config: {}, rows, summary: {} }])); // ["grad_norm", "curvature"]
 * ```
 */
export function familyNames(runs: RunRecord[]): string[] {
  return unionKeys(runs.map((r) => observe(r).families));
}

/**
 * The block names of `family`, in logged order.
 *
 * @example
 * ```ts
 * import { blockNames } from "./mod.ts";
 * const rows = [{ step: 0, grad_norm: { embed: 1, "blocks.0.mlp": 2 } }];
 * console.log(blockNames([{ name: "r", dir: "", config: {}, rows, summary: {} }], "grad_norm")); // ["embed", "blocks.0.mlp"]
 * ```
 */
export function blockNames(runs: RunRecord[], family: string): string[] {
  return unionKeys(runs.map((r) => observe(r).families.get(family)));
}

/**
 * A run's scalar metric `key` over `step` (empty when it never logged it).
 *
 * @example
 * ```ts
 * import { curveOf } from "./mod.ts";
 * const rows = [{ step: 0, loss: 2 }, { step: 1 }, { step: 2, loss: 1 }];
 * console.log(curveOf({ name: "r", dir: "", config: {}, rows, summary: {} }, "loss")); // { x: [0, 2], y: [2, 1] }
 * ```
 */
export function curveOf(run: RunRecord, key: string): { x: number[]; y: number[] } {
  return observe(run).scalars.get(key) ?? { x: [], y: [] };
}

/**
 * A run's value of `block` in `family` over `step` (empty when never logged).
 *
 * @example
 * ```ts
 * import { blockCurve } from "./mod.ts";
 * const rows = [{ step: 0, grad_norm: { head: 3 } }, { step: 5, grad_norm: { head: 2 } }];
 * console.log(blockCurve({ name: "r", dir: "", config: {}, rows, summary: {} }, "grad_norm", "head")); // { x: [0, 5], y: [3, 2] }
 * ```
 */
export function blockCurve(run: RunRecord, family: string, block: string): { x: number[]; y: number[] } {
  return observe(run).families.get(family)?.get(block) ?? { x: [], y: [] };
}

/** Summary fields that are not results to compare (counts, identities, the divergence record). */
const NOT_FINAL = new Set(["step", "steps", "run", "seed", "epoch", "diverged"]);

/** Numeric leaves of `value`, flattened with dotted names, skipping {@link NOT_FINAL} subtrees. */
function numericLeaves(value: Record<string, unknown>, prefix = ""): [string, number][] {
  return Object.entries(value).flatMap(([key, v]): [string, number][] => {
    if (!prefix && NOT_FINAL.has(key)) return [];
    const name = prefix + key;
    if (typeof v === "number") return [[name, v]];
    if (v && typeof v === "object" && !Array.isArray(v)) {
      return numericLeaves(v as Record<string, unknown>, name + ".");
    }
    return [];
  });
}

/**
 * A run's final metrics: the numeric fields of `summary.json` (of its `final`,
 * `final_metrics` or `metrics` object when it has one; nested objects give dotted names
 * such as `eval.loss`), else the last finite logged value of each scalar metric.
 *
 * @example
 * ```ts
 * import { finalMetrics } from "./mod.ts";
 * const summary = { status: "finished", steps: 300, final_loss: 0.3, eval: { loss: 0.4, accuracy: 0.9 } };
 * console.log(finalMetrics({ name: "r", dir: "", config: {}, rows: [], summary })); // { final_loss: 0.3, "eval.loss": 0.4, "eval.accuracy": 0.9 }
 * ```
 */
export function finalMetrics(run: RunRecord): Record<string, number> {
  const { summary } = run;
  const nested = [summary.final, summary.final_metrics, summary.metrics].find((v) =>
    v && typeof v === "object"
  );
  const fromSummary = numericLeaves((nested ?? summary) as Record<string, unknown>);
  if (fromSummary.length > 0) return Object.fromEntries(fromSummary);
  const last: Record<string, number> = {};
  for (const key of metricKeys([run])) {
    const finite = curveOf(run, key).y.filter(Number.isFinite);
    if (finite.length > 0) last[key] = finite[finite.length - 1];
  }
  return last;
}

/**
 * A run's status from `summary.json` (`"unknown"` when there is none).
 *
 * @example
 * ```ts
 * import { runStatus } from "./mod.ts";
 * console.log(runStatus({ name: "r", dir: "", config: {}, rows: [], summary: { status: "finished" } })); // "finished"
 * ```
 */
export function runStatus(run: RunRecord): string {
  return typeof run.summary.status === "string" ? run.summary.status : "unknown";
}

/** Config fields that differ between seeds of one setting, or only name the run. */
const NOT_SETTING = new Set(["seed", "name", "run", "group"]);

/** The run name without any `seed<N>` part. */
function unseeded(name: string): string {
  return name.replace(/[-_.]?seed[-_=]?\d+/i, "") || name;
}

function nameOf(value: unknown): string | undefined {
  if (typeof value === "string" && value) return value;
  if (value && typeof value === "object") {
    const named = value as Record<string, unknown>;
    return nameOf(named.name) ?? nameOf(named.type) ?? nameOf(named.kind);
  }
  return undefined;
}

/** Config leaves as `path → JSON value`, leaving out {@link NOT_SETTING} at the top level. */
function settingLeaves(value: unknown, prefix = ""): [string, string][] {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([key, v]) =>
      !prefix && NOT_SETTING.has(key) ? [] : settingLeaves(v, prefix ? `${prefix}.${key}` : key)
    );
  }
  return [[prefix, JSON.stringify(value)]];
}

/**
 * What identifies a run's setting: its config's `group` if set; else the whole config
 * except `seed` and `name` (runs that differ only in seed are one setting); else, with no
 * config, the run name without its `seed<N>` part.
 *
 * @example
 * ```ts
 * import { settingKey } from "./mod.ts";
 * const run = (seed: number) => ({ name: `r${seed}`, dir: "", config: { seed, optimizer: { name: "adam" } }, rows: [], summary: {} });
 * console.log(settingKey(run(0)) === settingKey(run(1))); // true
 * ```
 */
export function settingKey(run: RunRecord): string {
  const group = nameOf(run.config.group);
  if (group) return `group:${group}`;
  const leaves = settingLeaves(run.config);
  return leaves.length > 0 ? JSON.stringify(leaves.sort()) : `name:${unseeded(run.name)}`;
}

/** Runs of one setting (seeds), with the name and colour it has in every figure. */
export interface RunGroup {
  /** A short label: the optimizer, plus the config values that tell same-optimizer groups apart. */
  name: string;
  /** Its runs. */
  runs: RunRecord[];
  /** Its colour in every figure of a report. */
  color: string;
}

/** The base label of a group: `group`, the optimizer's name, or the run name without its seed. */
function baseLabel(run: RunRecord): string {
  const c = run.config;
  return nameOf(c.group) ?? nameOf(c.optimizer) ?? nameOf(c.optim) ?? unseeded(run.name);
}

/** Labels that tell apart groups sharing a base label, by up to three config values that differ. */
function labels(groups: RunRecord[][]): string[] {
  const bases = groups.map((g) => baseLabel(g[0]));
  return groups.map((g, i) => {
    const twins = groups.filter((_, j) => bases[j] === bases[i]);
    if (twins.length === 1) return bases[i];
    const mine = new Map(settingLeaves(g[0].config));
    const differing = [...mine].filter(([path, v]) =>
      twins.some((t) => new Map(settingLeaves(t[0].config)).get(path) !== v)
    );
    const parts = differing.slice(0, 3).map(([path, v]) =>
      `${path.split(".").at(-1)}=${v.replace(/^"|"$/g, "")}`
    );
    return parts.length > 0 ? `${bases[i]} ${parts.join(" ")}` : `${bases[i]} #${twins.indexOf(g) + 1}`;
  });
}

/**
 * `runs` grouped by {@link settingKey}, in order of first appearance; each group is one
 * setting over its seeds.
 *
 * @example
 * ```ts
 * import { groupRuns } from "./mod.ts";
 * const run = (lr: number, seed: number) => ({
 *   name: `adam_lr${lr}_seed${seed}`, dir: "", config: { seed, optimizer: { name: "adam", lr } }, rows: [], summary: {},
 * });
 * const groups = groupRuns([run(0.1, 0), run(0.01, 0), run(0.1, 1)]);
 * console.log(groups.map((g) => [g.name, g.runs.length])); // [["adam lr=0.1", 2], ["adam lr=0.01", 1]]
 * ```
 */
export function groupRuns(runs: RunRecord[]): RunGroup[] {
  const byKey = new Map<string, RunRecord[]>();
  for (const run of runs) {
    const key = settingKey(run);
    byKey.set(key, [...(byKey.get(key) ?? []), run]);
  }
  const groups = [...byKey.values()];
  const names = labels(groups);
  return groups.map((members, i) => ({ name: names[i], runs: members, color: seriesColor(i) }));
}
