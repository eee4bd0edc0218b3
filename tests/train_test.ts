import assert from "node:assert/strict";
import { getDevice, type Gpu } from "../src/gpu/device.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { SequenceTaskBatcher } from "../src/data/sequence_task.ts";
import { initParams } from "../src/nn/init.ts";
import { transformerLayout } from "../src/nn/layout.ts";
import { Transformer } from "../src/nn/transformer.ts";
import { adam } from "../src/optim/optimizers.ts";
import { readCheckpoint, writeCheckpoint } from "../src/train/checkpoint.ts";
import { DEFAULT_RUN_CONFIG, parseRunConfig, RunConfigError } from "../src/train/config.ts";
import { checkDivergence } from "../src/train/divergence.ts";
import { type LogRecord, readJsonl, truncateJsonl } from "../src/train/log.ts";
import { train } from "../src/train/loop.ts";
import { recordAbsValues, recordRowArgmax } from "../src/train/metric_kernels.ts";
import { statsRequestFor, TrainMetrics } from "../src/train/metrics.ts";
import { consoleProgress, formatProgress } from "../src/train/progress.ts";
import { type RunSummary } from "../src/train/run_dir.ts";
import { CheckpointError } from "../src/train/safetensors.ts";

// Imports come from src/ rather than mod.ts, so this file checks while other modules change.
let shared: Promise<Gpu> | null = null;
function testGpu(): Promise<Gpu> {
  shared ??= getDevice();
  return shared;
}

const MODEL = {
  dModel: 16,
  nHeads: 2,
  nLayers: 1,
  dMlp: 32,
  seqLen: 8,
  norm: "pre",
  causal: true,
  input: { kind: "tokens", vocabSize: 11 },
  head: { kind: "lm", tied: false },
};

/** A tiny copy-task run: d=16, L=1, T=8, B=4. */
function tinyConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: MODEL,
    data: { dataset: "sequence", kind: "copy", vocab_size: 10, batch_size: 4 },
    optimizer: { name: "adam", lr: 1e-2 },
    steps: 10,
    metrics_every: 5,
    eval_every: 5,
    eval_batches: 2,
    ...overrides,
  };
}

const quiet = () => {};

async function runIn(
  config: Record<string, unknown>,
  dir?: string,
): Promise<{ dir: string; summary: RunSummary }> {
  dir ??= `${await Deno.makeTempDir()}/run`;
  return { dir, summary: await train(config, { dir, gpu: await testGpu(), onProgress: quiet }) };
}

async function trainLines(dir: string): Promise<LogRecord[]> {
  return (await readJsonl(`${dir}/log.jsonl`)).filter((r) => r.kind === "train");
}

/** A Gpu whose every use throws, to prove that nothing touched it. */
const UNTOUCHABLE_GPU = new Proxy({}, {
  get: () => {
    throw new Error("the GPU was touched");
  },
}) as Gpu;

