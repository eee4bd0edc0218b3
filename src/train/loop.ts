/**
 * The training loop: a run config in, a run directory out (`config.json`, `log.jsonl`,
 * `checkpoint.safetensors`, `summary.json`), reproducible to the bit on one adapter.
 *
 * Each step: the next batch, `setBatch`, one forward+backward pass computing what the
 * optimizer needs, the recorded optimizer update replayed, and the step's loss copied into a
 * GPU window. Nothing is read back between readings. Every `metrics_every` steps the metrics
 * are read back in one batch and logged; every `eval_every` steps the model is evaluated;
 * every `checkpoint_every` steps (and at the end) the state is checkpointed.
 *
 * Logging never changes the run: per-example statistics asked for only by `log_stats` are
 * computed in an extra pass on the reading's batch, and the update then uses the same pass
 * an unlogged step uses (the per-example kernels round differently from the plain ones).
 *
 * @module
 */

import type { Batcher } from "../data/batch.ts";
import { getDevice, type Gpu } from "../gpu/device.ts";
import type { Program } from "../gpu/dispatch.ts";
import { readBack } from "../gpu/readback.ts";
import { initParams } from "../nn/init.ts";
import { type ParamLayout, transformerLayout } from "../nn/layout.ts";
import { type StatsRequest, Transformer } from "../nn/transformer.ts";
import type { OptState } from "../optim/state.ts";
import type { GradientTransformation } from "../optim/transform.ts";
import { requiredStats } from "../optim/per_example_rules.ts";
import { ClippedGradient } from "../stats/clipped_gradient.ts";
import { readCheckpoint, writeCheckpoint } from "./checkpoint.ts";
import { parseRunConfig, type RunConfig, RunConfigError } from "./config.ts";
import { checkModelFitsData, loadRunData, type RunData } from "./data.ts";
import { checkDivergence } from "./divergence.ts";
import { Evaluator } from "./eval.ts";
import { JsonlLog, type LogRecord, truncateJsonl } from "./log.ts";
import { type MetricsReading, statsRequestFor, TrainMetrics } from "./metrics.ts";
import { optimizerFromConfig } from "./optimizer.ts";
import { consoleProgress, type Progress, type ProgressCallback } from "./progress.ts";
import {
  baseName,
  canonicalJson,
  inspectRunDir,
  runPath,
  type RunSummary,
  writeJsonAtomic,
} from "./run_dir.ts";
import { CheckpointError } from "./safetensors.ts";
import { decodeTrainState, encodeTrainState, loadBody, type TrainState } from "./train_state.ts";

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** The run directory (created if missing). */
  dir: string;
  /** The device; default a new one from `getDevice()`, destroyed at the end. */
  gpu?: Gpu;
  /** Receives progress at every reading, evaluation and the end; default a console display. */
  onProgress?: ProgressCallback;
}

/**
 * Runs (or resumes, or reports) the training run `config` describes in `options.dir`.
 *
 * - The config is validated first: a {@linkcode RunConfigError} leaves the directory and GPU
 *   untouched.
 * - A directory with a `summary.json` holds a run that ended: its summary is returned.
 * - A directory with a checkpoint (and no summary) resumes from it, continuing the same loss
 *   trajectory as an uninterrupted run; a malformed checkpoint raises a `CheckpointError`
 *   before anything is written.
 * - A directory with another run's `config.json` is refused.
 * - `init_from` loads the body of another checkpoint (every block but the head) into a
 *   fresh model, e.g. to fine-tune a pretrained language model as a classifier.
 *
 * Divergence (a non-finite loss, or one above `divergence_factor` × the first) ends the run
 * with status `"diverged"`; it is not an exception.
 *
 * @example
 * ```ts ignore
 * import { DEFAULT_RUN_CONFIG, train } from "./mod.ts";
 * const summary = await train(DEFAULT_RUN_CONFIG, { dir: "results/runs/copy" });
 * console.log(summary.status, summary.final_loss, summary.eval);
 * ```
 */
export async function train(config: unknown, options: TrainOptions): Promise<RunSummary> {
  const parsed = parseRunConfig(config);
  const named = { ...parsed, name: parsed.name ?? baseName(options.dir) };
  const found = await inspectRunDir(options.dir, named);
  if (found.summary) return found.summary;
  const plan = await planRun(named, options.dir, found.checkpoint);
  await prepareDir(plan);
  const gpu = options.gpu ?? await getDevice();
  try {
    const session = await Session.create(gpu, plan);
    try {
      return await session.run(options.onProgress ?? consoleProgress());
    } finally {
      session.destroy();
    }
  } finally {
    if (!options.gpu) gpu.destroy();
  }
}

