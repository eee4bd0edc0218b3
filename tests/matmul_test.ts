import assert from "node:assert/strict";
import { slice, Tensor, type TensorSlice } from "../mod.ts";
import { matmul, type MatmulSpec, type MatmulTuning, recordMatmul } from "../src/ops/matmul.ts";
import { runMatmulBench } from "../bench/matmul.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";
import { matmulReference, type MatmulReferenceInput } from "./reference/matmul.ts";

const TOL = 1e-5;

/** A spec whose operands are plain arrays: sizes of the stored buffers plus the matmul fields. */
type Case = Omit<MatmulReferenceInput, "a" | "b" | "c" | "bias"> & {
  aSize: number;
  bSize: number;
  cSize: number;
  bias?: boolean;
  /** Put the bias in a slice of a larger buffer at offset 64. */
  biasSlice?: boolean;
  /** Fill C with this before the product (default random). */
  cFill?: number;
};

/** Storage sizes of a dense case. */
function dense(M: number, N: number, K: number) {
  return { aSize: M * K, bSize: K * N, cSize: M * N };
}

/**
 * Runs one case on the GPU and on the float64 reference; returns the normalised error over
 * the whole C buffer (so writes outside the matrices count too) and the GPU result.
 */
async function check(c: Case, seed: number, tuning?: MatmulTuning) {
  const gpu = await testGpu();
  const data = {
    a: randn(c.aSize, seed),
    b: randn(c.bSize, seed + 1),
    c: c.cFill === undefined ? randn(c.cSize, seed + 2) : new Float32Array(c.cSize).fill(c.cFill),
    bias: c.bias ? randn(c.N, seed + 3) : undefined,
  };
  const a = Tensor.from(gpu, [c.aSize], data.a), b = Tensor.from(gpu, [c.bSize], data.b);
  const out = Tensor.from(gpu, [c.cSize], data.c);
  let biasTensor: Tensor | undefined;
  let bias: Tensor | TensorSlice | undefined;
  if (data.bias) {
    biasTensor = new Tensor(gpu, [(c.biasSlice ? 64 : 0) + c.N]);
    biasTensor.write(data.bias, c.biasSlice ? 64 : 0);
    bias = c.biasSlice ? slice(biasTensor, 64, c.N) : biasTensor;
  }
  const { aSize: _a, bSize: _b, cSize: _c, bias: _bias, biasSlice: _s, cFill: _f, ...fields } = c;
  try {
    await matmul(gpu, { ...fields, a, b, c: out, bias }, tuning);
    const got = await out.read();
    const want = matmulReference({ ...fields, ...data });
    return { error: normalisedError(got, want), got };
  } finally {
    [a, b, out, biasTensor].forEach((t) => t?.destroy());
  }
}

async function expectClose(c: Case, seed: number, tuning?: MatmulTuning): Promise<void> {
  const { error } = await check(c, seed, tuning);
  assert.ok(error <= TOL, `error ${error} for ${JSON.stringify({ ...c, tuning })}`);
}

const TRANSPOSES = [[false, false], [true, false], [false, true], [true, true]] as const;

Deno.test("matmul matches the float64 reference for every transpose on odd and even shapes", async () => {
  const shapes = [[1, 1, 1], [3, 17, 129], [129, 3, 17], [64, 128, 64]];
  let seed = 0;
  for (const [M, N, K] of shapes) {
    for (const [transA, transB] of TRANSPOSES) {
      await expectClose({ M, N, K, transA, transB, ...dense(M, N, K) }, seed += 10);
    }
  }
});

Deno.test("matmul's workgroup-memory path matches the reference for every transpose", async () => {
  const staged: MatmulTuning = { path: "staged", wgM: 2, wgN: 2, bk: 8 };
  let seed = 500;
  for (const [transA, transB] of TRANSPOSES) {
    await expectClose({ M: 17, N: 33, K: 21, transA, transB, ...dense(17, 33, 21) }, seed += 10, staged);
  }
  // aligned: the tile copies use vec4 loads
  for (const [transA, transB] of [TRANSPOSES[0], TRANSPOSES[3]]) {
    await expectClose({ M: 24, N: 32, K: 16, transA, transB, ...dense(24, 32, 16) }, seed += 10, staged);
  }
});

