/**
 * Per-example gradient statistics computed inside the weight-gradient pass: the mean gradient,
 * the per-coordinate sum of squares and sum of signs over the examples, and each example's
 * squared gradient norm per parameter block, without ever materialising a B×P buffer.
 *
 * Example b's gradient of a block is G_b = s · (its share of the batch gradient), where s is
 * the caller's scale: the model's dy already carries the loss mean's 1/B, so s = B gives
 * ∇loss_b. Every output is optional and costs nothing when not requested; the reductions run
 * in a fixed order (no float atomics), so results are bitwise reproducible.
 *
 * @module
 */

import linearCode from "../../kernels/per_example.wgsl" with { type: "text" };
import directCode from "../../kernels/per_example_direct.wgsl" with { type: "text" };
import stagedCode from "../../kernels/per_example_staged.wgsl" with { type: "text" };
import columnCode from "../../kernels/per_example_column.wgsl" with { type: "text" };
import normsCode from "../../kernels/per_example_norms.wgsl" with { type: "text" };
import { bindingElements, requireElements, requirePositive } from "../gpu/check.ts";
import type { Gpu } from "../gpu/device.ts";
import { type Binding, grid1d, packParams, Program } from "../gpu/dispatch.ts";
import type { KernelSource } from "../gpu/kernel.ts";
import { Tensor } from "../gpu/tensor.ts";

/** The linear kernels: shared declarations followed by each path's code. */
const LINEAR: Record<PerExampleTuning["path"], KernelSource> = {
  direct: { name: "per_example_direct", code: linearCode + directCode },
  staged: { name: "per_example_staged", code: linearCode + stagedCode },
};
const COLUMN: KernelSource = { name: "per_example_column", code: columnCode };
const NORMS: KernelSource = { name: "per_example_norms", code: normsCode };

/** Rows and columns of dW one invocation of each linear kernel owns. */
const LINEAR_TILE = { direct: { rows: 32, cols: 16 }, staged: { rows: 4, cols: 4 } } as const;
/** Columns per workgroup of the column kernel (its `WG`). */
const COLUMN_WG = 64;

/**
 * Where the statistics go; each is optional. For a block whose examples' gradients are
 * G_1 … G_B (each of P elements), over b:
 * - `mean` [P]: (1/B) Σ_b G_b, the ordinary gradient (e.g. a slice of the flat grads);
 * - `sumSq` [P]: Σ_b G_b ⊙ G_b;
 * - `sumSign` [P]: Σ_b sign(G_b), with sign(0) = 0;
 * - `norms`: ‖G_b‖² into `table[b · nCols + col]` of a row-major [B, nCols] table, so one
 *   table holds every block's per-example squared norms.
 *
 * The outputs must be distinct buffers, and distinct from the inputs (WebGPU forbids
 * binding a buffer twice when one binding is writable).
 */
export interface StatOutputs {
  /** Mean over the examples. */
  mean?: Binding;
  /** Sum of squares over the examples. */
  sumSq?: Binding;
  /** Sum of signs over the examples. */
  sumSign?: Binding;
  /** Per-example squared norms of the whole block, one column of a [B, nCols] table. */
  norms?: NormColumn;
}

/** One column of a row-major [B, nCols] table of per-example squared norms. */
export interface NormColumn {
  /** The table, at least B · nCols elements. */
  table: Tensor;
  /** This block's column. */
  col: number;
  /** Columns of the table (blocks it holds). */
  nCols: number;
}

/**
 * How the linear kernel is launched. `direct`: each invocation owns a 32×16 block of dW and
 * reads its operands straight from the storage buffers (fastest on CPU adapters such as
 * lavapipe). `staged`: each invocation owns a 4×4 block and the workgroup copies `bk` rows at
 * a time through workgroup memory (the usual layout on discrete GPUs). Workgroups hold
 * wgM × wgN invocations.
 */
export interface PerExampleTuning {
  /** Which entry point. */
  path: "direct" | "staged";
  /** Invocations per workgroup along nIn. */
  wgM: number;
  /** Invocations per workgroup along nOut. */
  wgN: number;
  /** Rows per workgroup-memory tile (staged only). */
  bk: number;
}

/** What {@linkcode recordPerExampleLinearGrad} differentiates: y = x·W (+ b) over R = B·T rows. */
export interface PerExampleLinearArgs {
  /** Layer input [B·T, nIn], row-major. */
  x: Binding;
  /** Gradient of the layer output [B·T, nOut], row-major. */
  dy: Binding;
  /** Examples B. */
  batch: number;
  /** Consecutive rows per example T. */
  rowsPerExample: number;
  /** Input features (rows of W). */
  nIn: number;
  /** Output features (columns of W). */
  nOut: number;
  /** s in G_b = s · x_bᵀ·dy_b (default 1). */
  scale?: number;
}

