/**
 * A small seeded random number generator whose whole state is one 32-bit integer, so that
 * checkpoints can store it and runs resume bit for bit.
 *
 * @module
 */

/**
 * Mulberry32 uniform generator with Box–Muller normals. The state is a single u32, which is
 * why gradscope keeps its own generator rather than an opaque library one.
 *
 * @example
 * ```ts
 * import { Rng } from "./mod.ts";
 * const rng = new Rng(42);
 * console.log(rng.uniform(), rng.normal());
 * ```
 */
export class Rng {
  /** The generator state; assign a saved value to resume. */
  state: number;

  /**
   * Seeds the generator.
   * @param seed any integer
   */
  constructor(seed: number) {
    this.state = (seed ^ 0x9e3779b9) >>> 0;
  }

  /** A uniform float in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A standard normal sample (Box–Muller; one of the pair is dropped for a stateless API). */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}
