/**
 * What a training checkpoint holds, mapped to and from safetensors (`checkpoint.ts`):
 *
 * - tensors: each parameter block under its layout name (`blocks.0.attn.qkv.weight`, …), each
 *   optimizer slot per block as `optimizer.<slot>.<block>`, the optimizer step as
 *   `optimizer.step`, and the loss window of the metrics as `train.losses`;
 * - metadata: `format`, the run `config` (JSON), `step`, the training batcher's state
 *   (`batcher`, JSON), the first step's loss (`initial_loss`), the last loss read back
 *   (`last_loss`) and the last evaluation (`last_eval`, JSON), the elapsed `time_s` and
 *   `train_s`, and the noise generator's `noise_draws` when the run adds noise.
 *
 * Decoding checks every name, shape and field against the run and raises a
 * `CheckpointError` that says what differs.
 *
 * @module
 */

import type { BatcherState } from "../data/batch.ts";
import type { ParamLayout } from "../nn/layout.ts";
import { type CheckpointData, CheckpointError, type CheckpointTensor } from "./safetensors.ts";

/**
 * The `format` metadata of training checkpoints.
 *
 * @example
 * ```ts ignore
 * const isTraining = (await readCheckpoint(path)).metadata.format === TRAIN_CHECKPOINT_FORMAT;
 * ```
 */
export const TRAIN_CHECKPOINT_FORMAT = "gradscope.train.v1";

/** Everything needed to continue a run exactly where it stopped. */
export interface TrainState {
  /** Steps taken. */
  step: number;
  /** The run config, as stored in `config.json`. */
  config: unknown;
  /** Flat parameters in the layout. */
  params: Float32Array;
  /** `OptState.save()`: `step` and one flat array per slot. */
  optimizer: Record<string, Float32Array>;
  /** The training batcher's state. */
  batcher: BatcherState;
  /** The metrics loss window. */
  losses: Float32Array;
  /** The loss of step 1, once read (the divergence threshold's base). */
  initialLoss: number | null;
  /** The last training loss read back. */
  lastLoss: number | null;
  /** The last evaluation. */
  lastEval: { loss: number; accuracy: number } | null;
  /** Seconds since the run started. */
  timeSeconds: number;
  /** Seconds spent in training steps and metrics readings. */
  trainSeconds: number;
  /** Noise draws so far, when the run adds noise. */
  noiseDraws: number | null;
}

function f32(shape: number[], data: Float32Array): CheckpointTensor {
  return { dtype: "F32", shape, data };
}

/** Per-block tensors of a flat array, named `prefix + block name`. */
function blockTensors(
  layout: ParamLayout,
  flat: Float32Array,
  prefix: string,
): Record<string, CheckpointTensor> {
  return Object.fromEntries(layout.blocks.map((b) => [
    prefix + b.name,
    f32([...b.shape], flat.slice(b.offset, b.offset + b.size)),
  ]));
}

/**
 * The checkpoint contents of a training state.
 *
 * @example
 * ```ts ignore
 * await writeCheckpoint(path, encodeTrainState(state, model.layout));
 * ```
 */
export function encodeTrainState(state: TrainState, layout: ParamLayout): CheckpointData {
  const tensors: Record<string, CheckpointTensor> = {
    ...blockTensors(layout, state.params, ""),
    "train.losses": f32([state.losses.length], state.losses),
  };
  for (const [name, values] of Object.entries(state.optimizer)) {
    if (name === "step") tensors["optimizer.step"] = f32([1], values);
    else Object.assign(tensors, blockTensors(layout, values, `optimizer.${name}.`));
  }
  const metadata: Record<string, string> = {
    format: TRAIN_CHECKPOINT_FORMAT,
    config: JSON.stringify(state.config),
    step: String(state.step),
    batcher: JSON.stringify(state.batcher),
    initial_loss: JSON.stringify(state.initialLoss),
    last_loss: JSON.stringify(state.lastLoss),
    last_eval: JSON.stringify(state.lastEval),
    time_s: String(state.timeSeconds),
    train_s: String(state.trainSeconds),
  };
  if (state.noiseDraws !== null) metadata.noise_draws = String(state.noiseDraws);
  return { tensors, metadata };
}

/** What the run expects a checkpoint to hold. */
export interface TrainStateShape {
  /** The model's layout. */
  layout: ParamLayout;
  /** The optimizer's slot names. */
  slots: readonly string[];
  /** Length of the loss window. */
  window: number;
  /** Whether the run adds noise (and so stores its draw counter). */
  noise: boolean;
}

/** Reads tensors and metadata off a checkpoint, failing with the checkpoint's path. */
class Reader {
  readonly used = new Set<string>();
  constructor(readonly data: CheckpointData, readonly source: string) {}

  fail(problem: string): never {
    throw new CheckpointError(this.source, problem);
  }

  tensor(name: string, shape: readonly number[]): Float32Array {
    const t = this.data.tensors[name];
    if (!t) this.fail(`tensor '${name}' is missing`);
    if (t.dtype !== "F32" || t.shape.join() !== shape.join()) {
      this.fail(`tensor '${name}' is ${t.dtype} [${t.shape}], expected F32 [${shape}]`);
    }
    this.used.add(name);
    return t.data as Float32Array;
  }

