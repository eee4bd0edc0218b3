/**
 * Matmul throughput (GFLOP/s) of gradscope's register-tiled kernel against jax-js
 * (`npm:@jax-js/jax@0.1.25`, WebGPU backend, a jitted `np.matmul`) on the same adapter in
 * the same run. Readback is excluded from both: each trial submits `iterations` products and
 * then waits once (`gpu.sync()` for ours, `blockUntilReady` for jax-js). Trials of the two
 * alternate and the best trial of each counts, so load from other processes hits both alike.
 *
 *   deno run -A bench/matmul.ts [--json] [--quick] [--variants] [--no-peer] [--trials N]
 *
 * `--quick` runs small shapes with few iterations (a smoke test); `--variants` adds rows for
 * the workgroup-memory (`staged`) path of the same kernel; `--json` prints one JSON line per
 * row: {"name","shape","ours_gflops","peer","peer_gflops","ratio"}.
 *
 * @module
 */

import { type Jax, loadPeer } from "./peer.ts";
import { getDevice, type Gpu } from "../src/gpu/device.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { Rng } from "../src/nn/rng.ts";
import { defaultMatmulTuning, type MatmulTuning, recordMatmul } from "../src/ops/matmul.ts";

/** One product C[M×N] = A[M×K]·B[K×N]. */
export interface MatmulShape {
  /** Rows of A and C. */
  M: number;
  /** Columns of A, rows of B. */
  K: number;
  /** Columns of B and C. */
  N: number;
}

/** Options of {@linkcode runMatmulBench}. */
export interface MatmulBenchOptions {
  /** Small shapes and few iterations, for smoke tests and demos. */
  quick?: boolean;
  /** Shapes to time (defaults: 256³, 512³, 1024³ and 2048×256·256×1024; quick: 128³, 256³). */
  shapes?: MatmulShape[];
  /** Products per trial; by default about 0.3 s of work (quick: 8). */
  iterations?: number;
  /** Trials per contender; the best counts (default 5, quick 2). */
  trials?: number;
  /** Time jax-js as well (default true). */
  peer?: boolean;
  /** Also time the `staged` (workgroup-memory) path of our kernel. */
  variants?: boolean;
  /** The device to use; one is requested (and destroyed) when absent. */
  gpu?: Gpu;
}

/** One row of the result table, also the `--json` line. */
export interface MatmulBenchRow {
  /** Which kernel of ours, e.g. `gradscope.direct`. */
  name: string;
  /** `MxK @ KxN`. */
  shape: string;
  /** Our throughput. */
  ours_gflops: number;
  /** The peer's name, or `unavailable`. */
  peer: string;
  /** The peer's throughput on the same shape, or null. */
  peer_gflops: number | null;
  /** ours / peer, or null. */
  ratio: number | null;
}

/** What {@linkcode runMatmulBench} measured. */
export interface MatmulBenchReport {
  /** Our adapter's description. */
  adapter: string;
  /** Why jax-js did not run, when it did not. */
  peerError: string | null;
  /** One row per shape (and per variant). */
  rows: MatmulBenchRow[];
}

const PEER = "jax-js@0.1.25";
const FULL_SHAPES: MatmulShape[] = [
  { M: 256, K: 256, N: 256 },
  { M: 512, K: 512, N: 512 },
  { M: 1024, K: 1024, N: 1024 },
  { M: 2048, K: 256, N: 1024 },
];
const QUICK_SHAPES: MatmulShape[] = [{ M: 128, K: 128, N: 128 }, { M: 256, K: 256, N: 256 }];

/** Times one contender: `trial(iterations)` resolves when the work is done. */
type Trial = (iterations: number) => Promise<void>;

const flops = (s: MatmulShape) => 2 * s.M * s.N * s.K;
const shapeName = (s: MatmulShape) => `${s.M}x${s.K} @ ${s.K}x${s.N}`;

function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: rows * cols }, () => rng.normal());
}

/** Throws unless a few entries of C match a float64 dot product: no speed without results. */
function spotCheck(name: string, s: MatmulShape, a: Float32Array, b: Float32Array, c: Float32Array): void {
  for (let t = 0; t < 8; t++) {
    const i = (t * 7919) % s.M, j = (t * 104729) % s.N;
    let want = 0, scale = 0;
    for (let k = 0; k < s.K; k++) {
      want += a[i * s.K + k] * b[k * s.N + j];
      scale += Math.abs(a[i * s.K + k] * b[k * s.N + j]);
    }
    if (Math.abs(c[i * s.N + j] - want) > 1e-4 * Math.max(1, scale)) {
      throw new Error(`${name} ${shapeName(s)}: C[${i}][${j}] = ${c[i * s.N + j]}, expected ${want}`);
    }
  }
}

/** Our contender: a recorded program replayed `iterations` times, then one sync. */
async function oursTrial(gpu: Gpu, s: MatmulShape, a: Float32Array, b: Float32Array, tuning: MatmulTuning) {
  const ta = Tensor.from(gpu, [s.M, s.K], a), tb = Tensor.from(gpu, [s.K, s.N], b);
  const tc = new Tensor(gpu, [s.M, s.N]);
  const program = await recordMatmul(gpu, { a: ta, b: tb, c: tc, M: s.M, N: s.N, K: s.K }, tuning);
  program.run();
  spotCheck(`gradscope.${tuning.path}`, s, a, b, await tc.read());
  const trial: Trial = async (iterations) => {
    for (let i = 0; i < iterations; i++) program.run();
    await gpu.sync();
  };
  const dispose = () => {
    program.destroy();
    [ta, tb, tc].forEach((t) => t.destroy());
  };
  return { trial, dispose };
}

type JaxModule = Jax;

