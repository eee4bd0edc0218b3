/**
 * The safetensors format (https://github.com/huggingface/safetensors), encoded and decoded in
 * memory: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then
 * the byte buffer, with offsets relative to the buffer start and little-endian data.
 *
 * gradscope keeps its own codec: the only npm package named for the format (`safetensors`
 * 0.0.1) is a single release with no repository, README or later updates, so it cannot be
 * relied on for strict validation. The format is small enough that a strict codec is short.
 *
 * The decoder is at least as strict as the reference reader (safetensors 0.8.0) for the dtypes
 * gradscope stores (F32, I32, U32), and stricter where marked; it rejects:
 * - a file shorter than 8 bytes, or a header length over 100 MB or past the end of the file;
 * - a header that does not start with `{` (the format's rule; the reference reader skips leading
 *   whitespace), is not UTF-8, not JSON, or not an object;
 * - a tensor entry with a missing field, or an unknown one (stricter: the reference ignores it);
 * - an unsupported dtype, a shape that is not non-negative integers, data offsets that are not
 *   `[begin, end]` with `begin ≤ end ≤ buffer length`, or a byte size other than numel × 4;
 * - overlaps, gaps between tensors, and trailing bytes after the last one: the tensors must tile
 *   the buffer exactly, as the reference requires, so every byte of the file is accounted for;
 * - a `__metadata__` that is not an object of strings (stricter: the reference accepts `null`).
 *
 * The encoder writes the bytes the reference writer writes (checked against safetensors 0.8.0),
 * except that metadata keys keep their insertion order where the reference's order is arbitrary
 * (a hash map): `__metadata__` first (omitted when empty), tensors ordered by dtype then name
 * with contiguous offsets, and the header padded with spaces to a multiple of 8 bytes so that the
 * buffer starts 8-byte aligned. Typed arrays are copied byte for byte, which assumes a
 * little-endian host (every platform Deno ships for is).
 *
 * @module
 */

/**
 * Element types gradscope stores, by their safetensors names; all are 4 bytes wide.
 *
 * @example
 * ```ts
 * import type { CheckpointDtype } from "./mod.ts";
 * const dtype: CheckpointDtype = "F32";
 * console.log(dtype);
 * ```
 */
export type CheckpointDtype = "F32" | "I32" | "U32";

/**
 * One tensor of a checkpoint: row-major `data` with `shape` (`[]` is a scalar of one element).
 *
 * @example
 * ```ts
 * import type { CheckpointTensor } from "./mod.ts";
 * const step: CheckpointTensor = { dtype: "U32", shape: [], data: new Uint32Array([7]) };
 * console.log(step.data[0]); // 7
 * ```
 */
export type CheckpointTensor =
  | { dtype: "F32"; shape: number[]; data: Float32Array }
  | { dtype: "I32"; shape: number[]; data: Int32Array }
  | { dtype: "U32"; shape: number[]; data: Uint32Array };

/**
 * The contents of a checkpoint. Metadata values are strings, as the format requires; callers
 * JSON-encode structured values (config, step, RNG state) inside them.
 *
 * @example
 * ```ts
 * import type { CheckpointData } from "./mod.ts";
 * const data: CheckpointData = {
 *   tensors: { params: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } },
 *   metadata: { step: "10", config: JSON.stringify({ dModel: 8 }) },
 * };
 * console.log(Object.keys(data.tensors)); // ["params"]
 * ```
 */
export interface CheckpointData {
  /** Tensors by name. */
  tensors: Record<string, CheckpointTensor>;
  /** String metadata, stored in the header's `__metadata__`. */
  metadata: Record<string, string>;
}

/**
 * A checkpoint could not be read or written; the message names the file and the problem.
 *
 * @example
 * ```ts
 * import { CheckpointError, decodeSafetensors } from "./mod.ts";
 * try {
 *   decodeSafetensors(new Uint8Array(3), "run.safetensors");
 * } catch (error) {
 *   console.log(error instanceof CheckpointError); // true
 *   console.log((error as Error).message); // names run.safetensors and the short file
 * }
 * ```
 */