Deno.test("matmul handles K % 4 tails on the aligned vec4 path, with offsets and padded rows", async () => {
  // lda = ldb = 8 and offsets of 4 keep every quad 16-byte aligned while K is not a multiple of 4.
  let seed = 1000;
  for (const K of [5, 6, 7, 8]) {
    for (const [transA, transB] of TRANSPOSES) {
      const M = 20, N = 24;
      await expectClose({
        M,
        N,
        K,
        transA,
        transB,
        lda: transA ? 24 : 8,
        ldb: transB ? 8 : 28,
        aOffset: 4,
        bOffset: 8,
        aSize: 4 + 8 * 24,
        bSize: 8 + 8 * 28,
        cSize: M * N,
      }, seed += 10);
    }
  }
});

Deno.test("matmul reads and writes strided submatrices and leaves the rest of C alone", async () => {
  // Unaligned offsets and strides (scalar loads); the whole C buffer is compared.
  const M = 13, N = 18, K = 11;
  await expectClose({
    M,
    N,
    K,
    lda: 15,
    ldb: 21,
    ldc: 23,
    aOffset: 3,
    bOffset: 5,
    cOffset: 7,
    aSize: 3 + 15 * M,
    bSize: 5 + 21 * K,
    cSize: 7 + 23 * M + 4,
  }, 2000);
  await expectClose({
    M,
    N,
    K,
    transA: true,
    transB: true,
    lda: 16,
    ldb: 12,
    ldc: 20,
    aOffset: 1,
    bOffset: 2,
    cOffset: 9,
    aSize: 1 + 16 * K,
    bSize: 2 + 12 * N,
    cSize: 9 + 20 * M,
  }, 2010);
});

Deno.test("matmul splits attention heads with two-level batch strides", async () => {
  // qkv is [B·T, 3d]; head h of example b starts at b·T·3d + h·dh with row stride 3d.
  const B = 2, T = 17, H = 3, dh = 4, d = H * dh;
  const qkvSize = B * T * 3 * d;
  const heads = { batch: [B, H] as [number, number] };
  const qkvStride: [number, number] = [T * 3 * d, dh];
  // scores[b, h] = Q·Kᵀ, [B, H, T, T] dense
  await expectClose({
    M: T,
    N: T,
    K: dh,
    ...heads,
    transB: true,
    lda: 3 * d,
    ldb: 3 * d,
    aOffset: 0,
    bOffset: d,
    aBatchStride: qkvStride,
    bBatchStride: qkvStride,
    aSize: qkvSize,
    bSize: qkvSize,
    cSize: B * H * T * T,
    alpha: 0.5,
  }, 3000);
  // out[b·T.., h·dh..] = P·V, written into the [B·T, d] concatenation of heads
  await expectClose({
    M: T,
    N: dh,
    K: T,
    ...heads,
    ldb: 3 * d,
    ldc: d,
    bOffset: 2 * d,
    bBatchStride: qkvStride,
    cBatchStride: [T * d, dh],
    aSize: B * H * T * T,
    bSize: qkvSize,
    cSize: B * T * d,
  }, 3010);
  // dK-like: dSᵀ·Q with a transposed, batched A
  await expectClose({
    M: T,
    N: dh,
    K: T,
    ...heads,
    transA: true,
    ldb: 3 * d,
    ldc: 3 * d,
    bBatchStride: qkvStride,
    cOffset: d,
    cBatchStride: qkvStride,
    aSize: B * H * T * T,
    bSize: qkvSize,
    cSize: qkvSize,
    beta: 1,
  }, 3020);
});

Deno.test("matmul broadcasts an operand with batch stride 0", async () => {
  const M = 9, N = 20, K = 12;
  await expectClose({
    M,
    N,
    K,
    batch: [2, 3],
    aBatchStride: [0, 0],
    aSize: M * K,
    bSize: 6 * K * N,
    cSize: 6 * M * N,
  }, 4000);
});

Deno.test("matmul applies alpha, beta and a fused bias", async () => {
  const M = 19, N = 33, K = 21;
  await expectClose({ M, N, K, alpha: 2, beta: 0.5, bias: true, ...dense(M, N, K) }, 5000);
  await expectClose(
    { M, N, K, alpha: -1, bias: true, biasSlice: true, transB: true, ...dense(M, N, K) },
    5010,
  );
  await expectClose({ M, N, K, beta: -2, transA: true, ...dense(M, N, K) }, 5020);
});

Deno.test("matmul with beta = 0 never reads C (NaN in C does not leak)", async () => {
  const M = 7, N = 9, K = 5;
  const { error, got } = await check({ M, N, K, cFill: NaN, ...dense(M, N, K) }, 6000);
  assert.ok(got.every(Number.isFinite));
  assert.ok(error <= TOL);
});

