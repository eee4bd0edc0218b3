import assert from "node:assert/strict";
import { type Gpu, type Program, readBack, Tensor } from "../mod.ts";
import {
  type PerExampleTuning,
  recordPerExampleColumnSum,
  recordPerExampleDirect,
  recordPerExampleLinearGrad,
  type StatOutputs,
} from "../src/stats/per_example.ts";
import {
  blockMoments,
  gradientSnr,
  meanGsnr,
  noiseScale,
  perCoordinateSnr,
  perCoordinateVariance,
} from "../src/stats/noise.ts";
import { randn, testGpu } from "./helpers.ts";
import {
  columnGrads,
  linearGrads,
  type PerExampleStatsRef,
  plainWeightGrad,
  statsOf,
} from "./reference/per_example.ts";

/** Relative error of every output: max |got − want| / max |want|. */
const TOLERANCE = 1e-4;

type Stat = "mean" | "sumSq" | "sumSign" | "norms";
const ALL: Stat[] = ["mean", "sumSq", "sumSign", "norms"];

/** Tunings that put several workgroups and invocations on the small test shapes. */
const DIRECT: PerExampleTuning = { path: "direct", wgM: 2, wgN: 1, bk: 16 };
const STAGED: PerExampleTuning = { path: "staged", wgM: 2, wgN: 4, bk: 4 };

/** The norm table has 3 columns; each test block writes column 1, the others hold a sentinel. */
const N_COLS = 3, COL = 1, SENTINEL = 12345;

function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  assert.equal(got.length, want.length);
  let scale = 0, worst = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
  return scale === 0 ? worst : worst / scale;
}

type Results = Partial<Record<Stat, Float32Array>>;

/**
 * Records the requested statistics of a block of `p` coordinates into fresh tensors, runs the
 * program once, reads everything back in one go and frees it all.
 */
async function runStats(
  gpu: Gpu,
  p: number,
  batch: number,
  request: readonly Stat[],
  record: (out: StatOutputs) => Promise<Program>,
): Promise<Results> {
  const tensors: Partial<Record<Stat, Tensor>> = {};
  for (const s of request) {
    tensors[s] = s === "norms"
      ? Tensor.from(gpu, [batch, N_COLS], new Float32Array(batch * N_COLS).fill(SENTINEL))
      : Tensor.from(gpu, [p], new Float32Array(p).fill(NaN));
  }
  const out: StatOutputs = { mean: tensors.mean, sumSq: tensors.sumSq, sumSign: tensors.sumSign };
  if (tensors.norms) out.norms = { table: tensors.norms, col: COL, nCols: N_COLS };
  const program = await record(out);
  try {
    program.run();
    const read = await readBack(
      gpu,
      request.map((s) => ({ buffer: tensors[s]!.buffer, size: tensors[s]!.byteLength })),
    );
    return Object.fromEntries(request.map((s, i) => [s, new Float32Array(read[i])]));
  } finally {
    program.destroy();
    for (const t of Object.values(tensors)) t.destroy();
  }
}

/** Checks every requested output against the reference (and the norm table's other columns). */
function check(got: Results, want: PerExampleStatsRef, label: string): void {
  for (const s of ["mean", "sumSq", "sumSign"] as const) {
    if (got[s]) {
      const err = relError(got[s], want[s]);
      assert.ok(err <= TOLERANCE, `${label} ${s}: relative error ${err}`);
    }
  }
  if (got.norms) {
    const batch = want.normSq.length;
    const column = Array.from({ length: batch }, (_, b) => got.norms![b * N_COLS + COL]);
    const err = relError(column, want.normSq);
    assert.ok(err <= TOLERANCE, `${label} norms: relative error ${err}`);
    for (let b = 0; b < batch; b++) {
      for (const c of [0, 2]) {
        assert.equal(got.norms[b * N_COLS + c], SENTINEL, `${label}: wrote column ${c}`);
      }
    }
  }
}

interface LinearCase {
  batch: number;
  rows: number;
  nIn: number;
  nOut: number;
  scale: number;
  seed: number;
}

async function linearCase(gpu: Gpu, c: LinearCase, request: readonly Stat[], tuning?: PerExampleTuning) {
  const r = c.batch * c.rows;
  const xData = randn(r * c.nIn, c.seed), dyData = randn(r * c.nOut, c.seed + 1);
  const x = Tensor.from(gpu, [r, c.nIn], xData), dy = Tensor.from(gpu, [r, c.nOut], dyData);
  try {
    const args = { x, dy, batch: c.batch, rowsPerExample: c.rows, nIn: c.nIn, nOut: c.nOut, scale: c.scale };
    const got = await runStats(
      gpu,
      c.nIn * c.nOut,
      c.batch,
      request,
      (out) => recordPerExampleLinearGrad(gpu, args, out, tuning),
    );
    const want = statsOf(linearGrads(xData, dyData, c.batch, c.rows, c.nIn, c.nOut, c.scale));
    return { got, want, xData, dyData };
  } finally {
    x.destroy();
    dy.destroy();
  }
}