async function rejectsBeforeGpu(config: unknown, pattern: RegExp): Promise<void> {
  const dir = `${await Deno.makeTempDir()}/never`;
  await assert.rejects(train(config, { dir, gpu: UNTOUCHABLE_GPU, onProgress: quiet }), (error) => {
    assert.ok(error instanceof RunConfigError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
  await assert.rejects(Deno.stat(dir), Deno.errors.NotFound); // nothing written either
}

Deno.test("config: unknown keys and bad values are listed as path: message, before the GPU", async () => {
  await rejectsBeforeGpu(tinyConfig({ colour: "blue" }), /^ {2}colour: unknown key$/m);
  await rejectsBeforeGpu(
    tinyConfig({ optimizer: { name: "adam", lr: -1, momentum: 0.9 } }),
    /optimizer\.lr: Too small.*\n.*optimizer\.momentum: unknown key/s,
  );
  await rejectsBeforeGpu(
    tinyConfig({ model: { ...MODEL, dModel: 15 } }),
    /model: dModel \(15\) must be divisible/,
  );
  await rejectsBeforeGpu(tinyConfig({ steps: undefined }), /steps: give exactly one of steps and epochs/);
  await rejectsBeforeGpu(
    tinyConfig({ data: { dataset: "sequence", kind: "sort", vocab_size: 10, batch_size: 4 } }),
    /data\.kind: Invalid option/,
  );
  // Checks that need the data: the model must fit it.
  await rejectsBeforeGpu(
    tinyConfig({ model: { ...MODEL, input: { kind: "tokens", vocabSize: 10 } } }),
    /model\.input\.vocabSize: the data needs 11, got 10/,
  );
  await rejectsBeforeGpu(
    tinyConfig({ optimizer: { name: "adam", lr: 1e-3, schedule: { kind: "cosine", warmup_steps: 10 } } }),
    /warmup_steps: 10 warmup steps leave no decay steps/,
  );
  await rejectsBeforeGpu(
    tinyConfig({ optimizer: { name: "microAdam", lr: 1e-3 }, per_example_clip: { max_norm: 1 } }),
    /per_example_clip: microAdam reads per-example sumSq/,
  );
});

Deno.test("config: defaults are filled in and the embedded default config is valid", () => {
  const config = parseRunConfig(tinyConfig());
  assert.equal(config.seed, 0);
  assert.equal(config.checkpoint_every, 0);
  assert.deepEqual(config.log_stats, []);
  assert.equal(config.divergence_factor, 10);
  assert.deepEqual(config.data, { dataset: "sequence", kind: "copy", vocab_size: 10, k: 2, batch_size: 4 });
  assert.equal(parseRunConfig(DEFAULT_RUN_CONFIG).optimizer.name, "adamw");
});

Deno.test("train: a run writes config.json, log.jsonl, a checkpoint and summary.json with the right fields", async () => {
  const { dir, summary } = await runIn(tinyConfig());
  assert.equal(summary.run, "run");
  assert.equal(summary.status, "finished");
  assert.equal(summary.steps, 10);
  assert.ok(Number.isFinite(summary.final_loss!) && summary.tokens_per_s > 0 && summary.time_s > 0);
  assert.ok(
    summary.eval && summary.eval.accuracy >= 0 && summary.eval.accuracy <= 1 && summary.eval.loss > 0,
  );
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/summary.json`)), summary);
  assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/config.json`)), {
    ...parseRunConfig(tinyConfig()),
    name: "run",
  });
  const log = await readJsonl(`${dir}/log.jsonl`);
  assert.deepEqual(log.map((r) => `${r.kind}@${r.step}`), ["train@5", "eval@5", "train@10", "eval@10"]);
  const reading = log[2];
  for (const key of ["run", "time_s", "loss", "loss_mean", "lr", "grad_norm_total"]) {
    assert.ok(key in reading, key);
  }
  assert.equal(reading.lr, Math.fround(1e-2));
  const layout = transformerLayout(MODEL as never);
  const norms = reading.grad_norm as Record<string, number>;
  assert.deepEqual(Object.keys(norms), layout.blocks.map((b) => b.name));
  const total = Math.sqrt(Object.values(norms).reduce((a, x) => a + x * x, 0));
  assert.ok(Math.abs(total - (reading.grad_norm_total as number)) < 1e-6 * total);
  assert.deepEqual({ loss: log[3].loss, accuracy: log[3].accuracy }, summary.eval);
  const checkpoint = await readCheckpoint(`${dir}/checkpoint.safetensors`);
  assert.equal(checkpoint.metadata.step, "10");
  // Running again returns the stored summary and changes nothing.
  const again = await train(tinyConfig(), { dir, gpu: UNTOUCHABLE_GPU, onProgress: quiet });
  assert.deepEqual(again, summary);
});

Deno.test("train: the loss decreases on the modsum task with Adam", async () => {
  const { dir, summary } = await runIn(tinyConfig({
    model: { ...MODEL, input: { kind: "tokens", vocabSize: 5 } },
    data: { dataset: "sequence", kind: "modsum", vocab_size: 5, k: 1, batch_size: 4 },
    optimizer: { name: "adam", lr: 2e-2 },
    steps: 30,
    metrics_every: 10,
    eval_every: 0,
  }));
  const means = (await trainLines(dir)).map((r) => r.loss_mean as number);
  assert.ok(means[0] > 1.2, `first window ${means[0]} should start near ln 5 = 1.61`);
  assert.ok(means[2] < 0.5 * means[0], `loss windows ${means}`);
  assert.ok(summary.eval!.accuracy > 0.5, `accuracy ${summary.eval!.accuracy}`);
});

