/**
 * Records a `Transformer`'s forward pass and its backward passes (plain, or with
 * per-example statistics) over the tensors of `ModelState`, layer by layer, llm.c
 * style. Internal to src/nn/.
 *
 * @module
 */

import type { Gpu } from "../gpu/device.ts";
import { Program, slice } from "../gpu/dispatch.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { recordAxpby } from "../ops/elementwise.ts";
import { recordMatmul } from "../ops/matmul.ts";
import { recordCopyExampleRows, recordOneHotExampleRows } from "../stats/example_rows.ts";
import {
  recordPerExampleColumnSum,
  recordPerExampleDirect,
  recordPerExampleLinearGrad,
  type StatOutputs,
} from "../stats/per_example.ts";
import { type AttentionShape, recordAttentionBackward, recordAttentionForward } from "./attention.ts";
import type { TransformerConfig } from "./config.ts";
import { recordCrossEntropy, recordLossReduce } from "./cross_entropy.ts";
import { type EmbeddingBackward, recordEmbeddingBackward, recordEmbeddingForward } from "./embedding.ts";
import { recordGeluBackward, recordGeluForward } from "./gelu.ts";
import { recordLayerNormBackward, recordLayerNormForward } from "./layer_norm.ts";
import type { ParamLayout } from "./layout.ts";
import {
  type LinearBackwardIo,
  type LinearShape,
  recordLinearForward,
  recordLinearInputGrad,
  recordLinearParamGrad,
} from "./linear.ts";
import type { BlockActivations, ModelState, NormActivations, StatBuffers } from "./model_state.ts";
import { vocabSize } from "./model_state.ts";
import {
  patchCount,
  recordPatchAssemble,
  recordPatchAssembleBackward,
  recordPatchGather,
} from "./patch_embedding.ts";
import { recordPool, recordPoolBackward } from "./pool.ts";

/** Records the forward and backward programs over the allocated tensors. */
export class ProgramBuilder {
  readonly #gpu: Gpu;
  readonly #config: TransformerConfig;
  readonly #layout: ParamLayout;
  readonly #B: number;
  readonly #s: ModelState;
  /** Where statistics go while a backward pass with a request is being recorded. */
  #stats: StatBuffers | null = null;

  constructor(gpu: Gpu, config: TransformerConfig, layout: ParamLayout, B: number, state: ModelState) {
    this.#gpu = gpu;
    this.#config = config;
    this.#layout = layout;
    this.#B = B;
    this.#s = state;
  }

  get config(): TransformerConfig {
    return this.#config;
  }

  get layout(): ParamLayout {
    return this.#layout;
  }

  get batchSize(): number {
    return this.#B;
  }

