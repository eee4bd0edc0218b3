import assert from "node:assert/strict";
import {
  add,
  DeviceLostError,
  getDevice,
  GpuTimer,
  KernelError,
  NoAdapterError,
  readBack,
  record,
  segmentedReduce,
  submit,
  Tensor,
} from "../mod.ts";
import { testGpu } from "./helpers.ts";

Deno.test("no adapter: the error names the fix", async () => {
  const error = await assert.rejects(
    () => getDevice({ requestAdapter: () => Promise.resolve(null) }),
    NoAdapterError,
  );
  void error;
  await assert.rejects(
    () => getDevice({ requestAdapter: () => Promise.resolve(null) }),
    /mesa-vulkan-drivers.*\n?.*DENO_WEBGPU_BACKEND|DENO_WEBGPU_BACKEND/s,
  );
  await assert.rejects(
    () => getDevice({ requestAdapter: () => Promise.reject(new Error("backend exploded")) }),
    /backend exploded/,
  );
});

Deno.test("device requests the adapter's storage limits, not wgpu's defaults", async () => {
  const gpu = await testGpu();
  assert.equal(gpu.device.limits.maxStorageBufferBindingSize, gpu.adapter.limits.maxStorageBufferBindingSize);
  assert.equal(gpu.device.limits.maxBufferSize, gpu.adapter.limits.maxBufferSize);
  assert.ok(gpu.description.length > 0);
});

Deno.test("tensor upload, download, dtypes and destroy", async () => {
  const gpu = await testGpu();
  const before = gpu.liveBuffers;
  const f = Tensor.from(gpu, [2, 3], [1, 2, 3, 4, 5, 6]);
  const u = Tensor.from(gpu, [2], [7, 4294967295], "u32");
  const i = Tensor.from(gpu, [1], [-5], "i32");
  assert.deepEqual([...await f.read()], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...await u.read()], [7, 4294967295]);
  assert.deepEqual([...await i.read()], [-5]);
  assert.throws(() => f.write(new Float32Array(7)), /7 elements/);
  assert.throws(() => new Tensor(gpu, [2, -1]), /bad tensor shape/);
  const [a, b] = await readBack(gpu, [{ buffer: f.buffer, offset: 8, size: 8 }, {
    buffer: u.buffer,
    size: 4,
  }]);
  assert.deepEqual([...new Float32Array(a)], [3, 4]);
  assert.deepEqual([...new Uint32Array(b)], [7]);
  const bytes = gpu.liveBytes;
  for (const t of [f, u, i]) t.destroy();
  f.destroy(); // twice is safe
  assert.equal(gpu.liveBuffers, before);
  assert.equal(bytes - gpu.liveBytes, 24 + 8 + 4);
  assert.ok(gpu.peakBytes >= bytes);
});

Deno.test("200 kernel calls do not grow the number of live buffers", async () => {
  const gpu = await testGpu();
  const x = Tensor.from(gpu, [1000], new Float32Array(1000).fill(1));
  const y = new Tensor(gpu, [1000]);
  await add(gpu, x, y);
  await segmentedReduce(gpu, x, [[0, 1000]], "sum");
  const before = gpu.liveBuffers;
  for (let k = 0; k < 100; k++) {
    await add(gpu, x, y);
    await segmentedReduce(gpu, x, [[0, 500], [500, 1000]], "sumsq");
  }
  assert.equal(gpu.liveBuffers, before);
  assert.equal((await y.read())[0], 101);
  x.destroy();
  y.destroy();
});

Deno.test("a kernel that fails validation raises an error naming the kernel", async () => {
  const gpu = await testGpu();
  const bad = { name: "broken_kernel", code: "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }" };
  await assert.rejects(
    () => record(gpu, { source: bad, entryPoint: "main", buffers: [], workgroups: [1] }),
    (e: unknown) => e instanceof KernelError && /broken_kernel/.test(e.message),
  );
  const good = {
    name: "touch",
    code: "@group(0) @binding(1) var<storage, read_write> x: array<f32>;\n" +
      "@compute @workgroup_size(1) fn main() { x[0] = 1.0; }",
  };
  await assert.rejects(
    () => record(gpu, { source: good, entryPoint: "main", buffers: [], workgroups: [1] }),
    (e: unknown) => e instanceof KernelError && /touch\.main/.test(e.message),
  );
  assert.throws(
    () => record(gpu, { source: good, entryPoint: "main", buffers: [], workgroups: [70000] }),
    /workgroups/,
  );
});

Deno.test("GPU timer measures a pass", async () => {
  const gpu = await testGpu();
  const x = new Tensor(gpu, [100000]);
  const kernel = {
    name: "fill",
    code: "@group(0) @binding(1) var<storage, read_write> x: array<f32>;\n" +
      "@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {" +
      " if (g.x < arrayLength(&x)) { x[g.x] = f32(g.x); } }",
  };
  const d = await record(gpu, { source: kernel, entryPoint: "main", buffers: [x], workgroups: [1563] });
  const timer = new GpuTimer(gpu);
  submit(gpu, [d], timer);
  const ms = await timer.readMs();
  assert.ok(Number.isFinite(ms) && ms >= 0, `${ms} ms from ${timer.source}`);
  assert.equal((await x.read())[99999], 99999);
  timer.destroy();
  x.destroy();
});

Deno.test("a lost device raises a clear error on the next submission", async () => {
  const gpu = await getDevice();
  const info = { reason: "unknown", message: "simulated driver reset" } as unknown as GPUDeviceLostInfo;
  gpu.markLost(new DeviceLostError(info));
  assert.throws(() => submit(gpu, []), /device was lost \(unknown\): simulated driver reset/);
  gpu.destroy();
});