/** B ∈ {1, 3, 8}, T ∈ {1, 5}, odd nIn × nOut; B = 3 uses a negative scale (sign flips). */
function linearCases(): LinearCase[] {
  const cases: LinearCase[] = [];
  let seed = 10;
  for (const batch of [1, 3, 8]) {
    for (const rows of [1, 5]) {
      for (const [nIn, nOut] of [[1, 3], [3, 17], [17, 33], [33, 1]]) {
        cases.push({ batch, rows, nIn, nOut, scale: batch === 3 ? -1.5 : batch, seed: seed += 2 });
      }
    }
  }
  return cases;
}

for (const tuning of [DIRECT, STAGED]) {
  Deno.test(`linear (${tuning.path}): every statistic matches per-example float64 brute force`, async () => {
    const gpu = await testGpu();
    const live = gpu.liveBuffers;
    for (const c of linearCases()) {
      const { got, want } = await linearCase(gpu, c, ALL, tuning);
      check(got, want, `${tuning.path} ${JSON.stringify(c)}`);
    }
    assert.equal(gpu.liveBuffers, live, "buffers leaked");
  });
}

Deno.test("linear: the mean equals the plain weight gradient, with or without per-example statistics", async () => {
  const gpu = await testGpu();
  // Aligned (vec4 loads, default tuning) and odd shapes.
  for (const [nIn, nOut, tuning] of [[36, 20, undefined], [17, 33, DIRECT]] as const) {
    const c = { batch: 3, rows: 5, nIn, nOut, scale: 3, seed: 7 };
    // With s = B the mean is xᵀ·dy over all rows.
    const { got, xData, dyData } = await linearCase(gpu, c, ["mean"], tuning);
    const plain = plainWeightGrad(xData, dyData, c.batch * c.rows, nIn, nOut);
    assert.ok(relError(got.mean!, plain) <= TOLERANCE, `mean-only ${nIn}×${nOut}`);
    const withNorms = await linearCase(gpu, c, ["mean", "norms"], tuning);
    assert.ok(relError(withNorms.got.mean!, plain) <= TOLERANCE, `mean with norms ${nIn}×${nOut}`);
    check(withNorms.got, withNorms.want, `mean+norms ${nIn}×${nOut}`);
  }
});

Deno.test("linear: every subset of requests computes exactly what it asks for", async () => {
  const gpu = await testGpu();
  const c = { batch: 3, rows: 5, nIn: 17, nOut: 33, scale: 3, seed: 3 };
  for (let mask = 0; mask < 16; mask++) {
    const request = ALL.filter((_, i) => mask & (1 << i));
    const { got, want } = await linearCase(gpu, c, request, STAGED);
    check(got, want, `staged [${request}]`);
  }
  // The CPU kernel with only the norms (the diagnostics' request).
  const { got, want } = await linearCase(gpu, c, ["norms"], DIRECT);
  check(got, want, "direct [norms]");
});

Deno.test("linear: results are bitwise reproducible", async () => {
  const gpu = await testGpu();
  const c = { batch: 8, rows: 5, nIn: 33, nOut: 17, scale: 8, seed: 5 };
  for (const tuning of [DIRECT, STAGED]) {
    const a = await linearCase(gpu, c, ALL, tuning);
    const b = await linearCase(gpu, c, ALL, tuning);
    assert.deepEqual(a.got, b.got);
  }
});

Deno.test("column sums and direct slices: every statistic matches float64 brute force", async () => {
  const gpu = await testGpu();
  const live = gpu.liveBuffers;
  let seed = 100;
  for (const batch of [1, 3, 8]) {
    for (const rows of [1, 5]) {
      for (const n of [1, 3, 17, 130]) {
        for (const withV of [false, true]) {
          const r = batch * rows;
          const dyData = randn(r * n, seed++), vData = randn(r * n, seed++);
          const dy = Tensor.from(gpu, [r, n], dyData), v = Tensor.from(gpu, [r, n], vData);
          const scale = batch === 3 ? -2 : batch;
          const args = { dy, v: withV ? v : undefined, batch, rowsPerExample: rows, n, scale };
          const got = await runStats(gpu, n, batch, ALL, (out) => recordPerExampleColumnSum(gpu, args, out));
          const want = statsOf(columnGrads(dyData, withV ? vData : null, batch, rows, n, scale));
          check(got, want, `column ${JSON.stringify({ batch, rows, n, withV })}`);
          if (rows === 1 && !withV) {
            const direct = await runStats(
              gpu,
              n,
              batch,
              ALL,
              (out) => recordPerExampleDirect(gpu, { g: dy, batch, n, scale }, out),
            );
            check(direct, want, `direct ${JSON.stringify({ batch, n })}`);
          }
          dy.destroy();
          v.destroy();
        }
      }
    }
  }
  assert.equal(gpu.liveBuffers, live, "buffers leaked");
});

