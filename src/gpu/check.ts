/**
 * Size checks shared by every op: each raises a RangeError that names the op and the argument
 * before anything is recorded.
 *
 * @module
 */

import type { Binding } from "./dispatch.ts";

/**
 * Number of 4-byte elements a binding covers: a tensor's size, a slice's size, or a raw
 * buffer's bytes / 4.
 *
 * @example
 * ```ts ignore
 * bindingElements(slice(params, 64, 10)); // 10
 * ```
 */
export function bindingElements(b: Binding): number {
  if ("tensor" in b) return b.size;
  return "buffer" in b ? b.size : b.size / 4;
}

/**
 * Throws a RangeError unless `binding` holds at least `needed` elements.
 *
 * @param op the op, for the message
 * @param name the argument, for the message
 * @example
 * ```ts ignore
 * requireElements("layerNorm", "gamma", gamma, d);
 * ```
 */
export function requireElements(op: string, name: string, binding: Binding, needed: number): void {
  const have = bindingElements(binding);
  if (have < needed) {
    throw new RangeError(`gradscope: ${op} needs ${needed} elements in '${name}', it holds ${have}`);
  }
}

/**
 * Throws a RangeError unless `binding` holds exactly `expected` elements.
 *
 * @example
 * ```ts ignore
 * requireExactElements("crossEntropy", "targets", targets, rows);
 * ```
 */
export function requireExactElements(op: string, name: string, binding: Binding, expected: number): void {
  const have = bindingElements(binding);
  if (have !== expected) {
    throw new RangeError(`gradscope: ${op}: ${name} holds ${have} elements, expected ${expected}`);
  }
}

/**
 * Throws a RangeError unless every named value is a positive integer.
 *
 * @example
 * ```ts ignore
 * requirePositive("layerNormForward", { rows, d });
 * ```
 */
export function requirePositive(op: string, sizes: Record<string, number>): void {
  for (const [name, n] of Object.entries(sizes)) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`gradscope: ${op} needs a positive integer ${name}, got ${n}`);
    }
  }
}
