/**
 * gradscope: optimizer science on transformers, in Deno, on any WebGPU adapter.
 *
 * Hand-written WGSL kernels for transformer layers, per-example gradient statistics and
 * optimizer steps, with float64 CPU references for every kernel.
 *
 * @example
 * ```ts
 * import { getDevice, segmentedReduce, Tensor } from "./mod.ts";
 * const gpu = await getDevice();
 * const x = Tensor.from(gpu, [4], [1, 2, 3, 4]);
 * console.log(await segmentedReduce(gpu, x, [[0, 2], [2, 4]], "sum")); // Float32Array [3, 7]
 * gpu.destroy();
 * ```
 *
 * @module
 */

export * from "./src/gpu/device.ts";
export * from "./src/gpu/kernel.ts";
export * from "./src/gpu/tensor.ts";
export * from "./src/gpu/readback.ts";
export * from "./src/gpu/dispatch.ts";
export * from "./src/gpu/timing.ts";
export * from "./src/ops/elementwise.ts";
export * from "./src/ops/reduce.ts";
export * from "./src/ops/matmul.ts";
export * from "./src/nn/rng.ts";
export * from "./src/nn/config.ts";
export * from "./src/nn/layout.ts";
export * from "./src/nn/init.ts";
export * from "./src/gpu/check.ts";
export * from "./src/ops/column_sum.ts";
export * from "./src/nn/layer_norm.ts";
export * from "./src/nn/gelu.ts";
export * from "./src/nn/softmax.ts";
export * from "./src/nn/embedding.ts";
export * from "./src/nn/patch_embedding.ts";
export * from "./src/nn/pool.ts";
export * from "./src/nn/cross_entropy.ts";
export * from "./src/nn/linear.ts";
export * from "./src/nn/attention.ts";
export * from "./src/nn/transformer.ts";
export * from "./src/optim/transform.ts";
export * from "./src/optim/state.ts";
export * from "./src/optim/schedule.ts";
export * from "./src/optim/clip.ts";
export * from "./src/optim/weight_decay.ts";
export * from "./src/optim/lr_multipliers.ts";
export * from "./src/optim/rules.ts";
export * from "./src/optim/optimizers.ts";
export * from "./src/optim/batch_size.ts";
export * from "./src/data/batch.ts";
export * from "./src/data/dataset.ts";
export * from "./src/data/dataset_file.ts";
export * from "./src/data/tokenizer.ts";
export * from "./src/data/gpt2_bpe.ts";
export * from "./src/data/lm_corpus.ts";
export * from "./src/data/moby_dick.ts";
export * from "./src/data/lm_batcher.ts";
export * from "./src/data/idx.ts";
export * from "./src/data/fashion_mnist.ts";
export * from "./src/data/sequences.ts";
export * from "./src/data/split.ts";
export * from "./src/data/wordnet.ts";
export * from "./src/data/class_batcher.ts";
export * from "./src/data/zipf_task.ts";
export * from "./src/data/sequence_task.ts";
export * from "./src/data/npm_asset.ts";
export * from "./src/optim/per_example_rules.ts";
export * from "./src/optim/per_example_clip.ts";
export * from "./src/optim/gaussian_noise.ts";
export * from "./src/stats/example_rows.ts";
export * from "./src/stats/clipped_gradient.ts";
export * from "./src/stats/per_example.ts";
export * from "./src/stats/noise.ts";
export * from "./src/train/safetensors.ts";
export * from "./src/train/checkpoint.ts";
export * from "./src/train/config.ts";
export * from "./src/train/optimizer.ts";
export * from "./src/train/data.ts";
export * from "./src/train/eval.ts";
export * from "./src/train/metric_kernels.ts";
export * from "./src/train/metrics.ts";
export * from "./src/train/log.ts";
export * from "./src/train/progress.ts";
export * from "./src/train/run_dir.ts";
export * from "./src/train/divergence.ts";
export * from "./src/train/train_state.ts";
export * from "./src/train/loop.ts";
export * from "./src/train/sweep.ts";
export * from "./src/train/lr_tuner.ts";
export * from "./src/plot/figure.ts";
export * from "./src/plot/aggregate.ts";
export * from "./src/plot/line_chart.ts";
export * from "./src/plot/scatter.ts";
export * from "./src/plot/heatmap.ts";
export * from "./src/plot/bar_chart.ts";
export * from "./src/plot/png.ts";
export * from "./src/plot/font.ts";
export * from "./src/plot/results.ts";
export * from "./src/plot/run_metrics.ts";
export * from "./src/plot/report_figures.ts";
export * from "./src/plot/report_table.ts";
export * from "./src/plot/report_html.ts";
export * from "./src/plot/report_markdown.ts";
export * from "./src/plot/report.ts";
export * from "./src/stats/heterogeneity.ts";
export * from "./src/stats/hessian.ts";
