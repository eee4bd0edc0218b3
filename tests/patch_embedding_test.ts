import assert from "node:assert/strict";
import { Tensor } from "../src/gpu/tensor.ts";
import {
  patchCount,
  type PatchShape,
  recordPatchAssemble,
  recordPatchAssembleBackward,
  recordPatchGather,
} from "../src/nn/patch_embedding.ts";
import { normalisedError, randn, testGpu } from "./helpers.ts";

/** Float64 im2col, written from the definition: patch (py, px), vector ordered (c, dy, dx). */
function gatherRef(images: Float32Array, s: PatchShape): number[] {
  const { batch, channels: C, imageSize: S, patchSize: ps } = s;
  const side = S / ps, out: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let py = 0; py < side; py++) {
      for (let px = 0; px < side; px++) {
        for (let c = 0; c < C; c++) {
          for (let dy = 0; dy < ps; dy++) {
            for (let dx = 0; dx < ps; dx++) {
              out.push(images[((b * C + c) * S + py * ps + dy) * S + px * ps + dx]);
            }
          }
        }
      }
    }
  }
  return out;
}

/** Float64 assembly and its backward. */
function assembleRef(
  patchOut: Float32Array,
  cls: Float32Array,
  pos: Float32Array,
  B: number,
  N: number,
  d: number,
) {
  const x: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t <= N; t++) {
      for (let c = 0; c < d; c++) {
        x.push((t === 0 ? cls[c] : patchOut[(b * N + t - 1) * d + c]) + pos[t * d + c]);
      }
    }
  }
  return x;
}

function assembleBackwardRef(dx: Float32Array, B: number, N: number, d: number) {
  const dPatch: number[] = [], dPos = new Float64Array((N + 1) * d);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t <= N; t++) {
      for (let c = 0; c < d; c++) {
        const g = dx[(b * (N + 1) + t) * d + c];
        dPos[t * d + c] += g;
        if (t > 0) dPatch.push(g);
      }
    }
  }
  return { dPatch, dCls: dPos.slice(0, d), dPos };
}

const SHAPES: PatchShape[] = [
  { batch: 1, channels: 1, imageSize: 1, patchSize: 1, dModel: 8 },
  { batch: 3, channels: 3, imageSize: 6, patchSize: 3, dModel: 17 },
  { batch: 3, channels: 2, imageSize: 10, patchSize: 2, dModel: 8 },
  { batch: 1, channels: 3, imageSize: 5, patchSize: 5, dModel: 17 },
];

Deno.test("patch gather (im2col) matches the definition on odd shapes", async () => {
  const gpu = await testGpu();
  for (const s of SHAPES) {
    const N = patchCount(s), K = s.channels * s.patchSize ** 2;
    const data = randn(s.batch * s.channels * s.imageSize ** 2, N + K);
    const images = Tensor.from(gpu, [s.batch, s.channels, s.imageSize, s.imageSize], data);
    const patches = new Tensor(gpu, [s.batch * N, K]);
    const program = await recordPatchGather(gpu, s, images, patches);
    program.run();
    assert.deepEqual([...await patches.read()], gatherRef(data, s), JSON.stringify(s));
    program.destroy();
    images.destroy();
    patches.destroy();
  }
});

Deno.test("patch assemble and its backward match float64 on odd shapes", async () => {
  const gpu = await testGpu();
  for (const s of SHAPES) {
    const N = patchCount(s), { batch: B, dModel: d } = s;
    const po = randn(B * N * d, 1), clsData = randn(d, 2), pos = randn((N + 1) * d, 3);
    const patchOut = Tensor.from(gpu, [B * N, d], po), cls = Tensor.from(gpu, [d], clsData);
    const positionWeight = Tensor.from(gpu, [N + 1, d], pos), out = new Tensor(gpu, [B * (N + 1), d]);
    const forward = await recordPatchAssemble(gpu, s, { patchOut, cls, positionWeight, out });
    forward.run();
    assert.ok(normalisedError(await out.read(), assembleRef(po, clsData, pos, B, N, d)) <= 1e-6);

    const dxData = randn(B * (N + 1) * d, 4);
    const dOut = Tensor.from(gpu, [B * (N + 1), d], dxData);
    const nan = (n: number) => new Float32Array(n).fill(NaN);
    const dPatchOut = Tensor.from(gpu, [B * N, d], nan(B * N * d)), dCls = Tensor.from(gpu, [d], nan(d));
    const dPositionWeight = Tensor.from(gpu, [N + 1, d], nan((N + 1) * d));
    const backward = await recordPatchAssembleBackward(gpu, s, { dOut, dPatchOut, dCls, dPositionWeight });
    backward.run();
    const want = assembleBackwardRef(dxData, B, N, d);
    assert.deepEqual([...await dPatchOut.read()], want.dPatch);
    assert.ok(normalisedError(await dCls.read(), want.dCls) <= 1e-5, `dcls ${JSON.stringify(s)}`);
    assert.ok(normalisedError(await dPositionWeight.read(), want.dPos) <= 1e-5, `dpos ${JSON.stringify(s)}`);
    forward.destroy();
    backward.destroy();
    for (const t of [patchOut, cls, positionWeight, out, dOut, dPatchOut, dCls, dPositionWeight]) t.destroy();
  }
});

Deno.test("patch input rejects bad shapes and sizes", async () => {
  const gpu = await testGpu();
  assert.throws(() => patchCount({ batch: 1, channels: 1, imageSize: 5, patchSize: 2, dModel: 4 }), /divide/);
  assert.throws(() => patchCount({ batch: 0, channels: 1, imageSize: 4, patchSize: 2, dModel: 4 }), /batch/);
  const s = { batch: 2, channels: 1, imageSize: 4, patchSize: 2, dModel: 3 };
  const t = new Tensor(gpu, [5]);
  await assert.rejects(() => recordPatchGather(gpu, s, t, t), /images holds 5 elements, expected 32/);
  await assert.rejects(
    () => recordPatchAssemble(gpu, s, { patchOut: t, cls: t, positionWeight: t, out: t }),
    /patchOut holds 5 elements, expected 24/,
  );
  await assert.rejects(
    () => recordPatchAssembleBackward(gpu, s, { dOut: t, dPatchOut: t, dCls: t, dPositionWeight: t }),
    /dOut holds 5 elements, expected 30/,
  );
  t.destroy();
});
