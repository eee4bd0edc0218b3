/**
 * Progress of a training run: the event the loop reports at every metrics reading,
 * evaluation and at the end, and a console display for it (a bar redrawn in place with `\r`
 * on a terminal, plain periodic lines otherwise).
 *
 * @module
 */

import process from "node:process";

/** A progress event. */
export interface Progress {
  /** The run's name. */
  run: string;
  /** What just happened: a metrics reading, an evaluation, or the end of the run. */
  phase: "train" | "eval" | "done";
  /** Steps taken. */
  step: number;
  /** Steps in the run. */
  steps: number;
  /** The latest training loss read back (null before the first reading). */
  loss: number | null;
  /** Training throughput since the previous reading (null until measurable). */
  tokensPerSecond: number | null;
  /** Estimated seconds to the end (null until measurable). */
  etaSeconds: number | null;
  /** Seconds since the run started. */
  elapsedSeconds: number;
  /** The latest validation loss and accuracy, once evaluated. */
  eval?: { loss: number; accuracy: number };
  /** With phase `"done"`: how the run ended. */
  status?: "finished" | "diverged";
}

/** Receives progress events. */
export type ProgressCallback = (progress: Progress) => void;

/** `m:ss` or `h:mm:ss`. */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}

/** 1234 → "1.2k", 2.5e6 → "2.5M". */
function compact(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(1)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

/**
 * One line describing a progress event, with a bar of `width` characters (0: no bar).
 *
 * @example
 * ```ts
 * import { formatProgress } from "./mod.ts";
 * console.log(formatProgress({
 *   run: "copy", phase: "train", step: 50, steps: 100, loss: 1.5, tokensPerSecond: 12000,
 *   etaSeconds: 30, elapsedSeconds: 30,
 * }, 10));
 * // copy [#####.....] 50/100 loss 1.5000 12.0k tok/s ETA 0:30
 * ```
 */
export function formatProgress(p: Progress, width = 20): string {
  const parts = [p.run];
  if (width > 0) {
    const filled = Math.round(width * Math.min(1, p.step / Math.max(1, p.steps)));
    parts.push(`[${"#".repeat(filled)}${".".repeat(width - filled)}]`);
  }
  parts.push(`${p.step}/${p.steps}`);
  if (p.loss !== null) parts.push(`loss ${p.loss.toFixed(4)}`);
  if (p.eval) parts.push(`eval ${p.eval.loss.toFixed(4)} acc ${(100 * p.eval.accuracy).toFixed(1)}%`);
  if (p.tokensPerSecond !== null) parts.push(`${compact(p.tokensPerSecond)} tok/s`);
  if (p.phase === "done") parts.push(`${p.status ?? "done"} in ${clock(p.elapsedSeconds)}`);
  else if (p.etaSeconds !== null) parts.push(`ETA ${clock(p.etaSeconds)}`);
  return parts.join(" ");
}

/** Options of {@linkcode consoleProgress}. */
export interface ConsoleProgressOptions {
  /** Redraw one line in place; default: whether stdout is a terminal. */
  tty?: boolean;
  /** Where text goes; default stdout. */
  write?: (text: string) => void;
  /** Without a terminal, print a line each time another `1/lines` of the run is done (default 10). */
  lines?: number;
}

/**
 * A progress display: on a terminal one bar redrawn with `\r`, ended by a newline when the
 * run ends; otherwise a plain line at every tenth of the run, at each evaluation and at the end.
 *
 * @example
 * ```ts
 * import { consoleProgress } from "./mod.ts";
 * const lines: string[] = [];
 * const show = consoleProgress({ tty: false, write: (text) => lines.push(text) });
 * show({ run: "r", phase: "done", step: 3, steps: 3, loss: 0.5, tokensPerSecond: null, etaSeconds: null,
 *   elapsedSeconds: 2, status: "finished" });
 * console.log(lines); // ["r 3/3 loss 0.5000 finished in 0:02\n"]
 * ```
 */
export function consoleProgress(options: ConsoleProgressOptions = {}): ProgressCallback {
  const tty = options.tty ?? Boolean(process.stdout.isTTY);
  const write = options.write ?? ((text: string) => process.stdout.write(text));
  const lines = options.lines ?? 10;
  let printed = 0; // milestones printed so far, in plain mode
  return (p) => {
    if (tty) {
      write(`\r${formatProgress(p)}\x1b[K${p.phase === "done" ? "\n" : ""}`);
      return;
    }
    const milestone = Math.floor((lines * p.step) / Math.max(1, p.steps));
    if (p.phase === "train" && milestone <= printed) return;
    printed = Math.max(printed, milestone);
    write(`${formatProgress(p, 0)}\n`);
  };
}
