/** Shared test helpers: one device per test module, random data, and error norms. */
import { getDevice, type Gpu } from "../mod.ts";
import { Rng } from "../src/nn/rng.ts";

let shared: Promise<Gpu> | null = null;

/** The test module's device, requested once. */
export function testGpu(): Promise<Gpu> {
  shared ??= getDevice();
  return shared;
}

/** `n` normal samples from a seeded generator. */
export function randn(n: number, seed: number, std = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => std * rng.normal());
}

/** max |a − b| / max(1, max |b|): relative error on outputs normalised by their scale. */
export function normalisedError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let scale = 1, worst = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}