export class CheckpointError extends Error {
  /** The file (or other source) concerned. */
  readonly source: string;
  /** What is wrong, without the source. */
  readonly problem: string;

  /**
   * Builds the error.
   * @param source the file path, or a description of in-memory bytes
   * @param problem what is wrong
   * @param options the underlying error, if any
   */
  constructor(source: string, problem: string, options?: ErrorOptions) {
    super(`gradscope: checkpoint ${source}: ${problem}`, options);
    this.name = "CheckpointError";
    this.source = source;
    this.problem = problem;
  }
}

/** The reference implementation's header limit; a larger one means a corrupt length prefix. */
const MAX_HEADER_BYTES = 100_000_000;

const ARRAYS = { F32: Float32Array, I32: Int32Array, U32: Uint32Array } as const;
const DTYPE_BYTES = 4;
const DTYPE_RANK: Record<string, number> = { F32: 0, U32: 1, I32: 2 };
const UTF8 = new TextEncoder();
const METADATA_KEY = "__metadata__";
const TENSOR_FIELDS = ["dtype", "shape", "data_offsets"];
const IN_MEMORY = "(in-memory bytes)";
const ENCODING = "(encoding)";

/**
 * Encodes a checkpoint as safetensors bytes, as the reference writer lays them out.
 * Throws {@linkcode CheckpointError} when a tensor's data does not match its dtype or shape.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./mod.ts";
 * const bytes = encodeSafetensors({
 *   tensors: { w: { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   metadata: { step: "3" },
 * });
 * console.log(decodeSafetensors(bytes).metadata.step); // "3"
 * ```
 */
export function encodeSafetensors(data: CheckpointData): Uint8Array {
  const parts = encodeSafetensorsParts(data);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Encodes a checkpoint as a list of byte chunks (length prefix and header, then each tensor's
 * bytes as a view of its data), so a writer can stream a large checkpoint without one copy of
 * the whole file in memory. Concatenated, the chunks equal {@linkcode encodeSafetensors}.
 *
 * @example
 * ```ts
 * import { encodeSafetensorsParts } from "./mod.ts";
 * const parts = encodeSafetensorsParts({
 *   tensors: { b: { dtype: "I32", shape: [1], data: new Int32Array([5]) } },
 *   metadata: {},
 * });
 * console.log(parts.length); // 2: prefix + header, then the tensor
 * ```
 */
export function encodeSafetensorsParts(data: CheckpointData): Uint8Array[] {
  checkForEncoding(data);
  const names = Object.keys(data.tensors).sort((a, b) => writeOrder(data.tensors, a, b));
  const entries: string[] = [];
  if (Object.keys(data.metadata).length > 0) {
    entries.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(data.metadata)}`);
  }
  const bodies: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    const { dtype, shape, data: array } = data.tensors[name];
    const info = { dtype, shape, data_offsets: [offset, offset + array.byteLength] };
    entries.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    bodies.push(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
    offset += array.byteLength;
  }
  const json = UTF8.encode(`{${entries.join(",")}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + headerLength).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLength), true);
  head.set(json, 8);
  return [head, ...bodies];
}