/** The jax-js contender: a jitted matmul; each result is dispatched, then all are awaited. */
async function peerTrial(jax: JaxModule, s: MatmulShape, a: Float32Array, b: Float32Array) {
  const np = jax.numpy;
  const x = np.array(a).reshape([s.M, s.K]), y = np.array(b).reshape([s.K, s.N]);
  // deno-lint-ignore no-explicit-any
  const f = jax.jit((u: any, v: any) => np.matmul(u, v));
  const first = f(x.ref, y.ref);
  spotCheck(PEER, s, a, b, new Float32Array(await first.data()));
  const trial: Trial = async (iterations) => {
    const outs = Array.from({ length: iterations }, () => f(x.ref, y.ref));
    // blockUntilReady dispatches each lazy result and waits for it; nothing is read back.
    await Promise.all(outs.map((o) => o.blockUntilReady()));
    outs.forEach((o) => o.dispose());
  };
  const dispose = () => {
    x.dispose();
    y.dispose();
  };
  return { trial, dispose };
}

/** Best seconds per product over `trials` alternating trials of each contender. */
async function timeAlternating(contenders: Trial[], iterations: number, trials: number): Promise<number[]> {
  const best = contenders.map(() => Infinity);
  for (const t of contenders) await t(1); // warm-up: pipelines compiled, buffers resident
  for (let r = 0; r < trials; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const start = performance.now();
      await contenders[i](iterations);
      best[i] = Math.min(best[i], (performance.now() - start) / 1000 / iterations);
    }
  }
  return best;
}

/** The entry point the default did not pick, with the workgroup shape that suits it best. */
function otherPath(t: MatmulTuning): MatmulTuning {
  return t.path === "direct" ? { ...t, path: "staged", wgM: 8 } : { ...t, path: "direct", wgM: 2 };
}

/** Enough products per trial (about 0.3 s at 10 GFLOP/s; quick: 8) to hide the ~10 ms sync. */
function defaultIterations(s: MatmulShape, quick: boolean): number {
  return quick ? 8 : Math.max(3, Math.round(3e9 / flops(s)));
}

/**
 * Runs the benchmark and returns the rows (nothing is printed).
 *
 * @example
 * ```ts ignore
 * const report = await runMatmulBench({ quick: true });
 * console.log(report.adapter, report.rows);
 * ```
 */
export async function runMatmulBench(options: MatmulBenchOptions = {}): Promise<MatmulBenchReport> {
  const quick = options.quick ?? false;
  const shapes = options.shapes ?? (quick ? QUICK_SHAPES : FULL_SHAPES);
  const trials = options.trials ?? (quick ? 2 : 5);
  const gpu = options.gpu ?? await getDevice();
  const { jax, error: peerError } = await loadPeer(options.peer ?? true);
  const rows: MatmulBenchRow[] = [];
  try {
    for (const [index, s] of shapes.entries()) {
      const a = randomMatrix(s.M, s.K, 2 * index + 1), b = randomMatrix(s.K, s.N, 2 * index + 2);
      const tunings: MatmulTuning[] = [defaultMatmulTuning(gpu, s.M, s.N)];
      if (options.variants) tunings.push(otherPath(tunings[0]));
      const ours = [];
      for (const t of tunings) ours.push(await oursTrial(gpu, s, a, b, t));
      const peer = jax ? await peerTrial(jax, s, a, b) : null;
      const contenders = [...ours.map((o) => o.trial), ...(peer ? [peer.trial] : [])];
      const seconds = await timeAlternating(
        contenders,
        options.iterations ?? defaultIterations(s, quick),
        trials,
      );
      const peerGflops = peer ? flops(s) / seconds[seconds.length - 1] / 1e9 : null;
      tunings.forEach((t, i) => {
        const oursGflops = flops(s) / seconds[i] / 1e9;
        rows.push({
          name: `gradscope.${t.path}`,
          shape: shapeName(s),
          ours_gflops: oursGflops,
          peer: peer ? PEER : "unavailable",
          peer_gflops: peerGflops,
          ratio: peerGflops ? oursGflops / peerGflops : null,
        });
      });
      [...ours, ...(peer ? [peer] : [])].forEach((o) => o.dispose());
    }
  } finally {
    if (!options.gpu) gpu.destroy();
  }
  return { adapter: gpu.description, peerError, rows };
}

/** Formats the rows as an aligned text table. */
export function formatMatmulTable(report: MatmulBenchReport): string {
  const fmt = (x: number | null) => x === null ? "-" : x.toFixed(2);
  const table = [
    ["kernel", "shape", "ours GFLOP/s", "peer", "peer GFLOP/s", "ratio"],
    ...report.rows.map((
      r,
    ) => [r.name, r.shape, fmt(r.ours_gflops), r.peer, fmt(r.peer_gflops), fmt(r.ratio)]),
  ];
  const widths = table[0].map((_, j) => Math.max(...table.map((row) => row[j].length)));
  const lines = table.map((row) => row.map((cell, j) => cell.padEnd(widths[j])).join("  ").trimEnd());
  const header = [`adapter: ${report.adapter}`];
  if (report.peerError) header.push(`peer unavailable: ${report.peerError}`);
  return [...header, ...lines].join("\n");
}

if (import.meta.main) {
  const trialsAt = Deno.args.indexOf("--trials");
  const report = await runMatmulBench({
    quick: Deno.args.includes("--quick"),
    trials: trialsAt >= 0 ? Number(Deno.args[trialsAt + 1]) : undefined,
    variants: Deno.args.includes("--variants"),
    peer: !Deno.args.includes("--no-peer"),
  });
  if (Deno.args.includes("--json")) {
    for (const row of report.rows) console.log(JSON.stringify(row));
  } else {
    console.log(formatMatmulTable(report));
  }
}
