/**
 * The IDX file format of (Fashion-)MNIST, optionally gzip-compressed.
 *
 * An IDX file is a big-endian header — two zero bytes, a type code (0x08 = unsigned byte),
 * the number of dimensions d — then d big-endian u32 sizes, then the data, row-major.
 *
 * @module
 */

import { gunzipSync } from "node:zlib";

/**
 * A parsed unsigned-byte IDX array.
 *
 * @example
 * ```ts
 * import type { IdxArray } from "./mod.ts";
 * const labels: IdxArray = { dims: [3], data: new Uint8Array([1, 2, 3]) };
 * ```
 */
export interface IdxArray {
  /** Sizes, outermost first (images: [n, 28, 28]; labels: [n]). */
  dims: number[];
  /** The values, row-major. */
  data: Uint8Array;
}

/**
 * Parses an unsigned-byte IDX array; the data is a view into `bytes`.
 *
 * @example
 * ```ts
 * import { parseIdx } from "./mod.ts";
 * const bytes = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 7, 9]);
 * console.log(parseIdx(bytes)); // { dims: [2], data: Uint8Array [7, 9] }
 * ```
 */
export function parseIdx(bytes: Uint8Array): IdxArray {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 || view.getUint16(0) !== 0) throw new Error("gradscope: not an IDX file (bad magic)");
  if (bytes[2] !== 0x08) {
    throw new Error(`gradscope: IDX type 0x${bytes[2].toString(16)} is not unsigned byte`);
  }
  const rank = bytes[3], start = 4 + 4 * rank;
  if (bytes.length < start) throw new Error("gradscope: IDX header is truncated");
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== start + size) {
    throw new Error(`gradscope: IDX data holds ${bytes.length - start} bytes, header says ${size}`);
  }
  return { dims, data: bytes.subarray(start) };
}

/**
 * Gunzips `bytes` if they start with the gzip magic (1f 8b); returns them unchanged
 * otherwise. Uses `node:zlib`, about twice as fast as `DecompressionStream` in Deno.
 *
 * @example
 * ```ts
 * import { maybeGunzip } from "./mod.ts";
 * console.log(maybeGunzip(new Uint8Array([0, 0, 8, 1]))); // Uint8Array [0, 0, 8, 1]
 * ```
 */
export function maybeGunzip(bytes: Uint8Array): Uint8Array {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const out = gunzipSync(bytes);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