Deno.test("column sums: mean alone and norms alone", async () => {
  const gpu = await testGpu();
  const batch = 3, rows = 5, n = 70, r = batch * rows;
  const dyData = randn(r * n, 9);
  const dy = Tensor.from(gpu, [r, n], dyData);
  const want = statsOf(columnGrads(dyData, null, batch, rows, n, 3));
  for (const request of [["mean"], ["norms"]] as Stat[][]) {
    const args = { dy, batch, rowsPerExample: rows, n, scale: 3 };
    check(
      await runStats(gpu, n, batch, request, (out) => recordPerExampleColumnSum(gpu, args, out)),
      want,
      `${request}`,
    );
  }
  dy.destroy();
});

Deno.test("per-example statistics reject bad sizes, columns, scales and aliased buffers", async () => {
  const gpu = await testGpu();
  const x = new Tensor(gpu, [6]), dy = new Tensor(gpu, [6]), small = new Tensor(gpu, [3]);
  const table = new Tensor(gpu, [2, 2]);
  const args = { x, dy, batch: 2, rowsPerExample: 1, nIn: 3, nOut: 1 };
  const live = gpu.liveBuffers;
  await assert.rejects(
    () => recordPerExampleLinearGrad(gpu, { ...args, nIn: 4 }, {}),
    /needs 8 elements in 'x'/,
  );
  await assert.rejects(() => recordPerExampleLinearGrad(gpu, args, { mean: x }), /'mean' shares a buffer/);
  await assert.rejects(
    () => recordPerExampleLinearGrad(gpu, args, { mean: small, sumSq: small }),
    /'sumSq' shares/,
  );
  await assert.rejects(
    () => recordPerExampleLinearGrad(gpu, args, { norms: { table, col: 2, nCols: 2 } }),
    /not a column/,
  );
  await assert.rejects(
    () => recordPerExampleLinearGrad(gpu, args, { norms: { table, col: 0, nCols: 3 } }),
    /norms.table/,
  );
  await assert.rejects(
    () => recordPerExampleLinearGrad(gpu, { ...args, scale: NaN }, { mean: small }),
    /finite/,
  );
  await assert.rejects(() => recordPerExampleDirect(gpu, { g: x, batch: 4, n: 2 }, {}), /'g'/);
  await assert.rejects(
    () => recordPerExampleColumnSum(gpu, { dy, batch: 0, rowsPerExample: 1, n: 1 }, {}),
    /batch/,
  );
  assert.equal(gpu.liveBuffers, live, "a failed record leaked buffers");
  for (const t of [x, dy, small, table]) t.destroy();
});

Deno.test("derived statistics on a hand-made case", () => {
  // Three examples of a 3-coordinate block: G_0 = [1, 2, 0], G_1 = [3, 2, 0], G_2 = [5, 2, 0].
  const grads = [[1, 2, 0], [3, 2, 0], [5, 2, 0]].map((g) => new Float64Array(g));
  const { mean, sumSq, normSq } = statsOf(grads);
  assert.deepEqual([...mean], [3, 2, 0]);
  assert.deepEqual([...sumSq], [35, 12, 0]);
  // σ² = (35 − 27)/2 = 4, (12 − 12)/2 = 0, 0.
  assert.deepEqual([...perCoordinateVariance(mean, sumSq, 3)], [4, 0, 0]);
  assert.deepEqual([...perCoordinateSnr(mean, sumSq, 3)], [1.5, Infinity, 0]);
  // ‖ḡ‖² = 13, Σ‖G_b‖² = 5 + 13 + 29 = 47, tr(Σ̂) = (47 − 39)/2 = 4.
  const m = blockMoments({ mean, norms: normSq, batch: 3 });
  assert.deepEqual(m, { batch: 3, meanNormSq: 13, trace: 4 });
  assert.deepEqual(blockMoments({ mean, sumSq, batch: 3 }), m);
  assert.equal(gradientSnr(m), 13 / 4);
  assert.equal(noiseScale(m), 4 / 13);
  assert.equal(noiseScale(m, { debias: true }), 4 / (13 - 4 / 3));
  // Cockpit: biased variances 35/3 − 9 = 8/3, 0, 0 → (9/(8/3 + ε) + 4/ε + 0/ε) / 3.
  const eps = 1e-5;
  assert.ok(Math.abs(meanGsnr(mean, sumSq, 3, eps) - (9 / (8 / 3 + eps) + 4 / eps) / 3) < 1e-6);
  assert.throws(() => perCoordinateVariance(mean, sumSq, 1), /batch ≥ 2/);
  assert.throws(() => blockMoments({ mean, batch: 3 }), /needs sumSq or norms/);
});
