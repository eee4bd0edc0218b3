/**
 * The peer every benchmark compares against: jax-js (`npm:@jax-js/jax@0.1.25`) on its WebGPU
 * backend, on the same adapter as gradscope, loaded once per process.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
export type Jax = any;

/** The jax-js module and why it is missing, if it is. */
export interface Peer {
  /** The module, or null when disabled or unavailable. */
  jax: Jax;
  /** Why `jax` is null. */
  error: string | null;
}

/**
 * Loads jax-js and starts its WebGPU backend; with `enabled` false, or when it cannot start,
 * `jax` is null and `error` says why.
 *
 * @example
 * ```ts ignore
 * const { jax, error } = await loadPeer(true);
 * ```
 */
export async function loadPeer(enabled: boolean): Promise<Peer> {
  if (!enabled) return { jax: null, error: "disabled (--no-peer)" };
  try {
    const jax = await import("npm:@jax-js/jax@0.1.25");
    const devices: string[] = await jax.init("webgpu");
    if (!devices.includes("webgpu")) throw new Error(`jax-js found no WebGPU backend (devices: ${devices})`);
    jax.defaultDevice("webgpu");
    return { jax, error: null };
  } catch (error) {
    return { jax: null, error: error instanceof Error ? error.message : String(error) };
  }
}
