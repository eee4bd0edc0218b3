/**
 * The theory side of gradient heterogeneity (Tomihari & Sato 2025), in two measurements.
 *
 * 1. A block-diagonal quadratic f(x) = ½ Σ_b s_b x_bᵀ A_b x_b (CPU, float64): K blocks, each
 *    A_b a random rotation of eigenvalues in [1, 4], block scales s_b log-spaced from 1 to R,
 *    and one fixed start x₀ ~ N(0, I), so the block gradient norms at x₀ spread by about R.
 *    For R from 1 to 1000, the iterations GD, SignGD and Adam (full batch, β = (0.9, 0.999))
 *    need to bring f below 10⁻³·f(x₀), each at its best step size from a log grid. GD's step
 *    must respect the largest block's curvature, so its cost grows with R; the sign of the
 *    gradient (and Adam's ratio) does not depend on the block scales at all, so SignGD's and
 *    Adam's trajectories are the same for every R.
 * 2. Per-block gradient norm against per-block top Hessian eigenvalue λ_max of a small Post-LN
 *    transformer after a few training steps (power iteration on finite-difference
 *    Hessian-vector products on the GPU model), with their Spearman rank correlation.
 *
 * Run: `deno run --allow-read --allow-write --allow-env scripts/heterogeneity_theory.ts [--smoke | --full] [--out DIR]`
 *
 * @module
 */

import { getDevice } from "../src/gpu/device.ts";
import { Rng } from "../src/nn/rng.ts";
import { lineChart } from "../src/plot/line_chart.ts";
import { scatterPlot } from "../src/plot/scatter.ts";
import { blockTopEigenvalues } from "../src/stats/hessian.ts";
import { blockGradientNorms, maxMinRatio, spearmanCorrelation } from "../src/stats/heterogeneity.ts";
import { train } from "../src/train/loop.ts";
import { formatTable } from "../src/train/sweep.ts";
import {
  bySize,
  type ExperimentArgs,
  experimentArgs,
  type ExperimentResult,
  type ExperimentSize,
  writeSummary,
} from "../src/experiments/cli.ts";
import { saveFigure } from "../src/experiments/figures.ts";
import { probeModel, runParams } from "../src/experiments/probe.ts";

// ---- 1. the block-diagonal quadratic ----------------------------------------------------

/** f(x) = ½ Σ_b s_b x_bᵀ A_b x_b with dense symmetric n×n blocks A_b (row-major). */
interface Quadratic {
  blocks: number;
  n: number;
  /** A_b, each n·n, unscaled. */
  a: Float64Array[];
  /** s_b. */
  scales: Float64Array;
}

/** A random orthogonal n×n matrix (Gram–Schmidt on Gaussian columns), row-major. */
function randomRotation(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += v[i] * q[i * n + k];
      for (let i = 0; i < n; i++) v[i] -= dot * q[i * n + k];
    }
    const norm = Math.hypot(...v);
    for (let i = 0; i < n; i++) q[i * n + j] = v[i] / norm;
  }
  return q;
}

/** Q diag(λ) Qᵀ with λ log-spaced in [1, 4]. */
function blockMatrix(n: number, rng: Rng): Float64Array {
  const q = randomRotation(n, rng);
  const lambda = Float64Array.from({ length: n }, (_, i) => 4 ** (n > 1 ? i / (n - 1) : 0));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * lambda[k] * q[j * n + k];
      a[i * n + j] = s;
    }
  }
  return a;
}

function quadratic(blocks: number, n: number, heterogeneity: number, seed: number): Quadratic {
  const rng = new Rng(seed);
  const a = Array.from({ length: blocks }, () => blockMatrix(n, rng));
  const scales = Float64Array.from(
    { length: blocks },
    (_, b) => heterogeneity ** (blocks > 1 ? b / (blocks - 1) : 0),
  );
  return { blocks, n, a, scales };
}

/** The gradient into `g`; returns f(x). */
function lossAndGradient(q: Quadratic, x: Float64Array, g: Float64Array): number {
  const { n } = q;
  let f = 0;
  for (let b = 0; b < q.blocks; b++) {
    const a = q.a[b], s = q.scales[b], o = b * n;
    for (let i = 0; i < n; i++) {
      let ax = 0;
      for (let j = 0; j < n; j++) ax += a[i * n + j] * x[o + j];
      g[o + i] = s * ax;
      f += 0.5 * x[o + i] * s * ax;
    }
  }
  return f;
}

type Method = "gd" | "signGd" | "adam";