// ---- planning: everything checked and read before any write or GPU work -----------------

/** A run, checked and ready to start or resume. */
interface RunPlan {
  dir: string;
  config: RunConfig & { name: string };
  data: RunData;
  layout: ParamLayout;
  totalSteps: number;
  optimizer: GradientTransformation;
  /** What the update pass's backward computes. */
  updateRequest: StatsRequest;
  /** What the logged summaries read. */
  logRequest: StatsRequest;
  resume: TrainState | null;
  /** Initial parameters from `init_from`. */
  params: Float32Array | null;
}

/** Loads the data, builds the optimizer and reads the checkpoint to resume from or start with. */
async function planRun(config: RunConfig & { name: string }, dir: string, resume: boolean): Promise<RunPlan> {
  const data = await loadRunData(config);
  checkModelFitsData(config.model, data.needs);
  const totalSteps = config.steps ?? config.epochs! * data.batchesPerEpoch!;
  const optimizer = optimizerFromConfig(config.optimizer, totalSteps);
  const plan: RunPlan = {
    dir,
    config,
    data,
    layout: transformerLayout(config.model),
    totalSteps,
    optimizer,
    updateRequest: updateRequest(config, optimizer),
    logRequest: statsRequestFor(config.log_stats),
    resume: null,
    params: null,
  };
  if (resume) plan.resume = await readResumeState(plan);
  else if (config.init_from) plan.params = await readInitParams(config, plan.layout);
  return plan;
}

function toRequest(names: readonly string[]): StatsRequest {
  return Object.fromEntries(names.map((name) => [name, true]));
}

/** The statistics the update pass leaves valid: the optimizer's, or with clipping the norms. */
function updateRequest(config: RunConfig, optimizer: GradientTransformation): StatsRequest {
  const needs = requiredStats(optimizer);
  if (!config.per_example_clip) return toRequest(needs);
  if (needs.length) {
    throw new RunConfigError([
      `per_example_clip: ${config.optimizer.name} reads per-example ${needs.join(", ")}, ` +
      "which the clipped gradient does not provide",
    ]);
  }
  return { norms: true };
}

async function readResumeState(plan: RunPlan): Promise<TrainState> {
  const path = runPath(plan.dir, "checkpoint");
  const state = decodeTrainState(await readCheckpoint(path), path, {
    layout: plan.layout,
    slots: plan.optimizer.rule.slots,
    window: plan.config.metrics_every,
    noise: (plan.config.per_example_clip?.noise_multiplier ?? 0) > 0,
  });
  if (canonicalJson(state.config) !== canonicalJson(plan.config)) {
    throw new CheckpointError(path, "it holds a different run's config than config.json");
  }
  if (state.step > plan.totalSteps) {
    throw new CheckpointError(path, `step ${state.step} is past the run's ${plan.totalSteps} steps`);
  }
  return state;
}

/** A fresh initialisation with the body of the `init_from` checkpoint (file or run directory). */
async function readInitParams(config: RunConfig, layout: ParamLayout): Promise<Float32Array> {
  let path = config.init_from!;
  if ((await Deno.stat(path).catch(() => null))?.isDirectory) path = runPath(path, "checkpoint");
  const params = initParams(config.model, layout, config.seed);
  loadBody(await readCheckpoint(path), path, layout, params);
  return params;
}