  /** A flat layout-sized array from per-block tensors `prefix + name` (gaps zero). */
  flat(
    layout: ParamLayout,
    prefix: string,
    into: Float32Array = new Float32Array(layout.size),
    skip?: (name: string) => boolean,
  ): Float32Array {
    for (const b of layout.blocks) {
      if (!skip?.(b.name)) into.set(this.tensor(prefix + b.name, b.shape), b.offset);
    }
    return into;
  }

  meta(key: string): string {
    const value = this.data.metadata[key];
    if (value === undefined) this.fail(`metadata '${key}' is missing`);
    return value;
  }

  json(key: string): unknown {
    try {
      return JSON.parse(this.meta(key));
    } catch {
      this.fail(`metadata '${key}' is not JSON`);
    }
  }

  number(key: string, check: (x: number) => boolean): number {
    const x = Number(this.meta(key));
    if (!check(x)) this.fail(`metadata '${key}' = '${this.meta(key)}' is out of range`);
    return x;
  }
}

const isCount = (x: number) => Number.isInteger(x) && x >= 0;

function batcherState(value: unknown, r: Reader): BatcherState {
  const s = value as BatcherState;
  if (typeof s !== "object" || s === null || ![s.rng, s.epoch, s.cursor].every((x) => isCount(x))) {
    r.fail("metadata 'batcher' is not a batcher state {rng, epoch, cursor}");
  }
  return { rng: s.rng, epoch: s.epoch, cursor: s.cursor };
}

/**
 * Decodes and checks a training checkpoint against the run that resumes from it.
 *
 * @param source the checkpoint path, for error messages
 * @throws {CheckpointError} naming what is missing or differs
 * @example
 * ```ts ignore
 * const state = decodeTrainState(await readCheckpoint(path), path, { layout, slots, window: 10, noise: false });
 * ```
 */
export function decodeTrainState(data: CheckpointData, source: string, shape: TrainStateShape): TrainState {
  const r = new Reader(data, source);
  const format = r.meta("format");
  if (format !== TRAIN_CHECKPOINT_FORMAT) r.fail(`format '${format}' is not ${TRAIN_CHECKPOINT_FORMAT}`);
  const optimizer: Record<string, Float32Array> = { step: r.tensor("optimizer.step", [1]) };
  for (const slot of shape.slots) optimizer[slot] = r.flat(shape.layout, `optimizer.${slot}.`);
  const state: TrainState = {
    step: r.number("step", isCount),
    config: r.json("config"),
    params: r.flat(shape.layout, ""),
    optimizer,
    batcher: batcherState(r.json("batcher"), r),
    losses: r.tensor("train.losses", [shape.window]),
    initialLoss: nullableNumber("initial_loss", r),
    lastLoss: nullableNumber("last_loss", r),
    lastEval: lastEval(r),
    timeSeconds: r.number("time_s", (x) => x >= 0),
    trainSeconds: r.number("train_s", (x) => x >= 0),
    noiseDraws: shape.noise ? r.number("noise_draws", isCount) : null,
  };
  if (optimizer.step[0] !== state.step) {
    r.fail(`optimizer.step ${optimizer.step[0]} differs from the metadata step ${state.step}`);
  }
  const extra = Object.keys(data.tensors).filter((name) => !r.used.has(name));
  if (extra.length) {
    r.fail(`unexpected tensors ${extra.slice(0, 5).join(", ")} (a different model or optimizer?)`);
  }
  return state;
}

function nullableNumber(key: string, r: Reader): number | null {
  const value = r.json(key);
  if (value === null || typeof value === "number") return value;
  return r.fail(`metadata '${key}' is neither a number nor null`);
}

function lastEval(r: Reader): { loss: number; accuracy: number } | null {
  const value = r.json("last_eval") as { loss: unknown; accuracy: unknown } | null;
  if (value === null) return null;
  if (typeof value !== "object" || typeof value.loss !== "number" || typeof value.accuracy !== "number") {
    r.fail("metadata 'last_eval' is not {loss, accuracy}");
  }
  return { loss: value.loss, accuracy: value.accuracy };
}

/**
 * The body of a checkpoint's model written into `params` (flat, in `layout`): every block of
 * `layout` except the head (`head.*`), found by name with the same shape. The head's values
 * in `params` are left as they are (a fresh initialisation).
 *
 * @throws {CheckpointError} when a body block is missing or has another shape
 * @example
 * ```ts ignore
 * const params = initParams(config.model, layout, seed);
 * loadBody(await readCheckpoint(path), path, layout, params);
 * ```
 */
export function loadBody(
  data: CheckpointData,
  source: string,
  layout: ParamLayout,
  params: Float32Array,
): void {
  const r = new Reader(data, source);
  if (layout.blocks.every((b) => b.name.startsWith("head."))) r.fail("the model has no body to load");
  r.flat(layout, "", params, (name) => name.startsWith("head."));
}