/** Iterations until f ≤ target·f(x₀) (Infinity if not within `cap`, or if it blows up). */
function iterationsToTarget(
  q: Quadratic,
  x0: Float64Array,
  method: Method,
  eta: number,
  target: number,
  cap: number,
) {
  const x = x0.slice(), g = new Float64Array(x.length);
  const m = new Float64Array(x.length), v = new Float64Array(x.length);
  const f0 = lossAndGradient(q, x, g);
  for (let t = 1; t <= cap; t++) {
    for (let i = 0; i < x.length; i++) {
      if (method === "gd") x[i] -= eta * g[i];
      else if (method === "signGd") x[i] -= eta * Math.sign(g[i]);
      else {
        m[i] = 0.9 * m[i] + 0.1 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
        x[i] -= eta * (m[i] / (1 - 0.9 ** t)) / (Math.sqrt(v[i] / (1 - 0.999 ** t)) + 1e-8);
      }
    }
    const f = lossAndGradient(q, x, g);
    if (f <= target * f0) return t;
    if (!(f < 1e6 * f0)) return Infinity;
  }
  return Infinity;
}

interface QuadraticRow {
  heterogeneity: number;
  gradientMaxMin: number;
  methods: Record<Method, { iterations: number; eta: number }>;
}

export function quadraticSweep(size: ExperimentSize): QuadraticRow[] {
  const levels = bySize(size, {
    smoke: [1, 100],
    default: [1, 3, 10, 30, 100, 300, 1000],
    full: [1, 3, 10, 30, 100, 300, 1000, 3000, 10000],
  });
  const blocks = 8, n = bySize(size, { smoke: 4, default: 8, full: 16 });
  const cap = bySize(size, { smoke: 500, default: 20000, full: 200000 });
  // Step sizes 1e-5 … 10, log-spaced.
  const count = bySize(size, { smoke: 11, default: 31, full: 61 });
  const etas = Array.from({ length: count }, (_, i) => 10 ** (-5 + (6 * i) / (count - 1)));
  const rng = new Rng(7);
  const x0 = Float64Array.from({ length: blocks * n }, () => rng.normal());
  return levels.map((h) => {
    const q = quadratic(blocks, n, h, 1);
    const g = new Float64Array(x0.length);
    lossAndGradient(q, x0, g);
    const ranges = Array.from({ length: blocks }, (_, b) => [b * n, (b + 1) * n] as [number, number]);
    const best = (method: Method) => {
      let found = { iterations: Infinity, eta: NaN };
      for (const eta of etas) {
        const iterations = iterationsToTarget(q, x0, method, eta, 1e-3, Math.min(cap, found.iterations));
        if (iterations < found.iterations) found = { iterations, eta };
      }
      return found;
    };
    return {
      heterogeneity: h,
      gradientMaxMin: maxMinRatio(blockGradientNorms(g, ranges)),
      methods: { gd: best("gd"), signGd: best("signGd"), adam: best("adam") },
    };
  });
}

// ---- 2. gradient norm against λ_max per block of a small transformer ---------------------

function transformerConfig(size: ExperimentSize, batchSize: number) {
  return {
    seed: 0,
    model: {
      dModel: bySize(size, { smoke: 16, default: 32, full: 64 }),
      nHeads: 2,
      nLayers: bySize(size, { smoke: 1, default: 2, full: 4 }),
      dMlp: bySize(size, { smoke: 32, default: 128, full: 256 }),
      seqLen: bySize(size, { smoke: 8, default: 16, full: 32 }),
      norm: "post",
      causal: true,
      input: { kind: "tokens", vocabSize: 256 },
      head: { kind: "lm", tied: false },
    },
    data: { dataset: "moby_dick", tokenizer: "bytes", batch_size: batchSize },
    optimizer: { name: "adam", lr: 3e-3 },
    steps: bySize(size, { smoke: 2, default: 50, full: 200 }),
    metrics_every: bySize(size, { smoke: 1, default: 10, full: 50 }),
    eval_every: 0,
  };
}

interface BlockPoint {
  block: string;
  gradNorm: number;
  lambdaMax: number;
  converged: boolean;
}

async function blockCurvature(args: ExperimentArgs): Promise<BlockPoint[]> {
  const gpu = await getDevice();
  try {
    const dir = `${args.out}/transformer`;
    const config = transformerConfig(args.size, 16);
    await train(config, { dir, gpu, onProgress: () => {} });
    // A larger batch than training for a steadier loss surface; the same parameters.
    const probeConfig = transformerConfig(args.size, bySize(args.size, { smoke: 4, default: 64, full: 128 }));
    const probe = await probeModel(gpu, probeConfig, { dataSeed: 99 });
    try {
      probe.model.params.write(await runParams(dir, probe.model.layout));
      probe.model.setBatch(probe.batcher.next());
      const eig = await blockTopEigenvalues(probe.model, {
        iterations: bySize(args.size, { smoke: 2, default: 12, full: 30 }),
        tolerance: 1e-3,
        blocks: args.size === "smoke" ? ["head.weight", "embed.tokens.weight"] : undefined,
      });
      // blockTopEigenvalues leaves the gradient at the original parameters on this batch.
      const grad = await probe.model.grads.read();
      const layout = probe.model.layout;
      return eig.map((e) => {
        const block = layout.get(e.name);
        return {
          block: e.name,
          gradNorm: blockGradientNorms(grad, [[block.offset, block.offset + block.size]])[0],
          lambdaMax: e.eigenvalue,
          converged: e.converged,
        };
      });
    } finally {
      probe.destroy();
    }
  } finally {
    gpu.destroy();
  }
}

