/**
 * Optimizer step throughput: one update over a flat buffer of `--size` parameters (10M by
 * default) in ~`--blocks` blocks, for each optimizer, as GB/s of parameter, state and
 * gradient traffic. Each is compared with a naive variant that dispatches the same kernel
 * once per parameter block (the per-tensor loop of a framework without fused optimizers).
 *
 *   deno run -A bench/optim.ts [--json] [--size N] [--blocks B] [--reps R]
 *
 * @module
 */

import { getDevice, type Gpu } from "../src/gpu/device.ts";
import { grid1d, Program, slice } from "../src/gpu/dispatch.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { GpuTimer } from "../src/gpu/timing.ts";
import { type BlockKind, ParamLayout } from "../src/nn/layout.ts";
import { Rng } from "../src/nn/rng.ts";
import { adam, adamw, lion, rmsprop, sgd, signSgd, signum } from "../src/optim/optimizers.ts";
import { applyParams, BLOCK_WORDS } from "../src/optim/plan.ts";
import type { OptState } from "../src/optim/state.ts";
import type { GradientTransformation } from "../src/optim/transform.ts";
import { excludeKinds } from "../src/optim/weight_decay.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i < 0 ? fallback : Number(Deno.args[i + 1]);
}

const SIZE = arg("--size", 10_000_000);
const BLOCKS = arg("--blocks", 100);
const REPS = arg("--reps", 10);
const JSON_OUT = Deno.args.includes("--json");

/** ~BLOCKS blocks of uneven sizes (½× to 1½× the mean) summing to about SIZE. */
function benchLayout(): ParamLayout {
  const kinds: BlockKind[] = ["weight", "bias", "norm", "weight"];
  const mean = SIZE / BLOCKS;
  return new ParamLayout(Array.from({ length: BLOCKS }, (_, k) => ({
    name: `blocks.${k}`,
    shape: [Math.max(1, Math.round(mean * (0.5 + (k % 11) / 10)))],
    kind: kinds[k % kinds.length],
  })));
}

const OPTIMIZERS: [string, GradientTransformation][] = [
  ["sgd", sgd({ lr: 0.01 })],
  ["sgd+momentum", sgd({ lr: 0.01, momentum: 0.9 })],
  ["adam", adam({ lr: 1e-3 })],
  ["adamw", adamw({ lr: 1e-3, weightDecay: 0.1, weightDecayMask: excludeKinds("norm", "bias") })],
  ["rmsprop", rmsprop({ lr: 1e-2 })],
  ["signSgd", signSgd({ lr: 1e-3 })],
  ["signum", signum({ lr: 1e-3 })],
  ["lion", lion({ lr: 1e-4, weightDecay: 0.1 })],
];

/**
 * The naive variant: the fused program's control dispatch, then the same rule kernel once
 * per block, on slices of the flat buffers with a one-entry block table each.
 */
async function recordNaive(
  gpu: Gpu,
  opt: GradientTransformation,
  state: OptState,
  fused: Program,
  grad: Tensor,
  params: Tensor,
): Promise<Program> {
  const layout = state.layout;
  const rule = opt.rule;
  const program = new Program(gpu);
  program.dispatches.push(fused.dispatches[0]); // the tick; owned and freed by `fused`
  const rows = await state.blockTable.read();
  const table = new Float32Array(layout.blocks.length * 64);
  const ends = new Uint32Array(table.buffer);
  layout.blocks.forEach((b, k) => {
    table.set(rows.subarray(k * BLOCK_WORDS, (k + 1) * BLOCK_WORDS), k * 64);
    ends[k * 64] = b.size; // block-local end
  });
  const tableT = program.own(Tensor.from(gpu, [table.length], table, "f32", "naive.table"));
  const maxBlock = Math.max(...layout.blocks.map((b) => b.size));
  const zeros = program.own(new Tensor(gpu, [Math.ceil(maxBlock / 64)], "u32", "naive.ids"));
  for (const [k, b] of layout.blocks.entries()) {
    const part = (t: Tensor) => slice(t, b.offset, b.size);
    await program.add({
      source: rule.source,
      entryPoint: rule.entryPoint,
      params: applyParams(rule, b.size),
      buffers: [
        part(grad),
        part(params),
        state.control,
        zeros,
        slice(tableT, k * 64, BLOCK_WORDS),
        ...rule.slots.map((name) => part(state.slot(name))),
      ],
      workgroups: grid1d(b.size),
    });
  }
  return program;
}