/**
 * Decodes safetensors bytes strictly (see the module doc for what is rejected). Tensor data is
 * copied, so the result does not alias `bytes`.
 *
 * @param bytes the whole file
 * @param source named in error messages, usually the file path
 * @throws {CheckpointError} on any malformed input, and on nothing else
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./mod.ts";
 * const bytes = encodeSafetensors({
 *   tensors: { s: { dtype: "U32", shape: [], data: new Uint32Array([9]) } },
 *   metadata: {},
 * });
 * const { tensors } = decodeSafetensors(bytes, "example.safetensors");
 * console.log(tensors.s.shape, tensors.s.data[0]); // [] 9
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, source: string = IN_MEMORY): CheckpointData {
  const headerLength = readHeaderLength(bytes, source);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), source);
  const buffer = bytes.subarray(8 + headerLength);
  const metadata = checkMetadata(header[METADATA_KEY], source);
  const layouts = Object.entries(header)
    .filter(([name]) => name !== METADATA_KEY)
    .map(([name, entry]) => checkEntry(name, entry, buffer.length, source));
  checkTiling(layouts, buffer.length, source);
  const tensors = layouts.map((t) => [t.name, copyTensor(t, buffer)] as const);
  return { tensors: Object.fromEntries(tensors), metadata };
}

/** A header entry after validation. */
interface TensorLayout {
  name: string;
  dtype: CheckpointDtype;
  shape: number[];
  begin: number;
  end: number;
}

function fail(source: string, problem: string, cause?: unknown): never {
  throw new CheckpointError(source, problem, cause === undefined ? undefined : { cause });
}

/**
 * The reference writer's order: dtype (F32, U32, I32: its enum order, descending), then name by
 * UTF-8 bytes. Following it makes our files byte-identical to the reference's.
 */