Deno.test("a recorded matmul replays: with beta = 1 each run adds the product again", async () => {
  const gpu = await testGpu();
  const M = 5, N = 6, K = 7;
  const a = Tensor.from(gpu, [M, K], randn(M * K, 7000)), b = Tensor.from(gpu, [K, N], randn(K * N, 7001));
  const c0 = randn(M * N, 7002), c = Tensor.from(gpu, [M, N], c0);
  const program = await recordMatmul(gpu, { a, b, c, M, N, K, beta: 1 });
  program.run();
  program.run();
  const got = await c.read();
  const once = matmulReference({ a: await a.read(), b: await b.read(), c: new Float32Array(M * N), M, N, K });
  assert.ok(normalisedError(got, c0.map((v, i) => v + 2 * once[i])) <= TOL);
  const again = await c.read();
  assert.deepEqual(got, again);
  program.destroy();
  [a, b, c].forEach((t) => t.destroy());
});

Deno.test("matmul is deterministic and frees every buffer it makes", async () => {
  const gpu = await testGpu();
  const M = 31, N = 29, K = 37;
  const a = Tensor.from(gpu, [M, K], randn(M * K, 8000)), b = Tensor.from(gpu, [K, N], randn(K * N, 8001));
  const c = new Tensor(gpu, [M, N]);
  const live = gpu.liveBuffers;
  await matmul(gpu, { a, b, c, M, N, K, bias: undefined });
  const first = await c.read();
  await matmul(gpu, { a, b, c, M, N, K });
  assert.deepEqual(await c.read(), first);
  const program = await recordMatmul(gpu, { a, b, c: c, M: 1, N: 1, K: 1 }); // tiny: uses the spare tensor
  program.destroy();
  assert.equal(gpu.liveBuffers, live);
  [a, b, c].forEach((t) => t.destroy());
});

Deno.test("matmul rejects bad specs with RangeErrors that name the problem", async () => {
  const gpu = await testGpu();
  const a = new Tensor(gpu, [12]), b = new Tensor(gpu, [12]), c = new Tensor(gpu, [9]);
  const short = new Tensor(gpu, [2]), ints = new Tensor(gpu, [12], "i32");
  const base: MatmulSpec = { a, b, c, M: 3, N: 3, K: 4 };
  const cases: [Partial<MatmulSpec>, RegExp][] = [
    [{ M: 0 }, /positive integer M/],
    [{ K: 2.5 }, /positive integer K/],
    [{ batch: [1, 0] }, /batch\[1\]/],
    [{ lda: 3 }, /lda = 3 is shorter than a stored row of A \(4\)/],
    [{ aOffset: 1 }, /needs 13 elements in 'a', it holds 12/],
    [{ ldc: 4 }, /needs 11 elements in 'c', it holds 9/],
    [{ ldc: -1 }, /non-negative integer ldc/],
    [{ bBatchStride: [0, -4] }, /bBatchStride\[1\]/],
    [{ batch: [2, 1], aBatchStride: [0, 0], bBatchStride: [0, 0] }, /elements in 'c'/],
    [{ alpha: NaN }, /finite alpha/],
    [{ c: a }, /'c' must not share a buffer with 'a'/],
    [{ bias: c }, /'c' must not share a buffer with 'bias'/],
    [{ bias: short }, /needs 3 elements in 'bias'/],
    [{ a: ints as unknown as Tensor }, /'a' must be f32/],
  ];
  for (const [patch, message] of cases) {
    await assert.rejects(() => recordMatmul(gpu, { ...base, ...patch }), (e: Error) => {
      assert.ok(e instanceof RangeError, `${e.name}: ${e.message}`);
      assert.match(e.message, message);
      return true;
    });
  }
  await assert.rejects(
    () => recordMatmul(gpu, base, { path: "direct", wgM: 1, wgN: 1, bk: 6 }),
    /bk = 6 is not a multiple of 4/,
  );
  await assert.rejects(
    () => recordMatmul(gpu, base, { path: "staged", wgM: 8, wgN: 8, bk: 64 }),
    /staged tiles need 57344 bytes of workgroup memory/,
  );
  [a, b, c, short, ints].forEach((t) => t.destroy());
});

Deno.test("the matmul benchmark's quick mode runs and spot-checks its results", async () => {
  const gpu = await testGpu();
  const report = await runMatmulBench({
    gpu,
    peer: false,
    shapes: [{ M: 33, K: 17, N: 20 }],
    iterations: 1,
    trials: 1,
  });
  assert.equal(report.rows.length, 1);
  assert.equal(report.rows[0].shape, "33x17 @ 17x20");
  assert.equal(report.rows[0].peer, "unavailable");
  assert.ok(report.rows[0].ours_gflops > 0);
});