/** Milliseconds per run: GPU timestamps (median) when available, else wall clock over all reps. */
async function time(gpu: Gpu, run: (timer?: GpuTimer) => void): Promise<number> {
  run();
  run();
  await gpu.sync();
  if (gpu.hasTimestamps) {
    const timer = new GpuTimer(gpu);
    const times: number[] = [];
    for (let r = 0; r < REPS; r++) {
      run(timer);
      times.push(await timer.readMs());
    }
    timer.destroy();
    return times.sort((a, b) => a - b)[Math.floor(REPS / 2)];
  }
  const start = performance.now();
  for (let r = 0; r < REPS; r++) run();
  await gpu.sync();
  return (performance.now() - start) / REPS;
}

/** Something that runs one update and is freed after. */
interface Runnable {
  run(): void;
  destroy(): void;
}

/** Runs one update on fresh state and parameters and returns the parameters. */
async function paramsAfterOne(
  gpu: Gpu,
  make: (state: OptState) => Promise<Runnable>,
  opt: GradientTransformation,
  layout: ParamLayout,
  params: Tensor,
  initial: Float32Array,
): Promise<Float32Array> {
  params.write(initial);
  const state = opt.init(gpu, layout);
  const program = await make(state);
  program.run();
  const out = await params.read();
  program.destroy();
  state.destroy();
  return out;
}

const gpu = await getDevice();
const layout = benchLayout();
const rng = new Rng(1);
const initial = Float32Array.from({ length: layout.size }, () => rng.normal());
const params = Tensor.from(gpu, [layout.size], initial);
const grad = Tensor.from(gpu, [layout.size], Float32Array.from({ length: layout.size }, () => rng.normal()));
const stats = { mean: grad, batchSize: 1 };
const results = [];
for (const [name, opt] of OPTIMIZERS) {
  // The naive variant must compute exactly what the fused one does.
  const a = await paramsAfterOne(gpu, (s) => opt.update(stats, s, params), opt, layout, params, initial);
  const b = await paramsAfterOne(
    gpu,
    async (s) => {
      const fused = await opt.update(stats, s, params);
      const naive = await recordNaive(gpu, opt, s, fused, grad, params);
      naive.dispatches.shift(); // the tick stays in `fused`, which frees it
      const both = new Program(gpu);
      both.dispatches.push(fused.dispatches[0], ...naive.dispatches);
      return { run: () => both.run(), destroy: () => (naive.destroy(), fused.destroy()) };
    },
    opt,
    layout,
    params,
    initial,
  );
  if (a.some((x, i) => x !== b[i])) throw new Error(`${name}: naive and fused updates differ`);

  const state = opt.init(gpu, layout);
  const fused = await opt.update(stats, state, params);
  const naive = await recordNaive(gpu, opt, state, fused, grad, params);
  const fusedMs = await time(gpu, (timer) => fused.run(timer));
  const naiveMs = await time(gpu, (timer) => naive.run(timer));
  // Per parameter: read g, read and write θ, read and write each state slot.
  const bytes = layout.parameterCount * 4 * (3 + 2 * opt.rule.slots.length);
  results.push({
    optimizer: name,
    fusedMs,
    naiveMs,
    fusedGBs: bytes / fusedMs / 1e6,
    naiveGBs: bytes / naiveMs / 1e6,
    naiveOverFused: naiveMs / fusedMs,
    dispatches: { fused: fused.dispatches.length, naive: naive.dispatches.length },
  });
  naive.dispatches.shift(); // the shared tick belongs to `fused`
  naive.destroy();
  fused.destroy();
  state.destroy();
}

const summary = {
  device: gpu.description,
  timing: gpu.hasTimestamps ? "timestamp-query (median)" : "wall clock (mean)",
  parameters: layout.parameterCount,
  blocks: layout.blocks.length,
  reps: REPS,
  results,
};
if (JSON_OUT) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log(
    `${summary.device}; ${summary.parameters} parameters in ${summary.blocks} blocks; ${summary.timing}`,
  );
  console.log("optimizer      fused ms  GB/s   naive ms  GB/s   naive/fused");
  for (const r of results) {
    console.log(
      `${r.optimizer.padEnd(14)} ${r.fusedMs.toFixed(3).padStart(8)} ${r.fusedGBs.toFixed(1).padStart(6)} ` +
        `${r.naiveMs.toFixed(3).padStart(9)} ${r.naiveGBs.toFixed(1).padStart(6)} ${
          r.naiveOverFused.toFixed(2).padStart(9)
        }x`,
    );
  }
}
params.destroy();
grad.destroy();
gpu.destroy();