Deno.test("train: divergence (SGD with lr 1e6) ends the run as diverged, without an exception", async () => {
  const { dir, summary } = await runIn(tinyConfig({ optimizer: { name: "sgd", lr: 1e6 }, metrics_every: 2 }));
  assert.equal(summary.status, "diverged");
  assert.ok(summary.diverged!.step >= 2 && summary.diverged!.step <= summary.steps, JSON.stringify(summary));
  assert.match(summary.diverged!.reason, /loss is NaN|loss is Infinity|above 10 × the initial loss/);
  assert.ok(summary.steps < 10);
  const stored = JSON.parse(await Deno.readTextFile(`${dir}/summary.json`));
  assert.equal(stored.status, "diverged");
  assert.deepEqual(stored.diverged, summary.diverged);
});

const RESUME_CASES: [string, Record<string, unknown>][] = [
  ["adam", {}],
  ["per-example clipping with noise", { per_example_clip: { max_norm: 0.5, noise_multiplier: 1 } }],
];
for (const [name, extra] of RESUME_CASES) {
  Deno.test(`train: a resumed run continues the same loss trajectory, bit for bit (${name})`, async () => {
    const config = tinyConfig({ steps: 6, metrics_every: 1, eval_every: 2, checkpoint_every: 3, ...extra });
    const whole = await runIn(config);
    // The second run "crashes" at step 4, after its step-3 checkpoint and step-4 log line.
    const dir = `${await Deno.makeTempDir()}/run`;
    const crash = (p: { step: number }) => {
      if (p.step === 4) throw new Error("crash");
    };
    await assert.rejects(train(config, { dir, gpu: await testGpu(), onProgress: crash }), /crash/);
    assert.equal((await readCheckpoint(`${dir}/checkpoint.safetensors`)).metadata.step, "3");
    const resumed = await runIn(config, dir);
    const strip = (rs: LogRecord[]) => rs.map(({ time_s: _, ...rest }) => rest);
    const a = await readJsonl(`${whole.dir}/log.jsonl`), b = await readJsonl(`${dir}/log.jsonl`);
    assert.deepEqual(b.map((r) => r.step), a.map((r) => r.step)); // the step-4 line is not duplicated
    assert.deepEqual(strip(b), strip(a));
    assert.equal(resumed.summary.final_loss, whole.summary.final_loss);
    assert.deepEqual(resumed.summary.eval, whole.summary.eval);
    const [ca, cb] = await Promise.all(
      [whole.dir, dir].map((d) => readCheckpoint(`${d}/checkpoint.safetensors`)),
    );
    assert.deepEqual(cb.metadata.noise_draws, ca.metadata.noise_draws);
    for (const name of Object.keys(ca.tensors)) {
      assert.deepEqual(cb.tensors[name].data, ca.tensors[name].data, name);
    }
  });
}

Deno.test("train: logging statistics never changes the trajectory, and adds the summaries", async () => {
  const base = tinyConfig({ steps: 4, metrics_every: 2, eval_every: 0 });
  const plain = await runIn(base);
  const logged = await runIn({ ...base, log_stats: ["sum_sq", "sign_agreement", "example_norms"] });
  const [a, b] = await Promise.all([plain.dir, logged.dir].map(trainLines));
  assert.deepEqual(b.map((r) => r.loss), a.map((r) => r.loss));
  const layout = transformerLayout(MODEL as never);
  for (const r of b) {
    assert.deepEqual(Object.keys(r.sum_sq_mean as object), layout.blocks.map((x) => x.name));
    const agreement = Object.values(r.sign_agreement as Record<string, number>);
    assert.ok(agreement.every((x) => x >= 0 && x <= 1), String(agreement));
    assert.equal((r.example_norms as number[]).length, 4);
  }
});