// ---- output ----------------------------------------------------------------------------

const METHODS: Method[] = ["gd", "signGd", "adam"];

function fmtIterations(n: number): string {
  return Number.isFinite(n) ? String(n) : "> cap";
}

/**
 * Runs the experiment and returns its figures, report directories and summary path.
 *
 * @example
 * ```ts ignore
 * const result = await main({ size: "smoke", out: "/tmp/heterogeneity_theory" });
 * ```
 */
export async function main(args: ExperimentArgs): Promise<ExperimentResult> {
  const started = performance.now();
  const rows = quadraticSweep(args.size);
  console.log(
    `block-diagonal quadratic (${((performance.now() - started) / 1000).toFixed(1)} s): ` +
      "iterations to f ≤ 1e-3·f(x₀) at the best step size of a log grid",
  );
  console.log(formatTable(
    ["R (block scale ratio)", "grad max/min at x0", ...METHODS.map((m) => `${m} iters (eta)`)],
    rows.map((r) => [
      String(r.heterogeneity),
      r.gradientMaxMin.toFixed(1),
      ...METHODS.map((m) => `${fmtIterations(r.methods[m].iterations)} (${r.methods[m].eta.toPrecision(2)})`),
    ]),
  ));
  const points = await blockCurvature(args);
  // |λ| of the largest-magnitude eigenvalue is ‖H_bb‖₂, the block's smoothness constant.
  const norms = points.map((p) => p.gradNorm);
  const rho = spearmanCorrelation(norms, points.map((p) => Math.abs(p.lambdaMax)));
  const rhoSigned = spearmanCorrelation(norms, points.map((p) => p.lambdaMax));
  console.log(
    `\nper-block gradient norm vs top Hessian eigenvalue (${points.length} blocks): ` +
      `Spearman ρ = ${rho.toFixed(3)} with |λ_max| (${rhoSigned.toFixed(3)} with the signed value)`,
  );
  console.log(formatTable(
    ["block", "‖g_b‖", "λ_max", "converged"],
    points.map((
      p,
    ) => [p.block, p.gradNorm.toExponential(2), p.lambdaMax.toExponential(2), String(p.converged)]),
  ));
  const iterationsFigure = lineChart({
    title: "Iterations to 1e-3 of the initial loss, block-diagonal quadratic",
    xLabel: "block scale ratio R (≈ gradient max/min at x₀)",
    yLabel: "iterations (best step size)",
    xLog: true,
    yLog: true,
    series: METHODS.map((m) => ({
      name: m,
      x: rows.map((r) => r.heterogeneity),
      y: rows.map((r) => r.methods[m].iterations),
    })),
  });
  // Only the extremes are named: the middle of the cloud is too dense to read.
  const byNorm = [...points].sort((a, b) => b.gradNorm - a.gradNorm).map((p) => p.block);
  const labelled = new Set([...byNorm.slice(0, 5), ...byNorm.slice(-3)]);
  const scatterFigure = scatterPlot({
    title: `Gradient norm vs λ_max per block (Post-LN LM), Spearman ρ = ${rho.toFixed(2)}`,
    xLabel: "‖H_bb‖₂ = |λ_max| (largest-magnitude eigenvalue of the block Hessian)",
    yLabel: "‖g_b‖",
    logLog: true,
    showLabels: true,
    points: points.map((p) => ({
      x: Math.abs(p.lambdaMax),
      y: p.gradNorm,
      label: labelled.has(p.block) ? p.block.replace(/\.weight$/, ".w").replace(/\.bias$/, ".b") : undefined,
      group: p.lambdaMax >= 0 ? "λ_max > 0" : "λ_max < 0",
    })),
  });
  const figures = [
    await saveFigure(args.out, "quadratic_iterations", iterationsFigure),
    await saveFigure(args.out, "grad_norm_vs_lambda_max", scatterFigure),
  ];
  const summary = await writeSummary(args.out, {
    experiment: "heterogeneity_theory",
    size: args.size,
    quadratic: rows,
    blocks: points,
    spearman_abs_lambda: rho,
    spearman_signed_lambda: rhoSigned,
  });
  return { name: "heterogeneity_theory", figures, reportDirs: [], summary };
}

if (import.meta.main) await main(experimentArgs("heterogeneity_theory"));