  get #rows(): number {
    return this.#B * this.#config.seqLen;
  }

  #param(name: string) {
    const block = this.#layout.get(name);
    return slice(this.#s.params, block.offset, block.size);
  }

  #grad(name: string) {
    const block = this.#layout.get(name);
    return slice(this.#s.grads, block.offset, block.size);
  }

  #linear(name: string, nIn: number, nOut: number, rows = this.#rows): LinearShape {
    return { layout: this.#layout, name, rows, nIn, nOut };
  }

  get #attentionShape(): AttentionShape {
    const c = this.#config;
    return { batch: this.#B, seqLen: c.seqLen, heads: c.nHeads, dModel: c.dModel, causal: c.causal };
  }

  #layerNorm(name: string, x: Tensor, out: NormActivations): Promise<Program> {
    const { y, mean, rstd } = out;
    return recordLayerNormForward(this.#gpu, {
      x,
      gamma: this.#param(`${name}.weight`),
      beta: this.#param(`${name}.bias`),
      y,
      mean,
      rstd,
      rows: this.#rows,
      d: this.#config.dModel,
    });
  }

  async #layerNormBackward(
    name: string,
    dy: Tensor,
    x: Tensor,
    saved: NormActivations,
    dx: Tensor,
    accumulate: boolean,
  ): Promise<Program> {
    const program = await recordLayerNormBackward(this.#gpu, {
      dy,
      x,
      mean: saved.mean,
      rstd: saved.rstd,
      gamma: this.#param(`${name}.weight`),
      dx,
      dgamma: this.#grad(`${name}.weight`),
      dbeta: this.#grad(`${name}.bias`),
      rows: this.#rows,
      d: this.#config.dModel,
      accumulate,
    });
    if (!this.#stats) return program;
    // Per-example γ and β gradients: Σ_t dy·x̂ and Σ_t dy over each example's rows, with
    // x̂ recomputed by a LayerNorm of unit gain and zero shift.
    const st = this.#stats, T = this.#config.seqLen, B = this.#B;
    program.append(
      await recordLayerNormForward(this.#gpu, {
        x,
        gamma: st.scratch.ones,
        beta: st.scratch.zeros,
        y: st.scratch.xhat,
        mean: st.scratch.mean,
        rstd: st.scratch.rstd,
        rows: this.#rows,
        d: this.#config.dModel,
      }),
    );
    const n = this.#config.dModel;
    program.append(
      await recordPerExampleColumnSum(
        this.#gpu,
        { dy, v: st.scratch.xhat, batch: B, rowsPerExample: T, n, scale: B },
        this.#statOutputs(`${name}.weight`),
      ),
    );
    return program.append(
      await recordPerExampleColumnSum(
        this.#gpu,
        { dy, batch: B, rowsPerExample: T, n, scale: B },
        this.#statOutputs(`${name}.bias`),
      ),
    );
  }

  /** Where a block's statistics go: its slices of grads, sumSq, sumSign and its norms column. */
  #statOutputs(name: string): StatOutputs {
    const st = this.#stats!;
    const block = this.#layout.get(name);
    const sliceOf = (t: Tensor | null) => t ? slice(t, block.offset, block.size) : undefined;
    return {
      mean: sliceOf(this.#s.grads),
      sumSq: sliceOf(st.sumSq),
      sumSign: sliceOf(st.sumSign),
      norms: st.norms
        ? { table: st.norms, col: this.#layout.blocks.indexOf(block), nCols: this.#layout.blocks.length }
        : undefined,
    };
  }

  /**
   * A linear layer's backward: the plain weight gradient, or with statistics the per-example
   * kernel over examples of `rowsPerExample` rows; then dx.
   */
  async #linearBackward(
    shape: LinearShape,
    io: LinearBackwardIo,
    rowsPerExample = this.#config.seqLen,
  ): Promise<Program> {
    const gpu = this.#gpu;
    if (!this.#stats) {
      const program = await recordLinearParamGrad(gpu, shape, io);
      return program.append(await recordLinearInputGrad(gpu, shape, io));
    }
    const B = this.#B, { nIn, nOut, name } = shape;
    const program = await recordPerExampleLinearGrad(
      gpu,
      { x: io.x, dy: io.dy, batch: B, rowsPerExample, nIn, nOut, scale: B },
      this.#statOutputs(`${name}.weight`),
    );
    if (this.#layout.has(`${name}.bias`)) {
      program.append(
        await recordPerExampleColumnSum(
          gpu,
          { dy: io.dy, batch: B, rowsPerExample, n: nOut, scale: B },
          this.#statOutputs(`${name}.bias`),
        ),
      );
    }
    return program.append(await recordLinearInputGrad(gpu, shape, io));
  }

  /** Records the whole forward pass, loss included. */
  async forward(): Promise<Program> {
    const p = new Program(this.#gpu);
    const s = this.#s, c = this.#config;
    await this.#embedForward(p);
    for (let i = 0; i < c.nLayers; i++) await this.#blockForward(p, i, s.blocks[i]);
    const last = c.nLayers ? s.blocks[c.nLayers - 1].xOut : s.embedOut;
    let h = last;
    if (s.lnF) {
      p.append(await this.#layerNorm("ln_f", last, s.lnF));
      h = s.lnF.y;
    }
    await this.#headForward(p, h);
    return p;
  }

  async #embedForward(p: Program): Promise<void> {
    const s = this.#s, c = this.#config, gpu = this.#gpu, B = this.#B, d = c.dModel;
    if (c.input.kind === "tokens") {
      p.append(
        await recordEmbeddingForward(gpu, {
          batch: B,
          seqLen: c.seqLen,
          dModel: d,
          vocabSize: c.input.vocabSize,
        }, {
          tokens: s.inputs.tokens!,
          tokenWeight: this.#param("embed.tokens.weight"),
          positionWeight: this.#param("embed.positions.weight"),
          out: s.embedOut,
        }),
      );
      return;
    }
    const shape = { ...c.input, batch: B, dModel: d };
    const width = c.input.channels * c.input.patchSize ** 2;
    p.append(await recordPatchGather(gpu, shape, s.inputs.images!, s.patches!));
    p.append(
      await recordLinearForward(gpu, this.#linear("embed.patch", width, d, B * patchCount(shape)), {
        x: s.patches!,
        params: s.params,
        y: s.patchOut!,
      }),
    );
    p.append(
      await recordPatchAssemble(gpu, shape, {
        patchOut: s.patchOut!,
        cls: this.#param("embed.cls"),
        positionWeight: this.#param("embed.positions.weight"),
        out: s.embedOut,
      }),
    );
  }

  async #blockForward(p: Program, i: number, a: BlockActivations): Promise<void> {
    const gpu = this.#gpu, c = this.#config, d = c.dModel, s = this.#s;
    const name = `blocks.${i}`;
    const pre = c.norm === "pre", post = c.norm === "post";
    // Attention branch: Pre-LN reads LN1(x); Post-LN and no-LN read x.
    let attnIn = a.xIn;
    if (pre) {
      p.append(await this.#layerNorm(`${name}.ln1`, a.xIn, a.ln1!));
      attnIn = a.ln1!.y;
    }
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.attn.qkv`, d, 3 * d), {
        x: attnIn,
        params: s.params,
        y: a.qkv,
      }),
    );
    p.append(
      await recordAttentionForward(gpu, this.#attentionShape, {
        qkv: a.qkv,
        probs: a.probs,
        out: a.attnOut,
        lengths: s.inputs.lengths,
      }),
    );
    // Residual: r1 = x + proj(attn); Post-LN then normalises it.
    const r1 = post ? a.r1! : a.x1;
    p.append(await recordAxpby(gpu, a.xIn, r1, 1, 0));
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.attn.proj`, d, d), {
        x: a.attnOut,
        params: s.params,
        y: r1,
        accumulate: true,
      }),
    );
    if (post) p.append(await this.#layerNorm(`${name}.ln1`, r1, a.ln1!)); // writes x1
    // MLP branch.
    let mlpIn = a.x1;
    if (pre) {
      p.append(await this.#layerNorm(`${name}.ln2`, a.x1, a.ln2!));
      mlpIn = a.ln2!.y;
    }
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.mlp.fc`, d, c.dMlp), {
        x: mlpIn,
        params: s.params,
        y: a.fc,
      }),
    );
    p.append(await recordGeluForward(gpu, { x: a.fc, y: a.act, n: this.#rows * c.dMlp }));
    const r2 = post ? a.r2! : a.xOut;
    p.append(await recordAxpby(gpu, a.x1, r2, 1, 0));
    p.append(
      await recordLinearForward(gpu, this.#linear(`${name}.mlp.proj`, c.dMlp, d), {
        x: a.act,
        params: s.params,
        y: r2,
        accumulate: true,
      }),
    );
    if (post) p.append(await this.#layerNorm(`${name}.ln2`, r2, a.ln2!)); // writes xOut
  }

  async #headForward(p: Program, h: Tensor): Promise<void> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, B = this.#B, d = c.dModel;
    let rows: number, nClasses: number;
    if (c.head.kind === "lm") {
      rows = this.#rows;
      nClasses = vocabSize(c);
      if (c.head.tied) {
        const tokens = this.#layout.get("embed.tokens.weight");
        p.append(
          await recordMatmul(gpu, {
            a: h,
            b: s.params,
            c: s.logits,
            M: rows,
            N: nClasses,
            K: d,
            transB: true,
            bOffset: tokens.offset,
            ldb: d,
          }),
        );
      } else {
        p.append(
          await recordLinearForward(gpu, this.#linear("head", d, nClasses), {
            x: h,
            params: s.params,
            y: s.logits,
          }),
        );
      }
    } else {
      rows = B;
      nClasses = c.head.nClasses;
      p.append(
        await recordPool(gpu, { batch: B, seqLen: c.seqLen, dModel: d, mode: c.head.pool }, {
          hidden: h,
          lengths: s.inputs.lengths,
          pooled: s.pooled!,
        }),
      );
      p.append(
        await recordLinearForward(gpu, this.#linear("head", d, nClasses, B), {
          x: s.pooled!,
          params: s.params,
          y: s.logits,
        }),
      );
    }
    p.append(
      await recordCrossEntropy(gpu, { rows, nClasses }, {
        logits: s.logits,
        targets: s.inputs.targets,
        weights: s.inputs.weights,
        losses: s.rowLosses,
        dLogits: s.dlogits,
      }),
    );
    p.append(
      await recordLossReduce(gpu, { batch: B, rowsPerExample: rows / B, nClasses }, {
        losses: s.rowLosses,
        targets: s.inputs.targets,
        exampleLosses: s.exampleLosses,
        batchLoss: s.loss,
      }),
    );
  }

  /** Records the whole backward pass, from the logit gradient to every parameter block. */
  async backward(
    stats: StatBuffers | null,
  ): Promise<{ backward: Program; embeddingBackward: EmbeddingBackward | null }> {
    this.#stats = stats;
    try {
      return await this.#recordBackward();
    } finally {
      this.#stats = null;
    }
  }

  async #recordBackward(): Promise<{ backward: Program; embeddingBackward: EmbeddingBackward | null }> {
    const p = new Program(this.#gpu);
    const s = this.#s, c = this.#config;
    // The gradient w.r.t. the residual stream ping-pongs between two scratch buffers.
    let g = s.scratch.gA, other = s.scratch.gB;
    await this.#headBackward(p, this.#headInput(), g);
    if (s.lnF) {
      const last = c.nLayers ? s.blocks[c.nLayers - 1].xOut : s.embedOut;
      p.append(await this.#layerNormBackward("ln_f", g, last, s.lnF, other, false));
      [g, other] = [other, g];
    }
    for (let i = c.nLayers - 1; i >= 0; i--) {
      [g, other] = await this.#blockBackward(p, i, s.blocks[i], g, other);
    }
    const embeddingBackward = await this.#embedBackward(p, g);
    return { backward: p, embeddingBackward };
  }

  async #headBackward(p: Program, h: Tensor, dh: Tensor): Promise<void> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, B = this.#B, d = c.dModel;
    if (c.head.kind === "lm") {
      const V = vocabSize(c), rows = this.#rows;
      if (c.head.tied) {
        // d(tokens.weight) = dlogitsᵀ·h, overwritten here; the embedding backward adds to it.
        const tokens = this.#layout.get("embed.tokens.weight");
        p.append(
          await recordMatmul(gpu, {
            a: s.dlogits,
            b: h,
            c: s.grads,
            M: V,
            N: d,
            K: rows,
            transA: true,
            cOffset: tokens.offset,
          }),
        );
        p.append(
          await recordMatmul(gpu, {
            a: s.dlogits,
            b: s.params,
            c: dh,
            M: rows,
            N: d,
            K: V,
            bOffset: tokens.offset,
          }),
        );
      } else {
        p.append(
          await this.#linearBackward(this.#linear("head", d, V), {
            dy: s.dlogits,
            x: h,
            params: s.params,
            grads: s.grads,
            dx: dh,
          }),
        );
      }
      return;
    }
    const nClasses = c.head.nClasses;
    p.append(
      await this.#linearBackward(this.#linear("head", d, nClasses, B), {
        dy: s.dlogits,
        x: s.pooled!,
        params: s.params,
        grads: s.grads,
        dx: s.scratch.dpooled!,
      }, 1),
    );
    p.append(
      await recordPoolBackward(gpu, { batch: B, seqLen: c.seqLen, dModel: d, mode: c.head.pool }, {
        dPooled: s.scratch.dpooled!,
        lengths: s.inputs.lengths,
        dHidden: dh,
      }),
    );
  }

  /** Backward through block i; `g` holds d(loss)/d(block output). Returns [gradient of input, free buffer]. */
  async #blockBackward(
    p: Program,
    i: number,
    a: BlockActivations,
    g: Tensor,
    other: Tensor,
  ): Promise<[Tensor, Tensor]> {
    const gpu = this.#gpu, c = this.#config, d = c.dModel, s = this.#s, sc = s.scratch, F = c.dMlp;
    const name = `blocks.${i}`;
    const pre = c.norm === "pre", post = c.norm === "post";
    const swap = () => [g, other] = [other, g];
    // MLP branch. Post-LN: g ← LN2ᵀ(g) first.
    if (post) {
      p.append(await this.#layerNormBackward(`${name}.ln2`, g, a.r2!, a.ln2!, other, false));
      swap();
    }
    const mlpIn = pre ? a.ln2!.y : a.x1;
    p.append(
      await this.#linearBackward(this.#linear(`${name}.mlp.proj`, F, d), {
        dy: g,
        x: a.act,
        params: s.params,
        grads: s.grads,
        dx: sc.dact,
      }),
    );
    p.append(await recordGeluBackward(gpu, { dy: sc.dact, x: a.fc, dx: sc.dfc, n: this.#rows * F }));
    // Pre-LN: the branch input gradient goes through LN2 into the stream; otherwise straight in.
    p.append(
      await this.#linearBackward(this.#linear(`${name}.mlp.fc`, d, F), {
        dy: sc.dfc,
        x: mlpIn,
        params: s.params,
        grads: s.grads,
        dx: pre ? other : g,
        accumulateDx: !pre,
      }),
    );
    if (pre) p.append(await this.#layerNormBackward(`${name}.ln2`, other, a.x1, a.ln2!, g, true));
    // Attention branch. Post-LN: g ← LN1ᵀ(g) first.
    if (post) {
      p.append(await this.#layerNormBackward(`${name}.ln1`, g, a.r1!, a.ln1!, other, false));
      swap();
    }
    const attnIn = pre ? a.ln1!.y : a.xIn;
    p.append(
      await this.#linearBackward(this.#linear(`${name}.attn.proj`, d, d), {
        dy: g,
        x: a.attnOut,
        params: s.params,
        grads: s.grads,
        dx: sc.dattn,
      }),
    );
    p.append(
      await recordAttentionBackward(gpu, this.#attentionShape, {
        dout: sc.dattn,
        qkv: a.qkv,
        probs: a.probs,
        dprobs: sc.dprobs,
        dqkv: sc.dqkv,
      }),
    );
    p.append(
      await this.#linearBackward(this.#linear(`${name}.attn.qkv`, d, 3 * d), {
        dy: sc.dqkv,
        x: attnIn,
        params: s.params,
        grads: s.grads,
        dx: pre ? other : g,
        accumulateDx: !pre,
      }),
    );
    if (pre) p.append(await this.#layerNormBackward(`${name}.ln1`, other, a.xIn, a.ln1!, g, true));
    return [g, other];
  }

  async #embedBackward(p: Program, g: Tensor): Promise<EmbeddingBackward | null> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, B = this.#B, d = c.dModel;
    if (c.input.kind === "tokens") {
      const tied = c.head.kind === "lm" && c.head.tied;
      const backward = await recordEmbeddingBackward(
        gpu,
        { batch: B, seqLen: c.seqLen, dModel: d, vocabSize: c.input.vocabSize },
        {
          dOut: g,
          dTokenWeight: this.#grad("embed.tokens.weight"),
          dPositionWeight: this.#grad("embed.positions.weight"),
        },
        { accumulate: tied },
      );
      p.append(backward); // moves the dispatches; `backward` keeps its CSR tensors for setTokens
      if (this.#stats) await this.#tokenStats(p, g);
      return backward;
    }
    const shape = { ...c.input, batch: B, dModel: d };
    const width = c.input.channels * c.input.patchSize ** 2;
    p.append(
      await recordPatchAssembleBackward(gpu, shape, {
        dOut: g,
        dPatchOut: s.scratch.dpatchOut!,
        dCls: this.#grad("embed.cls"),
        dPositionWeight: this.#grad("embed.positions.weight"),
      }),
    );
    p.append(
      await this.#linearBackward(this.#linear("embed.patch", width, d, B * patchCount(shape)), {
        dy: s.scratch.dpatchOut!,
        x: s.patches!,
        params: s.params,
        grads: s.grads,
      }, patchCount(shape)),
    );
    if (this.#stats) {
      const st = this.#stats, T = c.seqLen;
      // embed.cls: example b's gradient is dx[b, 0]; the mask keeps position 0 of each example.
      p.append(
        await recordPerExampleColumnSum(
          gpu,
          { dy: g, v: st.scratch.clsMask!, batch: B, rowsPerExample: T, n: d, scale: B },
          this.#statOutputs("embed.cls"),
        ),
      );
      p.append(await this.#positionStats(g));
    }
    return null;
  }

  /** Statistics of the position embeddings: example b's gradient is its dx rows. */
  #positionStats(g: Tensor): Promise<Program> {
    const c = this.#config;
    return recordPerExampleDirect(
      this.#gpu,
      { g, batch: this.#B, n: c.seqLen * c.dModel, scale: this.#B },
      this.#statOutputs("embed.positions.weight"),
    );
  }

  /**
   * Statistics of the token embedding. Example b's gradient is onehot_bᵀ·dx_b, plus
   * dlogits_bᵀ·h_b when the LM head is tied; both products' rows are stacked per example so
   * one per-example kernel forms their sum.
   */
  async #tokenStats(p: Program, g: Tensor): Promise<void> {
    const gpu = this.#gpu, c = this.#config, s = this.#s, st = this.#stats!, B = this.#B, T = c.seqLen;
    const V = vocabSize(c), d = c.dModel;
    const tied = c.head.kind === "lm" && c.head.tied;
    const rows = tied ? 2 * T : T;
    const { tokenX, tokenDy } = st.scratch;
    const at = { batch: B, rows: T, dstRows: rows };
    p.append(await recordOneHotExampleRows(gpu, s.inputs.tokens!, tokenX!, { ...at, offset: 0, width: V }));
    p.append(await recordCopyExampleRows(gpu, g, tokenDy!, { ...at, offset: 0, width: d }));
    if (tied) {
      p.append(await recordCopyExampleRows(gpu, s.dlogits, tokenX!, { ...at, offset: T, width: V }));
      p.append(await recordCopyExampleRows(gpu, this.#headInput(), tokenDy!, { ...at, offset: T, width: d }));
    }
    p.append(
      await recordPerExampleLinearGrad(
        gpu,
        { x: tokenX!, dy: tokenDy!, batch: B, rowsPerExample: rows, nIn: V, nOut: d, scale: B },
        this.#statOutputs("embed.tokens.weight"),
      ),
    );
    p.append(await this.#positionStats(g));
  }

  /** The hidden state the head reads. */
  #headInput(): Tensor {
    const s = this.#s, c = this.#config;
    return s.lnF ? s.lnF.y : (c.nLayers ? s.blocks[c.nLayers - 1].xOut : s.embedOut);
  }
}