Deno.test("train: a malformed checkpoint is a clear error and nothing is overwritten", async () => {
  const { dir } = await runIn(tinyConfig({ steps: 2, metrics_every: 1, eval_every: 0 }));
  await Deno.remove(`${dir}/summary.json`); // as if it crashed after its last checkpoint
  const files = ["config.json", "log.jsonl"];
  const before = await Promise.all(files.map((f) => Deno.readTextFile(`${dir}/${f}`)));
  const expectUntouched = async (bytes: Uint8Array, pattern: RegExp) => {
    await Deno.writeFile(`${dir}/checkpoint.safetensors`, bytes);
    await assert.rejects(
      train(tinyConfig({ steps: 2, metrics_every: 1, eval_every: 0 }), {
        dir,
        gpu: UNTOUCHABLE_GPU,
        onProgress: quiet,
      }),
      (error) => {
        assert.ok(error instanceof CheckpointError, String(error));
        assert.match(error.message, pattern);
        return true;
      },
    );
    assert.deepEqual(await Deno.readFile(`${dir}/checkpoint.safetensors`), bytes);
    assert.deepEqual(await Promise.all(files.map((f) => Deno.readTextFile(`${dir}/${f}`))), before);
  };
  const good = await Deno.readFile(`${dir}/checkpoint.safetensors`);
  const data = await readCheckpoint(`${dir}/checkpoint.safetensors`);
  await expectUntouched(good.slice(0, good.length - 7), /checkpoint\.safetensors/);
  await expectUntouched(new TextEncoder().encode("not a checkpoint"), /checkpoint\.safetensors/);
  // Well-formed safetensors that miss a tensor of this run.
  delete data.tensors["optimizer.exp_avg.head.weight"];
  const path = `${await Deno.makeTempDir()}/other.safetensors`;
  await writeCheckpoint(path, data);
  await expectUntouched(await Deno.readFile(path), /tensor 'optimizer\.exp_avg\.head\.weight' is missing/);
});

Deno.test("train: init_from copies a language model's body into a classifier with a fresh head", async () => {
  const lm = await runIn(tinyConfig({ steps: 3, metrics_every: 3, eval_every: 0 }));
  const classifier = {
    ...MODEL,
    causal: false,
    head: { kind: "classify", nClasses: 3, pool: "mean" },
  };
  const config = {
    seed: 5,
    model: classifier,
    data: { dataset: "zipf", n_classes: 3, vocab_size: 11, n_train: 16, n_test: 8, batch_size: 4 },
    optimizer: { name: "sgd", lr: 0 }, // leaves the parameters as initialised
    steps: 1,
    metrics_every: 1,
    init_from: lm.dir,
  };
  const tuned = await runIn(config);
  assert.equal(tuned.summary.status, "finished");
  const [source, target] = await Promise.all(
    [lm.dir, tuned.dir].map((d) => readCheckpoint(`${d}/checkpoint.safetensors`)),
  );
  const layout = transformerLayout(classifier as never);
  const fresh = initParams(classifier as never, layout, 5);
  for (const block of layout.blocks) {
    const got = target.tensors[block.name].data;
    const want = block.name.startsWith("head.")
      ? layout.view(fresh, block.name)
      : source.tensors[block.name].data;
    assert.deepEqual(got, want, block.name);
  }
  assert.deepEqual(target.tensors["head.weight"].shape, [16, 3]);
  // A body that does not fit is refused by name.
  await assert.rejects(
    runIn({ ...config, model: { ...classifier, dModel: 32 } }),
    /tensor 'embed\.tokens\.weight' is F32 \[11,16\], expected F32 \[11,32\]/,
  );
});

// ---- the pieces ------------------------------------------------------------------------

function argmaxRef(x: Float32Array, rows: number, cols: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let j = 1; j < cols; j++) if (x[r * cols + j] > x[r * cols + best]) best = j;
    return best;
  });
}

Deno.test("row argmax and abs kernels match the CPU on odd shapes, ties to the first maximum", async () => {
  const gpu = await testGpu();
  for (const [rows, cols] of [[1, 1], [3, 17], [17, 3], [5, 300], [2, 1000]]) {
    // Few distinct values, so rows have ties.
    const values = Float32Array.from({ length: rows * cols }, (_, i) => ((i * 7919) % 13) - 6);
    const x = Tensor.from(gpu, [rows, cols], values), out = new Tensor(gpu, [rows]);
    const program = await recordRowArgmax(gpu, x, out);
    program.run();
    assert.deepEqual(Array.from(await out.read()), argmaxRef(values, rows, cols), `${rows}×${cols}`);
    const abs = new Tensor(gpu, [rows * cols]);
    const absProgram = await recordAbsValues(gpu, x, abs);
    absProgram.run();
    assert.deepEqual(await abs.read(), values.map(Math.abs));
    for (const t of [program, absProgram, x, out, abs]) t.destroy();
  }
});