/** What {@linkcode recordPerExampleColumnSum} sums: G_b[c] = s · Σ_{t ∈ b} dy[t, c] (· v[t, c]). */
export interface PerExampleColumnSumArgs {
  /** [B·T, n], row-major: the output gradient of a bias or LayerNorm. */
  dy: Binding;
  /** Optional [B·T, n] factor, e.g. LayerNorm's normalised input x̂ for γ. */
  v?: Binding;
  /** Examples B. */
  batch: number;
  /** Consecutive rows per example T. */
  rowsPerExample: number;
  /** Columns (parameters of the block). */
  n: number;
  /** s (default 1). */
  scale?: number;
}

/** What {@linkcode recordPerExampleDirect} reduces: G_b = s · g[b, :]. */
export interface PerExampleDirectArgs {
  /** Each example's gradient, [B, n] row-major (e.g. position-embedding rows dx[b, t, :]). */
  g: Binding;
  /** Examples B. */
  batch: number;
  /** Elements of one example's gradient. */
  n: number;
  /** s (default 1). */
  scale?: number;
}

function bufferOf(b: Binding): GPUBuffer {
  return "tensor" in b ? b.tensor.buffer : "buffer" in b ? b.buffer : b;
}

/** Throws unless every output is large enough and no two bindings share a buffer. */
function checkOutputs(op: string, inputs: Binding[], out: StatOutputs, p: number, batch: number): void {
  const named: [string, Binding][] = [];
  for (const name of ["mean", "sumSq", "sumSign"] as const) {
    const b = out[name];
    if (b) {
      requireElements(op, name, b, p);
      named.push([name, b]);
    }
  }
  if (out.norms) {
    const { table, col, nCols } = out.norms;
    requirePositive(op, { nCols });
    if (!Number.isInteger(col) || col < 0 || col >= nCols) {
      throw new RangeError(`gradscope: ${op}: norms.col = ${col} is not a column of ${nCols}`);
    }
    requireElements(op, "norms.table", table, batch * nCols);
    named.push(["norms.table", table]);
  }
  const seen = new Map<GPUBuffer, string>(inputs.map((b) => [bufferOf(b), "an input"]));
  for (const [name, b] of named) {
    const other = seen.get(bufferOf(b));
    if (other) throw new RangeError(`gradscope: ${op}: '${name}' shares a buffer with ${other}`);
    seen.set(bufferOf(b), `'${name}'`);
  }
}

/** Override constants saying which statistics the kernel computes. */
function wants(out: StatOutputs): Record<string, number> {
  return {
    WANT_MEAN: Number(out.mean !== undefined),
    WANT_SUMSQ: Number(out.sumSq !== undefined),
    WANT_SIGN: Number(out.sumSign !== undefined),
    WANT_NORMS: Number(out.norms !== undefined),
  };
}

/** The three scales applied at the store: s/B (mean), s² (squares), sign(s) (signs). */
function scales(scale: number, batch: number): number[] {
  if (!Number.isFinite(scale)) {
    throw new RangeError(`gradscope: per-example scale must be finite, got ${scale}`);
  }
  return [scale / batch, scale * scale, Math.sign(scale)];
}

/** Uniform parameters: u32 fields followed by f32 fields. */
function uniforms(ints: number[], floats: number[]): ArrayBuffer {
  return packParams([...ints, ...floats], [...ints.map(() => false), ...floats.map(() => true)]);
}

/**
 * The output bindings in kernel order (mean, sumSq, sumSign, partials), with a small owned
 * scratch tensor standing in for each one not requested, so every binding is distinct.
 */
function outputBindings(program: Program, gpu: Gpu, out: StatOutputs, partials: number): Binding[] {
  const spare = (label: string) => program.own(new Tensor(gpu, [4], "f32", `per_example.${label}`));
  return [
    out.mean ?? spare("no_mean"),
    out.sumSq ?? spare("no_sumsq"),
    out.sumSign ?? spare("no_sumsign"),
    program.own(new Tensor(gpu, [out.norms ? Math.max(1, partials) : 4], "f32", "per_example.partials")),
  ];
}

/**
 * A binding for the kernel's vec4 view of an input. WebGPU needs at least 16 bytes there; an
 * input shorter than one quad is never read as quads, so a small scratch tensor stands in.
 */
function quadView(program: Program, gpu: Gpu, input: Binding): Binding {
  return bindingElements(input) >= 4
    ? input
    : program.own(new Tensor(gpu, [4], "f32", "per_example.no_quads"));
}