/** Creates the directory and `config.json`; starts the log afresh, or cuts it back to the checkpoint. */
async function prepareDir(plan: RunPlan): Promise<void> {
  await Deno.mkdir(plan.dir, { recursive: true });
  await writeJsonAtomic(runPath(plan.dir, "config"), plan.config);
  const log = runPath(plan.dir, "log");
  if (plan.resume) return await truncateJsonl(log, plan.resume.step);
  await Deno.remove(log).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/** Distinct seeds for the streams of randomness of one run seed. */
function deriveSeed(seed: number, stream: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

const SEED_STREAM = { data: 1, valid: 2, noise: 3 } as const;

/** Whether `a` asks for nothing beyond `b`. */
function covered(a: StatsRequest, b: StatsRequest): boolean {
  return (Object.keys(a) as (keyof StatsRequest)[]).every((k) => !a[k] || b[k]);
}

// ---- the session: GPU resources and the loop -------------------------------------------

/** Wall time of the run, continued across resumed segments. */
class RunClock {
  readonly #start = performance.now();
  readonly #offset: number;
  #train: number;
  #trainStart: number | null = null;

  constructor(offset: number, train: number) {
    this.#offset = offset;
    this.#train = train;
  }

  /** Seconds since the run started. */
  get elapsed(): number {
    return this.#offset + (performance.now() - this.#start) / 1000;
  }

  /** Seconds of training so far. */
  get training(): number {
    return this.#train + (this.#trainStart === null ? 0 : (performance.now() - this.#trainStart) / 1000);
  }

  startTraining(): void {
    this.#trainStart ??= performance.now();
  }

  stopTraining(): void {
    if (this.#trainStart === null) return;
    this.#train += (performance.now() - this.#trainStart) / 1000;
    this.#trainStart = null;
  }
}

/** Where the run stands. */
interface Standing {
  step: number;
  initialLoss: number | null;
  lastLoss: number | null;
  lastEval: { loss: number; accuracy: number } | null;
  diverged: { step: number; reason: string } | null;
}

class Session {
  readonly #gpu: Gpu;
  readonly #plan: RunPlan;
  readonly #owned: { destroy(): void }[];
  readonly #model: Transformer;
  readonly #state: OptState;
  readonly #update: Program;
  readonly #clipped: ClippedGradient | null;
  readonly #metrics: TrainMetrics;
  readonly #evaluator: Evaluator;
  readonly #batcher: Batcher;
  readonly #log: JsonlLog;
  /** Whether logged statistics need their own pass. */
  readonly #statsPass: boolean;
  readonly #clock: RunClock;
  readonly #tokensPerStep: number;
  #standing: Standing;
  #lastReport = { step: 0, training: 0 };

  private constructor(gpu: Gpu, plan: RunPlan, parts: {
    owned: { destroy(): void }[];
    model: Transformer;
    state: OptState;
    update: Program;
    clipped: ClippedGradient | null;
    metrics: TrainMetrics;
    evaluator: Evaluator;
    batcher: Batcher;
    log: JsonlLog;
    statsPass: boolean;
  }) {
    this.#gpu = gpu;
    this.#plan = plan;
    this.#owned = parts.owned;
    this.#model = parts.model;
    this.#state = parts.state;
    this.#update = parts.update;
    this.#clipped = parts.clipped;
    this.#metrics = parts.metrics;
    this.#evaluator = parts.evaluator;
    this.#batcher = parts.batcher;
    this.#log = parts.log;
    this.#statsPass = parts.statsPass;
    const r = plan.resume;
    this.#clock = new RunClock(r?.timeSeconds ?? 0, r?.trainSeconds ?? 0);
    this.#tokensPerStep = this.#model.batchSize * plan.config.model.seqLen;
    this.#standing = {
      step: r?.step ?? 0,
      initialLoss: r?.initialLoss ?? null,
      lastLoss: r?.lastLoss ?? null,
      lastEval: r?.lastEval ?? null,
      diverged: null,
    };
  }

  /** Builds the model, optimizer, metrics and evaluator, restored from the checkpoint if resuming. */
  static async create(gpu: Gpu, plan: RunPlan): Promise<Session> {
    const owned: { destroy(): void }[] = [];
    const own = <T extends { destroy(): void }>(x: T) => (owned.push(x), x);
    const { config, resume } = plan;
    try {
      const model = own(
        await Transformer.create(gpu, config.model, {
          batchSize: config.data.batch_size,
          seed: config.seed,
          params: resume?.params ?? plan.params ?? undefined,
        }),
      );
      const state = own(plan.optimizer.init(gpu, plan.layout));
      if (resume) state.load(resume.optimizer);
      const clipped = config.per_example_clip ? own(await createClipped(model, config)) : null;
      if (resume && clipped?.noise) clipped.noise.setDraws(resume.noiseDraws!);
      const update = own(await recordUpdate(model, state, plan));
      const statsPass = config.log_stats.length > 0 && !covered(plan.logRequest, plan.updateRequest);
      if (statsPass) await model.backwardProgram(plan.logRequest);
      const metrics = own(
        await TrainMetrics.create(model, state, { window: config.metrics_every, stats: config.log_stats }),
      );
      if (resume) metrics.losses.write(resume.losses);
      const evaluator = own(await Evaluator.create(model));
      const batcher = plan.data.trainBatcher(deriveSeed(config.seed, SEED_STREAM.data));
      if (resume) batcher.restoreState(resume.batcher);
      const log = await JsonlLog.open(runPath(plan.dir, "log"));
      owned.push({ destroy: () => log.close() });
      return new Session(gpu, plan, {
        owned,
        model,
        state,
        update,
        clipped,
        metrics,
        evaluator,
        batcher,
        log,
        statsPass,
      });
    } catch (error) {
      for (const x of owned.reverse()) x.destroy();
      throw error;
    }
  }

  /** Frees every GPU resource of the run and closes the log. */
  destroy(): void {
    for (const x of [...this.#owned].reverse()) x.destroy();
    this.#owned.length = 0;
  }

  get #config(): RunConfig & { name: string } {
    return this.#plan.config;
  }

  /** Trains to the end or to divergence, then writes the summary. */
  async run(onProgress: ProgressCallback): Promise<RunSummary> {
    const total = this.#plan.totalSteps, c = this.#config, s = this.#standing;
    const every = (n: number, step: number) => n > 0 && step % n === 0;
    this.#clock.startTraining();
    while (s.step < total && !s.diverged) {
      const step = ++s.step;
      const reading = every(c.metrics_every, step) || step === total;
      await this.#trainStep(step, reading);
      if (reading) await this.#read(step, onProgress);
      if (s.diverged) break;
      if (every(c.eval_every, step) || step === total) await this.#evaluate(step, onProgress);
      if (every(c.checkpoint_every, step) || step === total) await this.#checkpoint(step);
    }
    await this.#gpu.sync();
    this.#clock.stopTraining();
    const summary = this.#summary();
    await writeJsonAtomic(runPath(this.#plan.dir, "summary"), summary);
    onProgress({ ...this.#progress("done", s.step, null), status: summary.status });
    return summary;
  }

  /** One optimizer step; on a reading step also the statistics summaries and gradient norms. */
  async #trainStep(step: number, reading: boolean): Promise<void> {
    const model = this.#model, metrics = this.#metrics;
    model.setBatch(this.#batcher.next());
    if (reading && this.#statsPass) {
      await model.forwardBackward(this.#plan.logRequest);
      metrics.runStatSummaries();
    }
    if (this.#clipped) await this.#clipped.run();
    else await model.forwardBackward(this.#plan.updateRequest);
    metrics.recordLoss(step);
    if (reading) {
      if (!this.#statsPass) metrics.runStatSummaries();
      metrics.runGradNorms();
    }
    this.#update.run();
  }

  /** Reads the metrics back, logs them, checks for divergence and reports progress. */
  async #read(step: number, onProgress: ProgressCallback): Promise<void> {
    const reading = await this.#metrics.read(step);
    const s = this.#standing, first = step - reading.losses.length + 1;
    const verdict = checkDivergence(reading.losses, first, s.initialLoss, this.#config.divergence_factor);
    s.initialLoss = verdict.initialLoss;
    s.diverged = verdict.diverged;
    s.lastLoss = reading.losses[reading.losses.length - 1];
    await this.#log.append(this.#trainRecord(reading));
    const rate = this.#rate(step);
    onProgress(this.#progress("train", step, rate));
  }

  /** Tokens per second of training since the previous reading. */
  #rate(step: number): number | null {
    const training = this.#clock.training, last = this.#lastReport;
    const seconds = training - last.training, steps = step - last.step;
    this.#lastReport = { step, training };
    return seconds > 0 && last.step > 0 ? (steps * this.#tokensPerStep) / seconds : null;
  }

  #trainRecord(r: MetricsReading): LogRecord {
    const losses = r.losses;
    const record: LogRecord = {
      run: this.#config.name,
      kind: "train",
      step: r.step,
      time_s: this.#clock.elapsed,
      loss: losses[losses.length - 1],
      loss_mean: losses.reduce((a, b) => a + b, 0) / losses.length,
      lr: r.lr,
      grad_norm_total: r.gradNormTotal,
      grad_norm: r.gradNorm,
    };
    if (this.#config.optimizer.clip_norm !== undefined) record.clip_scale = r.clipScale;
    if (r.sumSqMean) record.sum_sq_mean = r.sumSqMean;
    if (r.signAgreement) record.sign_agreement = r.signAgreement;
    if (r.exampleNorms) record.example_norms = r.exampleNorms;
    return record;
  }

  /** Runs `body` outside the training time (after the queued steps have finished). */
  async #aside<T>(body: () => Promise<T>): Promise<T> {
    await this.#gpu.sync();
    this.#clock.stopTraining();
    try {
      return await body();
    } finally {
      this.#clock.startTraining();
    }
  }

  async #evaluate(step: number, onProgress: ProgressCallback): Promise<void> {
    const c = this.#config;
    const result = await this.#aside(() =>
      this.#evaluator.evaluate(
        this.#plan.data.validBatches(c.eval_batches, deriveSeed(c.seed, SEED_STREAM.valid)),
      )
    );
    this.#standing.lastEval = { loss: result.loss, accuracy: result.accuracy };
    await this.#log.append({ run: c.name, kind: "eval", step, time_s: this.#clock.elapsed, ...result });
    onProgress(this.#progress("eval", step, null));
  }

  async #checkpoint(step: number): Promise<void> {
    await this.#aside(async () => {
      const model = this.#model, s = this.#standing, noise = this.#clipped?.noise ?? null;
      const optimizer = await this.#state.save();
      const tensors = [model.params, this.#metrics.losses, ...(noise ? [noise.counter] : [])];
      const bytes = await readBack(this.#gpu, tensors.map((t) => ({ buffer: t.buffer, size: t.byteLength })));
      const state: TrainState = {
        step,
        config: this.#config,
        params: new Float32Array(bytes[0]),
        optimizer,
        batcher: this.#batcher.saveState(),
        losses: new Float32Array(bytes[1]),
        initialLoss: s.initialLoss,
        lastLoss: s.lastLoss,
        lastEval: s.lastEval && { loss: s.lastEval.loss, accuracy: s.lastEval.accuracy },
        timeSeconds: this.#clock.elapsed,
        trainSeconds: this.#clock.training,
        noiseDraws: noise ? new Uint32Array(bytes[2])[0] : null,
      };
      await writeCheckpoint(
        runPath(this.#plan.dir, "checkpoint"),
        encodeTrainState(state, this.#plan.layout),
      );
    });
  }

  #progress(phase: Progress["phase"], step: number, rate: number | null): Progress {
    const s = this.#standing, total = this.#plan.totalSteps;
    const done = step - (this.#plan.resume?.step ?? 0);
    const perStep = done > 0 ? (this.#clock.training - (this.#plan.resume?.trainSeconds ?? 0)) / done : null;
    const progress: Progress = {
      run: this.#config.name,
      phase,
      step,
      steps: total,
      loss: s.lastLoss,
      tokensPerSecond: rate,
      etaSeconds: perStep === null ? null : perStep * (total - step),
      elapsedSeconds: this.#clock.elapsed,
    };
    if (s.lastEval) progress.eval = { loss: s.lastEval.loss, accuracy: s.lastEval.accuracy };
    return progress;
  }

  #summary(): RunSummary {
    const s = this.#standing, training = this.#clock.training;
    const finite = (x: number | null) => (x !== null && Number.isFinite(x) ? x : null);
    const summary: RunSummary = {
      run: this.#config.name,
      status: s.diverged ? "diverged" : "finished",
      steps: s.step,
      final_loss: finite(s.lastLoss),
      eval: s.lastEval && { loss: s.lastEval.loss, accuracy: s.lastEval.accuracy },
      time_s: this.#clock.elapsed,
      train_s: training,
      tokens_per_s: training > 0 ? (s.step * this.#tokensPerStep) / training : 0,
    };
    if (s.diverged) summary.diverged = s.diverged;
    return summary;
  }
}

function createClipped(model: Transformer, config: RunConfig): Promise<ClippedGradient> {
  const clip = config.per_example_clip!;
  return ClippedGradient.create(model, {
    maxNorm: clip.max_norm,
    noiseMultiplier: clip.noise_multiplier,
    seed: deriveSeed(config.seed, SEED_STREAM.noise),
  });
}

/** The optimizer step recorded once over the model's gradient and the statistics it reads. */
async function recordUpdate(model: Transformer, state: OptState, plan: RunPlan): Promise<Program> {
  const needs = requiredStats(plan.optimizer);
  if (needs.length) await model.backwardProgram(toRequest(needs)); // allocates the statistics
  const st = model.statistics;
  return await plan.optimizer.update(
    {
      mean: model.grads,
      batchSize: model.batchSize,
      sumSq: needs.includes("sumSq") ? st.sumSq! : undefined,
      sumSign: needs.includes("sumSign") ? st.sumSign! : undefined,
    },
    state,
    model.params,
  );
}