function writeOrder(tensors: Record<string, CheckpointTensor>, a: string, b: string): number {
  const byDtype = DTYPE_RANK[tensors[a].dtype] - DTYPE_RANK[tensors[b].dtype];
  if (byDtype !== 0) return byDtype;
  const [x, y] = [UTF8.encode(a), UTF8.encode(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

function checkForEncoding(data: CheckpointData): void {
  for (const [key, value] of Object.entries(data.metadata)) {
    if (typeof value !== "string") {
      fail(ENCODING, `metadata "${key}" must be a string, got ${describe(value)}`);
    }
  }
  for (const [name, tensor] of Object.entries(data.tensors)) {
    const where = `tensor "${name}"`;
    if (name === METADATA_KEY) fail(ENCODING, `"${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (!Object.hasOwn(ARRAYS, tensor.dtype)) {
      fail(ENCODING, `${where}: unsupported dtype ${describe(tensor.dtype)}`);
    }
    if (!(tensor.data instanceof ARRAYS[tensor.dtype])) {
      fail(ENCODING, `${where}: dtype ${tensor.dtype} needs a ${ARRAYS[tensor.dtype].name} for its data`);
    }
    const numel = shapeNumel(tensor.shape, ENCODING, where);
    if (numel !== BigInt(tensor.data.length)) {
      fail(
        ENCODING,
        `${where}: shape [${tensor.shape}] has ${numel} elements but data has ${tensor.data.length}`,
      );
    }
  }
}

/** Product of a shape's dimensions, after checking each is a non-negative safe integer. */
function shapeNumel(shape: unknown, source: string, where: string): bigint {
  if (!Array.isArray(shape)) fail(source, `${where}: shape must be an array, got ${describe(shape)}`);
  let numel = 1n;
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      fail(source, `${where}: shape must hold non-negative integers, got ${describe(dim)}`);
    }
    numel *= BigInt(dim);
  }
  return numel;
}

function readHeaderLength(bytes: Uint8Array, source: string): number {
  if (bytes.length < 8) {
    fail(source, `file is ${bytes.length} bytes, shorter than the 8-byte header length prefix`);
  }
  const length = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(MAX_HEADER_BYTES)) {
    fail(
      source,
      `header length ${length} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt length prefix?)`,
    );
  }
  if (length > BigInt(bytes.length - 8)) {
    fail(source, `header length ${length} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  }
  return Number(length);
}

function parseHeader(raw: Uint8Array, source: string): Record<string, unknown> {
  if (raw[0] !== 0x7b) fail(source, "header must be a JSON object starting with '{'");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch (error) {
    fail(source, "header is not valid UTF-8", error);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    fail(source, `header is not valid JSON: ${(error as Error).message}`, error);
  }
  if (!isObject(header)) fail(source, `header must be a JSON object, got ${describe(header)}`);
  return header;
}

function checkMetadata(metadata: unknown, source: string): Record<string, string> {
  if (metadata === undefined) return {};
  if (!isObject(metadata)) {
    fail(source, `"${METADATA_KEY}" must be an object of strings, got ${describe(metadata)}`);
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      fail(source, `"${METADATA_KEY}" value for "${key}" must be a string, got ${describe(value)}`);
    }
  }
  return Object.fromEntries(Object.entries(metadata)) as Record<string, string>;
}

function checkEntry(name: string, entry: unknown, bufferLength: number, source: string): TensorLayout {
  const where = `tensor "${name}"`;
  if (!isObject(entry)) fail(source, `${where}: entry must be an object, got ${describe(entry)}`);
  const missing = TENSOR_FIELDS.filter((f) => !Object.hasOwn(entry, f));
  if (missing.length > 0) fail(source, `${where}: entry is missing ${missing.join(", ")}`);
  const unknown = Object.keys(entry).filter((f) => !TENSOR_FIELDS.includes(f));
  if (unknown.length > 0) fail(source, `${where}: entry has unknown field(s) ${unknown.join(", ")}`);
  const dtype = entry.dtype;
  if (typeof dtype !== "string" || !Object.hasOwn(ARRAYS, dtype)) {
    fail(source, `${where}: unsupported dtype ${describe(dtype)} (gradscope reads F32, I32, U32)`);
  }
  const numel = shapeNumel(entry.shape, source, where);
  const [begin, end] = checkOffsets(entry.data_offsets, bufferLength, source, where);
  if (BigInt(end - begin) !== numel * BigInt(DTYPE_BYTES)) {
    fail(
      source,
      `${where}: data_offsets span ${end - begin} bytes but ${numel} ${dtype} elements need ${
        numel * BigInt(DTYPE_BYTES)
      }`,
    );
  }
  return { name, dtype: dtype as CheckpointDtype, shape: entry.shape as number[], begin, end };
}

function checkOffsets(
  offsets: unknown,
  bufferLength: number,
  source: string,
  where: string,
): [number, number] {
  const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex)) {
    fail(source, `${where}: data_offsets must be two non-negative integers, got ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(source, `${where}: data_offsets begin ${begin} is after end ${end}`);
  if (end > bufferLength) {
    fail(
      source,
      `${where}: data_offsets end ${end} is past the ${bufferLength}-byte data buffer (truncated?)`,
    );
  }
  return [begin, end];
}

/** The tensors must cover the buffer exactly: no overlap, no gap, no trailing bytes. */
function checkTiling(layouts: TensorLayout[], bufferLength: number, source: string): void {
  const sorted = [...layouts].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let previous = "the start of the buffer";
  for (const t of sorted) {
    if (t.begin < at) fail(source, `tensor "${t.name}" overlaps ${previous} (bytes ${t.begin}..${at})`);
    if (t.begin > at) fail(source, `${t.begin - at} unused bytes between ${previous} and tensor "${t.name}"`);
    at = t.end;
    previous = `tensor "${t.name}"`;
  }
  if (at !== bufferLength) fail(source, `${bufferLength - at} trailing bytes after the last tensor`);
}

function copyTensor(t: TensorLayout, buffer: Uint8Array): CheckpointTensor {
  const bytes = buffer.slice(t.begin, t.end);
  const data = new ARRAYS[t.dtype](bytes.buffer, 0, (t.end - t.begin) / DTYPE_BYTES);
  return { dtype: t.dtype, shape: [...t.shape], data } as CheckpointTensor;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short description of an unexpected JSON value for error messages. */
function describe(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value); // a BigInt or a cycle, which only a caller's encode input can hold
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
