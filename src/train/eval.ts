/**
 * Evaluation on validation batches: the model's forward pass only, the loss per example and
 * the accuracy of the logits' argmax (next-token accuracy for a language model, class
 * accuracy for a classifier). One readback per batch, only at evaluation time.
 *
 * @module
 */

import type { Batch } from "../data/batch.ts";
import { readBack } from "../gpu/readback.ts";
import { Tensor } from "../gpu/tensor.ts";
import type { Program } from "../gpu/dispatch.ts";
import type { Transformer } from "../nn/transformer.ts";
import { recordRowArgmax } from "./metric_kernels.ts";

/** Validation loss and accuracy. */
export interface EvalResult {
  /** Mean over the evaluated examples of each example's loss (padding rows excluded). */
  loss: number;
  /** Correct argmax predictions over the predicted targets (targets of −1 excluded). */
  accuracy: number;
  /** Examples evaluated. */
  examples: number;
}

/**
 * Evaluates a {@linkcode Transformer} on batches of its batch size. It overwrites the model's
 * inputs and activations, never its parameters or gradients, so a training step after it is
 * unaffected.
 *
 * @example
 * ```ts ignore
 * const evaluator = await Evaluator.create(model);
 * const { loss, accuracy } = await evaluator.evaluate(data.validBatches(4, seed));
 * evaluator.destroy();
 * ```
 */
export class Evaluator {
  readonly #model: Transformer;
  readonly #argmax: Tensor;
  readonly #program: Program;

  private constructor(model: Transformer, argmax: Tensor, program: Program) {
    this.#model = model;
    this.#argmax = argmax;
    this.#program = program;
  }

  /** Records the argmax over the model's logits. */
  static async create(model: Transformer): Promise<Evaluator> {
    const gpu = model.params.gpu;
    const argmax = new Tensor(gpu, [model.logits.shape[0]], "f32", "eval.argmax");
    try {
      return new Evaluator(model, argmax, await recordRowArgmax(gpu, model.logits, argmax));
    } catch (error) {
      argmax.destroy();
      throw error;
    }
  }

  /** Loss and accuracy over `batches` (each of the model's batch size). */
  async evaluate(batches: Iterable<Batch>): Promise<EvalResult> {
    const model = this.#model, gpu = model.params.gpu;
    const nClasses = model.logits.shape[1], R = model.rowsPerExample;
    let lossSum = 0, examples = 0, correct = 0, predicted = 0;
    for (const batch of batches) {
      model.setBatch(batch);
      model.forward();
      this.#program.run();
      const [lossBytes, argmaxBytes] = await readBack(gpu, [
        { buffer: model.exampleLosses.buffer, size: model.exampleLosses.byteLength },
        { buffer: this.#argmax.buffer, size: this.#argmax.byteLength },
      ]);
      const losses = new Float32Array(lossBytes), argmax = new Float32Array(argmaxBytes);
      for (let b = 0; b < batch.B; b++) {
        let valid = 0;
        for (let r = b * R; r < (b + 1) * R; r++) {
          const t = batch.targets[r];
          if (t < 0 || t >= nClasses) continue;
          valid++;
          if (argmax[r] === t) correct++;
        }
        predicted += valid;
        if (valid > 0) {
          lossSum += losses[b];
          examples++;
        }
      }
    }
    return {
      loss: examples ? lossSum / examples : NaN,
      accuracy: predicted ? correct / predicted : NaN,
      examples,
    };
  }

  /** Frees the argmax program and output. */
  destroy(): void {
    this.#program.destroy();
    this.#argmax.destroy();
  }
}
