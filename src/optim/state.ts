/**
 * Optimizer state on the GPU: the per-element slots (moments), the control scalars (step
 * counter, learning rate, gradient norm), and the per-block tables. Saved to and loaded from
 * named Float32Arrays for checkpoints.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { readBack } from "../gpu/readback.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { ParamLayout } from "../nn/layout.ts";

/**
 * Index of each scalar in {@linkcode OptState.control}, written by every step before the
 * update: `step` t (1 for the first update; exact up to 2^24), the learning rate η used by
 * step t, the global gradient norm and the clipping scale (0 and 1 without clipping), and
 * the bias corrections 1 − β1^t and 1 − β2^t (1 for rules without them).
 *
 * @example
 * ```ts ignore
 * const [control] = await readBack(gpu, [{ buffer: state.control.buffer, size: 32 }]);
 * console.log(new Float32Array(control)[CONTROL.lr]);
 * ```
 */
export const CONTROL: Readonly<Record<"step" | "lr" | "gradNorm" | "gradScale" | "bc1" | "bc2", number>> =
  Object
    .freeze({ step: 0, lr: 1, gradNorm: 2, gradScale: 3, bc1: 4, bc2: 5 });

/** Floats in the control buffer. */
export const CONTROL_SIZE = 8;

/** The scalars of the last step, as read by {@linkcode OptState.readControl}. */
export interface ControlValues {
  /** Steps taken. */
  step: number;
  /** Learning rate of the last step. */
  lr: number;
  /** Global norm of the last mean gradient (0 without clipping). */
  gradNorm: number;
  /** Clipping scale of the last step (1 without clipping). */
  gradScale: number;
}

/**
 * The state of one {@linkcode GradientTransformation} over one layout, made by its `init`.
 * Free it with {@linkcode OptState.destroy}.
 *
 * @example
 * ```ts
 * import { adam, getDevice, ParamLayout } from "./mod.ts";
 * const gpu = await getDevice();
 * const layout = new ParamLayout([{ name: "w", shape: [3], kind: "weight" }]);
 * const state = adam({ lr: 1e-3 }).init(gpu, layout);
 * const saved = await state.save(); // { step, exp_avg, exp_avg_sq }
 * state.load(saved);
 * state.destroy();
 * gpu.destroy();
 * ```
 */
export class OptState {
  /** The device. */
  readonly gpu: Gpu;
  /** The parameter layout the state follows. */
  readonly layout: ParamLayout;
  /** The control scalars, indexed by {@linkcode CONTROL}. */
  readonly control: Tensor;
  /** Block index of each 64-float granule (u32). */
  readonly blockIds: Tensor<"u32">;
  /** Per-block coefficients (struct Block in kernels/optim_apply.wgsl). */
  readonly blockTable: Tensor;
  /** @internal the plan of the transformation that made this state */
  readonly owner: object;
  readonly #slots: Map<string, Tensor>;
  #destroyed = false;

  /**
   * Allocates zeroed state. Made by `GradientTransformation.init`, not directly.
   *
   * @param slots names of the per-element state buffers
   * @param tables the granule → block map and the block coefficient table
   * @param owner the plan of the transformation that made it
   */
  constructor(
    gpu: Gpu,
    layout: ParamLayout,
    slots: readonly string[],
    tables: { ids: Uint32Array; table: Float32Array },
    owner: object,
  ) {
    this.gpu = gpu;
    this.layout = layout;
    this.owner = owner;
    this.control = new Tensor(gpu, [CONTROL_SIZE], "f32", "optim.control");
    this.blockIds = Tensor.from(gpu, [tables.ids.length], tables.ids, "u32", "optim.block_ids");
    this.blockTable = Tensor.from(gpu, [tables.table.length], tables.table, "f32", "optim.block_table");
    this.#slots = new Map(
      slots.map((name) => [name, new Tensor(gpu, [layout.size], "f32", `optim.${name}`)]),
    );
  }

  /** Names of the per-element state buffers, e.g. `["exp_avg", "exp_avg_sq"]`. */
  get slotNames(): string[] {
    return [...this.#slots.keys()];
  }

  /** The per-element state buffer `name`, laid out like the parameters. */
  slot(name: string): Tensor {
    const tensor = this.#slots.get(name);
    if (!tensor) throw new Error(`gradscope: optimizer state has no slot '${name}' (has ${this.slotNames})`);
    return tensor;
  }

  /** Reads the control scalars (one readback): for logs, not for every step. */
  async readControl(): Promise<ControlValues> {
    const c = await this.control.read();
    return {
      step: c[CONTROL.step],
      lr: c[CONTROL.lr],
      gradNorm: c[CONTROL.gradNorm],
      gradScale: c[CONTROL.gradScale],
    };
  }

  /**
   * Reads the complete state with one readback: `step` (a one-element array) and one array
   * per slot. The learning rate, norms and bias corrections are recomputed from the step.
   */
  async save(): Promise<Record<string, Float32Array>> {
    const names = this.slotNames;
    const bytes = await readBack(this.gpu, [
      { buffer: this.control.buffer, size: 4 },
      ...names.map((name) => ({ buffer: this.slot(name).buffer, size: this.layout.size * 4 })),
    ]);
    const out: Record<string, Float32Array> = { step: new Float32Array(bytes[0]) };
    names.forEach((name, i) => out[name] = new Float32Array(bytes[i + 1]));
    return out;
  }

  /** Writes a state read by {@linkcode OptState.save}; throws if a name or size differs. */
  load(saved: Readonly<Record<string, Float32Array>>): void {
    const names = ["step", ...this.slotNames];
    const extra = Object.keys(saved).filter((k) => !names.includes(k));
    const missing = names.filter((k) => !(k in saved));
    if (extra.length || missing.length) {
      throw new Error(`gradscope: optimizer state expects [${names}], got [${Object.keys(saved)}]`);
    }
    const step = saved.step;
    if (step.length !== 1 || !Number.isInteger(step[0]) || step[0] < 0) {
      throw new RangeError(`gradscope: saved optimizer step must be one integer ≥ 0, got [${step}]`);
    }
    for (const name of this.slotNames) {
      if (saved[name].length !== this.layout.size) {
        throw new RangeError(
          `gradscope: saved slot '${name}' has ${saved[name].length} floats, the layout ${this.layout.size}`,
        );
      }
    }
    this.control.write(step, CONTROL.step);
    for (const name of this.slotNames) this.slot(name).write(saved[name]);
  }

  /** Frees every buffer. Safe to call twice. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const t of [this.control, this.blockIds, this.blockTable, ...this.#slots.values()]) t.destroy();
  }
}
