/**
 * A model to look at outside the training loop: the transformer of a run config, at its
 * initialisation or at a run's checkpointed parameters, with the run's own training data, for
 * gradients and Hessian eigenvalues at chosen points.
 *
 * @module
 */

import type { Batcher } from "../data/batch.ts";
import type { Gpu } from "../gpu/device.ts";
import type { ParamLayout } from "../nn/layout.ts";
import { Transformer } from "../nn/transformer.ts";
import { readCheckpoint } from "../train/checkpoint.ts";
import { parseRunConfig } from "../train/config.ts";
import { checkModelFitsData, loadRunData } from "../train/data.ts";
import type { CheckpointData } from "../train/safetensors.ts";

/** A model with a batcher over its run's training data. */
export interface Probe {
  /** The model (batch size = the config's `data.batch_size`). */
  model: Transformer;
  /** Training batches, seeded apart from the run's own data order. */
  batcher: Batcher;
  /** Frees the model. */
  destroy(): void;
}

/**
 * The model of a run config, initialised with the config's seed (or given parameters), and a
 * batcher over the config's training data drawn from `dataSeed`.
 *
 * @param gpu the device
 * @param raw a run config (validated here)
 * @param options initial parameters and the data seed (default: the config's seed + 1000)
 * @example
 * ```ts ignore
 * const probe = await probeModel(gpu, config);
 * const grad = await probeGradient(probe);
 * probe.destroy();
 * ```
 */
export async function probeModel(
  gpu: Gpu,
  raw: Record<string, unknown>,
  options: { params?: Float32Array; dataSeed?: number } = {},
): Promise<Probe> {
  const config = parseRunConfig(raw);
  const data = await loadRunData(config);
  checkModelFitsData(config.model, data.needs);
  const model = await Transformer.create(gpu, config.model, {
    batchSize: config.data.batch_size,
    seed: config.seed,
    params: options.params,
  });
  const batcher = data.trainBatcher(options.dataSeed ?? config.seed + 1000);
  return { model, batcher, destroy: () => model.destroy() };
}

/**
 * Sets the probe's next training batch and returns the mean gradient of its loss.
 *
 * @example
 * ```ts ignore
 * const norms = blockGradientNorms(await probeGradient(probe), probe.model.layout);
 * ```
 */
export async function probeGradient(probe: Probe): Promise<Float32Array> {
  probe.model.setBatch(probe.batcher.next());
  await probe.model.forwardBackward();
  return await probe.model.grads.read();
}

/**
 * The flat parameters stored in a checkpoint's per-block tensors, in `layout`.
 *
 * @param data a training checkpoint (see `readCheckpoint`)
 * @param layout the model's layout
 * @example
 * ```ts ignore
 * const params = checkpointParams(await readCheckpoint(`${dir}/checkpoint.safetensors`), layout);
 * ```
 */
export function checkpointParams(data: CheckpointData, layout: ParamLayout): Float32Array {
  const flat = new Float32Array(layout.size);
  for (const block of layout.blocks) {
    const tensor = data.tensors[block.name];
    if (!tensor || tensor.data.length !== block.size) {
      throw new Error(`gradscope: checkpoint has no block ${block.name} of ${block.size} values`);
    }
    flat.set(tensor.data, block.offset);
  }
  return flat;
}

/**
 * {@linkcode checkpointParams} of a run directory's `checkpoint.safetensors`.
 *
 * @example
 * ```ts ignore
 * const probe = await probeModel(gpu, config, { params: await runParams(dir, layout) });
 * ```
 */
export async function runParams(dir: string, layout: ParamLayout): Promise<Float32Array> {
  return checkpointParams(await readCheckpoint(`${dir}/checkpoint.safetensors`), layout);
}