/** Appends the dispatch that reduces the norm partials [B, nTiles] into the norm table. */
async function addNormsPass(
  program: Program,
  partials: Binding,
  norms: NormColumn,
  nTiles: number,
  batch: number,
  scale: number,
): Promise<void> {
  await program.add({
    source: NORMS,
    entryPoint: "norms",
    params: uniforms([nTiles, batch, norms.nCols, norms.col], [scale * scale]),
    buffers: [partials, norms.table],
    workgroups: grid1d(batch, 1),
  });
}

/** Records `fill` into a fresh program, destroying it if recording fails. */
async function build(gpu: Gpu, fill: (program: Program) => Promise<void>): Promise<Program> {
  const program = new Program(gpu);
  try {
    await fill(program);
  } catch (error) {
    program.destroy();
    throw error;
  }
  return program;
}

/**
 * The launch shape used when none is given: `direct` with 1×8 invocations on CPU (fallback)
 * adapters, `staged` with 16×16 elsewhere, shrunk to the matrix so small layers waste little.
 *
 * @example
 * ```ts ignore
 * defaultPerExampleTuning(gpu, 256, 1024); // { path: "direct", wgM: 1, wgN: 8, bk: 16 } on lavapipe
 * ```
 */
export function defaultPerExampleTuning(gpu: Gpu, nIn: number, nOut: number): PerExampleTuning {
  const path = gpu.adapter.info.isFallbackAdapter ? "direct" : "staged";
  const tile = LINEAR_TILE[path];
  const most = path === "direct" ? [1, 8] : [16, 16];
  return {
    path,
    wgM: Math.min(most[0], Math.ceil(nIn / tile.rows)),
    wgN: Math.min(most[1], Math.ceil(nOut / tile.cols)),
    bk: 16,
  };
}

