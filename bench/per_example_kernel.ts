/**
 * Cost of per-example statistics in the weight-gradient pass of an MLP fc layer of a d = 256
 * model with B = 32 examples of T = 128 tokens: dW = xᵀ·dy with x [4096, 256], dy [4096, 1024].
 * Times (a) the plain weight gradient (recordMatmul with transA), (b) the per-example kernel
 * with the mean only, (c) with mean + sum of squares + sum of signs + per-example norms, and
 * (d) norms only; prints the overhead ratios (c)/(a) and (c)/(b). Variants run interleaved,
 * and the median (and minimum) over repetitions is reported, since CPU adapters are noisy. On
 * a CPU adapter the process CPU time is reported too: it counts the kernels' work without the
 * time other processes take from the cores.
 *
 *   deno run -A bench/per_example_kernel.ts [--json] [--reps R] [--batch B] [--rows T] [--in N] [--out N]
 *
 * @module
 */

import { getDevice, type Gpu } from "../src/gpu/device.ts";
import type { Program } from "../src/gpu/dispatch.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { GpuTimer } from "../src/gpu/timing.ts";
import { Rng } from "../src/nn/rng.ts";
import { recordMatmul } from "../src/ops/matmul.ts";
import { recordPerExampleLinearGrad, type StatOutputs } from "../src/stats/per_example.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i < 0 ? fallback : Number(Deno.args[i + 1]);
}

const BATCH = arg("--batch", 32);
const ROWS = arg("--rows", 128);
const N_IN = arg("--in", 256);
const N_OUT = arg("--out", 1024);
const REPS = arg("--reps", 7);
const JSON_OUT = Deno.args.includes("--json");

function randomTensor(gpu: Gpu, shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const n = shape[0] * shape[1];
  return Tensor.from(gpu, shape, Float32Array.from({ length: n }, () => rng.normal()));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const gpu = await getDevice();
const R = BATCH * ROWS;
const x = randomTensor(gpu, [R, N_IN], 1);
const dy = randomTensor(gpu, [R, N_OUT], 2);
const out = (label: string) => new Tensor(gpu, [N_IN, N_OUT], "f32", label);
const plain = out("plain"), mean = out("mean"), sumSq = out("sumSq"), sumSign = out("sumSign");
const table = new Tensor(gpu, [BATCH, 1], "f32", "norms");
const norms = { table, col: 0, nCols: 1 };
const args = { x, dy, batch: BATCH, rowsPerExample: ROWS, nIn: N_IN, nOut: N_OUT, scale: BATCH };
const perExample = (o: StatOutputs) => recordPerExampleLinearGrad(gpu, args, o);

const variants: [string, Program][] = [
  [
    "(a) matmul xᵀ·dy",
    await recordMatmul(gpu, { a: x, b: dy, c: plain, M: N_IN, N: N_OUT, K: R, transA: true }),
  ],
  ["(b) mean", await perExample({ mean })],
  ["(c) mean+sumSq+sumSign+norms", await perExample({ mean, sumSq, sumSign, norms })],
  ["(d) norms", await perExample({ norms })],
];

/**
 * CPU time of this process in ms (user + system, all threads), or NaN where /proc is not
 * readable. On a CPU adapter the kernels run on this process's threads, so this measures their
 * work without the time other processes take from the cores, unlike wall-clock timestamps.
 */
function cpuMs(): number {
  try {
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime + stime, at 100 ticks/s
  } catch {
    return NaN;
  }
}

const timer = new GpuTimer(gpu);
const times: number[][] = variants.map(() => []);
const cpuTimes: number[][] = variants.map(() => []);
for (let rep = -1; rep < REPS; rep++) {
  for (const [i, [, program]] of variants.entries()) {
    await gpu.sync();
    const cpu0 = cpuMs();
    program.run(timer);
    const ms = await timer.readMs();
    if (rep < 0) continue; // rep −1 warms up
    times[i].push(ms);
    cpuTimes[i].push(cpuMs() - cpu0);
  }
}

const ms = times.map(median);
const cpu = cpuTimes.map(median);
const flops = 2 * R * N_IN * N_OUT;
const result = {
  device: gpu.description,
  timing: timer.source,
  shape: { batch: BATCH, rowsPerExample: ROWS, nIn: N_IN, nOut: N_OUT },
  reps: REPS,
  variants: variants.map(([name], i) => ({
    name,
    medianMs: ms[i],
    minMs: Math.min(...times[i]),
    medianCpuMs: cpu[i],
    gflops: flops / ms[i] / 1e6,
  })),
  ratioCtoA: ms[2] / ms[0],
  ratioCtoB: ms[2] / ms[1],
  cpuRatioCtoA: cpu[2] / cpu[0],
  cpuRatioCtoB: cpu[2] / cpu[1],
};

if (JSON_OUT) {
  console.log(JSON.stringify(result));
} else {
  console.log(
    `${result.device}, ${result.timing}; B=${BATCH} T=${ROWS} nIn=${N_IN} nOut=${N_OUT}, ${REPS} reps`,
  );
  for (const v of result.variants) {
    console.log(
      `${v.name.padEnd(30)} median ${v.medianMs.toFixed(1)} ms  min ${v.minMs.toFixed(1)} ms  ${
        v.gflops.toFixed(1)
      } GFLOP/s  process CPU ${v.medianCpuMs.toFixed(0)} ms`,
    );
  }
  console.log(`overhead (c)/(a) = ${result.ratioCtoA.toFixed(3)}   (c)/(b) = ${result.ratioCtoB.toFixed(3)}`);
  console.log(
    `by process CPU time: (c)/(a) = ${result.cpuRatioCtoA.toFixed(3)}   (c)/(b) = ${
      result.cpuRatioCtoB.toFixed(3)
    }`,
  );
}

timer.destroy();
for (const [, program] of variants) program.destroy();
for (const t of [x, dy, plain, mean, sumSq, sumSign, table]) t.destroy();
gpu.destroy();
