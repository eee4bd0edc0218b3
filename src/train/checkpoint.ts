/**
 * Checkpoint files: safetensors written atomically and read strictly. The format itself lives
 * in `safetensors.ts`; this module adds the file handling.
 *
 * A write goes to a temporary file beside the target (same directory, hence same file system),
 * is flushed with fsync, and is then renamed over the target, so a crash at any moment leaves
 * either the old checkpoint or the new one, never a partial file at the target path.
 *
 * @module
 */

import {
  type CheckpointData,
  CheckpointError,
  decodeSafetensors,
  encodeSafetensorsParts,
} from "./safetensors.ts";

/**
 * Options for {@linkcode writeCheckpoint}.
 *
 * @example
 * ```ts
 * import type { WriteCheckpointOptions } from "./mod.ts";
 * const options: WriteCheckpointOptions = { rename: (from, to) => Deno.rename(from, to) };
 * console.log(typeof options.rename); // "function"
 * ```
 */
export interface WriteCheckpointOptions {
  /**
   * Moves the finished temporary file over the target; `Deno.rename` by default. Tests inject a
   * failing one to check that the old checkpoint survives.
   */
  rename?: (from: string, to: string) => Promise<void>;
}

/**
 * Writes a checkpoint atomically: temporary file in the same directory, fsync, rename over
 * `path`, then a best-effort fsync of the directory so the rename itself is durable. On failure
 * the temporary file is removed and `path` is untouched. Needs read and write permission on the
 * directory.
 *
 * @param path the target file, conventionally ending in `.safetensors`
 * @param data tensors and string metadata
 * @param options see {@linkcode WriteCheckpointOptions}
 * @throws {CheckpointError} when the data cannot be encoded or the directory does not exist
 *
 * @example
 * ```ts
 * import { readCheckpoint, writeCheckpoint } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await writeCheckpoint(path, {
 *   tensors: { params: { dtype: "F32", shape: [3], data: new Float32Array([1, 2, 3]) } },
 *   metadata: { step: "100" },
 * });
 * console.log((await readCheckpoint(path)).metadata.step); // "100"
 * ```
 */
export async function writeCheckpoint(
  path: string,
  data: CheckpointData,
  options: WriteCheckpointOptions = {},
): Promise<void> {
  const parts = encodeFor(path, data);
  const temp = `${path}.tmp-${randomHex()}`;
  try {
    await writeSynced(path, temp, parts);
    await (options.rename ?? Deno.rename)(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {}); // it may never have been created
    throw error;
  }
  await syncDirectory(directoryOf(path));
}

/**
 * Reads and strictly decodes a checkpoint file.
 *
 * @param path the checkpoint file
 * @throws {CheckpointError} when the file is missing or malformed; the message names the path
 *
 * @example
 * ```ts
 * import { CheckpointError, readCheckpoint } from "./mod.ts";
 * try {
 *   await readCheckpoint("/nowhere/run.safetensors");
 * } catch (error) {
 *   console.log(error instanceof CheckpointError); // true: "... /nowhere/run.safetensors: file not found"
 * }
 * ```
 */
export async function readCheckpoint(path: string): Promise<CheckpointData> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CheckpointError(path, "file not found", { cause: error });
    }
    throw error; // permissions and I/O errors already name the path and the fix
  }
  return decodeSafetensors(bytes, path);
}

/** Encodes, re-labelling encoding errors with the target path. */
function encodeFor(path: string, data: CheckpointData): Uint8Array[] {
  try {
    return encodeSafetensorsParts(data);
  } catch (error) {
    if (error instanceof CheckpointError) throw new CheckpointError(path, error.problem, { cause: error });
    throw error;
  }
}

/** Creates `temp` (never an existing file), writes every chunk, and fsyncs before closing. */
async function writeSynced(path: string, temp: string, parts: Uint8Array[]): Promise<void> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new CheckpointError(path, `directory ${directoryOf(path)} does not exist`, { cause: error });
  }
  try {
    for (const part of parts) {
      for (let at = 0; at < part.length;) at += await file.write(part.subarray(at));
    }
    await file.sync();
  } finally {
    file.close();
  }
}

/** Makes a completed rename durable; skipped where directories cannot be opened (Windows). */
async function syncDirectory(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Best effort: the new file is complete at the target either way.
  }
}

function directoryOf(path: string): string {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