/**
 * Records the weight gradient of y = x·W over B examples of T rows with per-example
 * statistics: G_b = s · x_bᵀ·dy_b ([nIn, nOut], row-major) for b = 0 … B−1, where x_b, dy_b
 * are rows [b·T, (b+1)·T). Each invocation accumulates a block of G_b in registers,
 * then folds it into the running statistics: the same multiply-adds as the plain xᵀ·dy.
 * With `out.norms`, a second small dispatch adds the per-tile norm partials in a fixed order.
 * With only `out.mean`, this is the plain weight gradient scaled by s/B.
 *
 * @param out which statistics to compute, and where (see {@linkcode StatOutputs})
 * @param tuning launch shape (default {@linkcode defaultPerExampleTuning})
 * @example
 * ```ts
 * import { getDevice, recordPerExampleLinearGrad, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * // Two examples of one row each: G_0 = [1]ᵀ·[2], G_1 = [3]ᵀ·[4].
 * const x = Tensor.from(gpu, [2, 1], [1, 3]), dy = Tensor.from(gpu, [2, 1], [2, 4]);
 * const mean = new Tensor(gpu, [1]), sumSq = new Tensor(gpu, [1]), table = new Tensor(gpu, [2, 1]);
 * const program = await recordPerExampleLinearGrad(
 *   gpu,
 *   { x, dy, batch: 2, rowsPerExample: 1, nIn: 1, nOut: 1, scale: 1 },
 *   { mean, sumSq, norms: { table, col: 0, nCols: 1 } },
 * );
 * program.run();
 * console.log(await mean.read(), await sumSq.read(), await table.read()); // [7] [148] [4, 144]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export async function recordPerExampleLinearGrad(
  gpu: Gpu,
  args: PerExampleLinearArgs,
  out: StatOutputs,
  tuning?: PerExampleTuning,
): Promise<Program> {
  const op = "perExampleLinearGrad";
  const { x, dy, batch, rowsPerExample, nIn, nOut } = args;
  requirePositive(op, { batch, rowsPerExample, nIn, nOut });
  const rows = batch * rowsPerExample;
  requireElements(op, "x", x, rows * nIn);
  requireElements(op, "dy", dy, rows * nOut);
  checkOutputs(op, [x, dy], out, nIn * nOut, batch);
  const t = tuning ?? defaultPerExampleTuning(gpu, nIn, nOut);
  requirePositive(op, { wgM: t.wgM, wgN: t.wgN, bk: t.bk });
  const scale = args.scale ?? 1;
  const tile = LINEAR_TILE[t.path];
  const groups = [Math.ceil(nOut / (t.wgN * tile.cols)), Math.ceil(nIn / (t.wgM * tile.rows))];
  // Norm partials: one per invocation (direct), one per workgroup (staged adds its own first).
  const nTiles = groups[0] * groups[1] * (t.path === "direct" ? t.wgM * t.wgN : 1);
  return await build(gpu, async (program) => {
    const outputs = outputBindings(program, gpu, out, batch * nTiles);
    await program.add({
      source: LINEAR[t.path],
      entryPoint: t.path,
      constants: {
        ...wants(out),
        // Slices start at multiples of 64 elements, so rows of a multiple of 4 are aligned.
        VEC4_X: Number(nIn % 4 === 0),
        VEC4_DY: Number(nOut % 4 === 0),
        WG_M: t.wgM,
        WG_N: t.wgN,
        BK: t.bk,
      },
      params: uniforms([nIn, nOut, rowsPerExample, batch, nTiles, 0, 0, 0], scales(scale, batch)),
      buffers: [x, dy, ...outputs, quadView(program, gpu, x), quadView(program, gpu, dy)],
      workgroups: groups,
    });
    if (out.norms) await addNormsPass(program, outputs[3], out.norms, nTiles, batch, scale);
  });
}

/**
 * Records per-example column sums with statistics: G_b[c] = s · Σ_{t ∈ b} dy[t, c], or
 * s · Σ_{t ∈ b} dy[t, c] · v[t, c] when `v` is given. These are the per-example gradients of
 * a bias or LayerNorm β (dy alone) and of LayerNorm γ (v = x̂, the normalised input).
 * One invocation per column sums each example's rows in order and folds the sum into the
 * statistics; per-example norms are added per workgroup, then over workgroups in a fixed
 * order by a second small dispatch.
 *
 * @param out which statistics to compute, and where (see {@linkcode StatOutputs})
 * @example
 * ```ts
 * import { getDevice, recordPerExampleColumnSum, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * // Two examples of two rows: G_0 = [1 + 2], G_1 = [3 + 4].
 * const dy = Tensor.from(gpu, [4, 1], [1, 2, 3, 4]), sumSign = new Tensor(gpu, [1]);
 * const program = await recordPerExampleColumnSum(gpu, { dy, batch: 2, rowsPerExample: 2, n: 1 }, { sumSign });
 * program.run();
 * console.log(await sumSign.read()); // Float32Array [2]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export function recordPerExampleColumnSum(
  gpu: Gpu,
  args: PerExampleColumnSumArgs,
  out: StatOutputs,
): Promise<Program> {
  return recordColumn(gpu, "perExampleColumnSum", args, out);
}

/** The column kernel's program; `op` names the public function in error messages. */
async function recordColumn(
  gpu: Gpu,
  op: string,
  args: PerExampleColumnSumArgs,
  out: StatOutputs,
): Promise<Program> {
  const { dy, v, batch, rowsPerExample, n } = args;
  requirePositive(op, { batch, rowsPerExample, n });
  requireElements(op, op === "perExampleDirect" ? "g" : "dy", dy, batch * rowsPerExample * n);
  if (v) requireElements(op, "v", v, batch * rowsPerExample * n);
  checkOutputs(op, v ? [dy, v] : [dy], out, n, batch);
  const scale = args.scale ?? 1;
  const groups = grid1d(n, COLUMN_WG);
  const nTiles = groups[0] * groups[1];
  return await build(gpu, async (program) => {
    const outputs = outputBindings(program, gpu, out, batch * nTiles);
    await program.add({
      source: COLUMN,
      entryPoint: "column",
      constants: { ...wants(out), HAS_V: Number(v !== undefined) },
      params: uniforms([n, rowsPerExample, batch, nTiles], scales(scale, batch)),
      // Without v the kernel never reads binding 2; dy fills it (two read-only uses are allowed).
      buffers: [dy, v ?? dy, ...outputs],
      workgroups: groups,
    });
    if (out.norms) await addNormsPass(program, outputs[3], out.norms, nTiles, batch, scale);
  });
}

/**
 * Records statistics over examples whose gradients are given directly: G_b = s · g[b, :]
 * for g [B, n], e.g. position embeddings, where example b's gradient of row t is
 * s · dx[b, t, :] (n = T · d). A strided reduction over b: the column kernel with one row
 * per example.
 *
 * @param out which statistics to compute, and where (see {@linkcode StatOutputs})
 * @example
 * ```ts
 * import { getDevice, recordPerExampleDirect, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const g = Tensor.from(gpu, [2, 2], [1, -2, 3, 0]), mean = new Tensor(gpu, [2]);
 * const program = await recordPerExampleDirect(gpu, { g, batch: 2, n: 2, scale: 2 }, { mean });
 * program.run();
 * console.log(await mean.read()); // Float32Array [4, -2]
 * program.destroy();
 * gpu.destroy();
 * ```
 */
export function recordPerExampleDirect(
  gpu: Gpu,
  args: PerExampleDirectArgs,
  out: StatOutputs,
): Promise<Program> {
  const { g, batch, n, scale } = args;
  return recordColumn(gpu, "perExampleDirect", { dy: g, batch, rowsPerExample: 1, n, scale }, out);
}