Deno.test("metrics: one readback gives gradient norms and statistics summaries that match float64", async () => {
  const gpu = await testGpu();
  const model = await Transformer.create(gpu, MODEL as never, { batchSize: 3, seed: 1 });
  const opt = adam({ lr: 1e-3 }), state = opt.init(gpu, model.layout);
  const stats = ["sum_sq", "sign_agreement", "example_norms"] as const;
  await model.backwardProgram(statsRequestFor(stats));
  const metrics = await TrainMetrics.create(model, state, { window: 4, stats });
  const batcher = new SequenceTaskBatcher({ kind: "copy", vocabSize: 10, seqLen: 8, batchSize: 3, seed: 2 });
  const losses: number[] = [];
  for (let step = 1; step <= 6; step++) {
    model.setBatch(batcher.next());
    await model.forwardBackward(statsRequestFor(stats));
    metrics.recordLoss(step);
    losses.push(await model.readLoss());
  }
  metrics.runStatSummaries();
  metrics.runGradNorms();
  const reading = await metrics.read(6);
  assert.deepEqual(reading.losses, losses.slice(4)); // steps 5 and 6: the window after the reading at 4
  const grads = await model.grads.read(), sumSq = await model.statistics.sumSq!.read();
  const sumSign = await model.statistics.sumSign!.read(), norms = await model.statistics.norms!.read();
  const close = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1e-6, Math.abs(b)), `${what}: ${a} vs ${b}`);
  const nBlocks = model.layout.blocks.length;
  model.layout.blocks.forEach((block, k) => {
    const at = (x: Float32Array) => Array.from(x.subarray(block.offset, block.offset + block.size));
    close(reading.gradNorm[block.name], Math.sqrt(at(grads).reduce((s, g) => s + g * g, 0)), block.name);
    close(reading.sumSqMean![block.name], at(sumSq).reduce((s, v) => s + v, 0) / block.size, block.name);
    close(
      reading.signAgreement![block.name],
      at(sumSign).reduce((s, v) => s + Math.abs(v), 0) / (3 * block.size),
      block.name,
    );
    void k;
  });
  reading.exampleNorms!.forEach((n, b) => {
    close(
      n,
      Math.sqrt(Array.from(norms.subarray(b * nBlocks, (b + 1) * nBlocks)).reduce((s, v) => s + v, 0)),
      `example ${b}`,
    );
  });
  assert.equal(reading.lr, 0); // no update has run: the control scalars are still zero
  metrics.destroy();
  state.destroy();
  model.destroy();
});

Deno.test("divergence: non-finite losses and explosions are found at their first step", () => {
  assert.deepEqual(checkDivergence([2, 3, 2.5], 1, null, 10), { initialLoss: 2, diverged: null });
  assert.deepEqual(checkDivergence([1, NaN, Infinity], 4, 2, 10).diverged, {
    step: 5,
    reason: "loss is NaN",
  });
  assert.equal(checkDivergence([21], 7, 2, 10).diverged!.step, 7);
  assert.equal(checkDivergence([NaN], 1, null, 10).diverged!.reason, "loss is NaN");
});

Deno.test("log: truncation keeps lines up to a step and drops a torn last line", async () => {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  const line = (step: number) =>
    JSON.stringify({ run: "r", kind: "train", step, time_s: step, loss: 1 / step });
  await Deno.writeTextFile(path, [1, 2, 3].map(line).join("\n") + '\n{"run": "r", "st');
  assert.deepEqual((await readJsonl(path)).map((r) => r.step), [1, 2, 3]);
  await truncateJsonl(path, 2);
  assert.equal(await Deno.readTextFile(path), [1, 2].map(line).join("\n") + "\n");
});

Deno.test("progress: a bar on a terminal, plain lines every tenth otherwise", () => {
  const event = {
    run: "r",
    phase: "train" as const,
    steps: 100,
    loss: 1,
    tokensPerSecond: 2500,
    etaSeconds: 75,
    elapsedSeconds: 5,
  };
  assert.equal(formatProgress({ ...event, step: 50 }, 4), "r [##..] 50/100 loss 1.0000 2.5k tok/s ETA 1:15");
  const plain: string[] = [], tty: string[] = [];
  const showPlain = consoleProgress({ tty: false, write: (t) => plain.push(t) });
  const showTty = consoleProgress({ tty: true, write: (t) => tty.push(t) });
  for (let step = 1; step <= 100; step++) {
    showPlain({ ...event, step });
    showTty({ ...event, step });
  }
  assert.equal(plain.length, 10);
  assert.equal(tty.length, 100);
  assert.ok(tty.every((t) => t.startsWith("\r") && !t.endsWith("\n")));
});
