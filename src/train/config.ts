/**
 * The run configuration: model, data, optimizer and schedule, run length, what to log and
 * when, validated with zod before any file or GPU work. Unknown keys and bad values raise a
 * {@linkcode RunConfigError} listing every problem as `path: message` lines.
 *
 * Run-level keys are snake_case, like the JSONL logs and `summary.json` they produce; the
 * `model` section is a {@linkcode TransformerConfig} as is (camelCase), so it goes straight to
 * `Transformer.create`. The model's `seqLen` is the one sequence length of the run: the data
 * section has none, so the two cannot disagree.
 *
 * @module
 */

import { z } from "npm:zod@4";
import { ConfigError, type TransformerConfig, validateConfig } from "../nn/config.ts";

/** Raised for an invalid run configuration; `issues` holds one `path: message` line per problem. */
export class RunConfigError extends Error {
  /** The problems, each `path: message`. */
  readonly issues: readonly string[];

  /**
   * Builds the error.
   * @param issues one `path: message` line per problem
   */
  constructor(issues: readonly string[]) {
    super(`gradscope: bad run config:\n${issues.map((line) => `  ${line}`).join("\n")}`);
    this.name = "RunConfigError";
    this.issues = issues;
  }
}

/** Per-example statistics a run can log, each a summary per parameter block. */
export type LogStat = "sum_sq" | "sign_agreement" | "example_norms";

/** Which dataset, with its own options; `batch_size` is the training batch B. */
export type DataConfig =
  | {
    /** Moby Dick, byte-level or GPT-2 BPE tokens; the last `valid_fraction` is the validation split. */
    dataset: "moby_dick";
    /** `"bytes"` (vocabulary 256) or `"bpe"` (GPT-2, 50257). */
    tokenizer: "bytes" | "bpe";
    /** Fraction of the tokens held out, in (0, 1). */
    valid_fraction: number;
    /** B. */
    batch_size: number;
  }
  | {
    /** WordNet glosses → 45 lexicographer classes. */
    dataset: "wordnet";
    /** Put a CLS token (id 256) first; the vocabulary is then 257. */
    cls: boolean;
    /** Fraction of synsets held out, in (0, 1). */
    test_fraction: number;
    /** Keep only this many training examples. */
    limit?: number;
    /** B. */
    batch_size: number;
  }
  | {
    /** Fashion-MNIST, 28×28 greyscale, 10 classes; the official test set is the validation split. */
    dataset: "fashion_mnist";
    /** Standardise pixels with the training mean and std. */
    normalize: boolean;
    /** Keep only this many training examples. */
    limit?: number;
    /** B. */
    batch_size: number;
  }
  | {
    /** The synthetic Zipf classification task (see `zipfClassificationTask`). */
    dataset: "zipf";
    /** C classes. */
    n_classes: number;
    /** Zipf exponent s ≥ 0 of the class frequencies. */
    exponent: number;
    /** Token vocabulary V (CLS adds one). */
    vocab_size: number;
    /** Token replacement probability. */
    noise: number;
    /** Training examples. */
    n_train: number;
    /** Test (validation) examples. */
    n_test: number;
    /** Put a CLS token first. */
    cls: boolean;
    /** B. */
    batch_size: number;
  }
  | {
    /** A synthetic sequence task (see `SequenceTaskBatcher`), generated endlessly. */
    dataset: "sequence";
    /** `"modsum"`, `"copy"` or `"reverse"`. */
    kind: "modsum" | "copy" | "reverse";
    /** Alphabet V; copy and reverse add a separator, so the model needs V + 1. */
    vocab_size: number;
    /** For modsum: how many previous tokens are summed. */
    k: number;
    /** B. */
    batch_size: number;
  };

/**
 * A learning-rate schedule around the optimizer's peak `lr` (see src/optim/schedule.ts).
 * `decay_steps` defaults to the run's steps minus the warmup.
 */
export type ScheduleConfig =
  | { kind: "constant"; warmup_steps: number; warmup_init: number }
  | {
    kind: "cosine" | "linear";
    decay_steps?: number;
    final_lr: number;
    warmup_steps: number;
    warmup_init: number;
  }
  | { kind: "step"; step_size: number; gamma: number; warmup_steps: number; warmup_init: number };

/** Names of the optimizers a config can pick (the functions of src/optim of the same name). */
export type OptimizerName =
  | "sgd"
  | "adam"
  | "adamw"
  | "rmsprop"
  | "signSgd"
  | "signum"
  | "lion"
  | "meanSignSgd"
  | "meanSignEma"
  | "microAdam"
  | "microAdamVar"
  | "microAdamMsq";

/**
 * An optimizer and its hyperparameters. Each optimizer accepts only its own options (e.g.
 * `momentum` for sgd, `betas` for the Adam family); defaults are those of the optimizer function.
 */
export interface OptimizerConfig {
  /** Which optimizer. */
  name: OptimizerName;
  /** Peak learning rate η ≥ 0. */
  lr: number;
  /** Schedule of η; constant when absent. */
  schedule?: ScheduleConfig;
  /** λ ≥ 0 (coupled or decoupled as the optimizer defines). */
  weight_decay?: number;
  /** Block kinds that get no weight decay, e.g. `["norm", "bias"]`. */
  no_decay?: ("weight" | "bias" | "norm" | "embedding")[];
  /** Clip the mean gradient to this global norm first. */
  clip_norm?: number;
  /** sgd: μ. */
  momentum?: number;
  /** sgd: τ. */
  dampening?: number;
  /** sgd: Nesterov momentum. */
  nesterov?: boolean;
  /** Adam family, lion: (β1, β2). */
  betas?: [number, number];
  /** Adam family, rmsprop: ε. */
  eps?: number;
  /** rmsprop: α. */
  alpha?: number;
  /** signum, meanSignEma: β. */
  beta?: number;
}

/** DP-SGD style per-example clipping (two backward passes), optionally with Gaussian noise. */
export interface PerExampleClipConfig {
  /** C > 0, the bound on each example's gradient norm. */
  max_norm: number;
  /** σ ≥ 0; the noise std is σ·C/B (0: clipping only). */
  noise_multiplier: number;
}

/**
 * A validated run configuration, with every default filled in.
 *
 * @example
 * ```ts
 * import { parseRunConfig, type RunConfig } from "./mod.ts";
 * const config: RunConfig = parseRunConfig({
 *   model: {
 *     dModel: 16, nHeads: 2, nLayers: 1, dMlp: 32, seqLen: 8, norm: "pre", causal: true,
 *     input: { kind: "tokens", vocabSize: 11 }, head: { kind: "lm", tied: false },
 *   },
 *   data: { dataset: "sequence", kind: "copy", vocab_size: 10, batch_size: 4 },
 *   optimizer: { name: "adam", lr: 1e-2 },
 *   steps: 10,
 * });
 * console.log(config.metrics_every, config.seed); // 10 0
 * ```
 */
export interface RunConfig {
  /** The run's name in logs; the run directory's name when absent. */
  name?: string;
  /** Seed of the initialisation, data order, validation draws and noise. */
  seed: number;
  /** The transformer. */
  model: TransformerConfig;
  /** The data. */
  data: DataConfig;
  /** The optimizer. */
  optimizer: OptimizerConfig;
  /** Training steps (exactly one of `steps` and `epochs`). */
  steps?: number;
  /** Training epochs, for datasets with epochs. */
  epochs?: number;
  /** Evaluate on the validation split every N steps (0: only at the end). */
  eval_every: number;
  /** Validation batches per evaluation (fewer if the split is smaller). */
  eval_batches: number;
  /** Read metrics back and log them every N steps (and at the last step). */
  metrics_every: number;
  /** Write a checkpoint every N steps (0: only the final one). */
  checkpoint_every: number;
  /** Per-example statistics to summarise at each metrics reading. */
  log_stats: LogStat[];
  /** Per-example clipping (DP-SGD); absent: none. */
  per_example_clip?: PerExampleClipConfig;
  /** A language-model checkpoint (file, or run directory) whose body initialises this model. */
  init_from?: string;
  /** A loss above this multiple of the first step's loss ends the run as diverged. */
  divergence_factor: number;
}

// ---- schema --------------------------------------------------------------------------------

const count = () => z.number().int().min(1);
const nonNegative = () => z.number().nonnegative();
const unit = () => z.number().min(0).lt(1);
const fraction = () => z.number().gt(0).lt(1);

const modelSchema = z.strictObject({
  dModel: count(),
  nHeads: count(),
  nLayers: count(),
  dMlp: count(),
  seqLen: count(),
  norm: z.enum(["pre", "post", "none"]),
  causal: z.boolean(),
  input: z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("tokens"), vocabSize: count() }),
    z.strictObject({ kind: z.literal("patches"), imageSize: count(), patchSize: count(), channels: count() }),
  ]),
  head: z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("lm"), tied: z.boolean() }),
    z.strictObject({ kind: z.literal("classify"), nClasses: count(), pool: z.enum(["cls", "mean"]) }),
  ]),
}).superRefine((model, ctx) => {
  try {
    validateConfig(model);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    ctx.addIssue({
      code: "custom",
      message: error.message.replace("gradscope: bad transformer config: ", ""),
    });
  }
});

const dataSchema = z.discriminatedUnion("dataset", [
  z.strictObject({
    dataset: z.literal("moby_dick"),
    tokenizer: z.enum(["bytes", "bpe"]).default("bytes"),
    valid_fraction: fraction().default(0.1),
    batch_size: count(),
  }),
  z.strictObject({
    dataset: z.literal("wordnet"),
    cls: z.boolean().default(false),
    test_fraction: fraction().default(0.1),
    limit: count().optional(),
    batch_size: count(),
  }),
  z.strictObject({
    dataset: z.literal("fashion_mnist"),
    normalize: z.boolean().default(true),
    limit: count().optional(),
    batch_size: count(),
  }),
  z.strictObject({
    dataset: z.literal("zipf"),
    n_classes: z.number().int().min(2),
    exponent: nonNegative().default(1),
    vocab_size: z.number().int().min(2),
    noise: z.number().min(0).max(1).default(0.1),
    n_train: count(),
    n_test: count(),
    cls: z.boolean().default(false),
    batch_size: count(),
  }),
  z.strictObject({
    dataset: z.literal("sequence"),
    kind: z.enum(["modsum", "copy", "reverse"]),
    vocab_size: z.number().int().min(2),
    k: count().default(2),
    batch_size: count(),
  }),
]);

const warmup = { warmup_steps: z.number().int().min(0).default(0), warmup_init: nonNegative().default(0) };
const scheduleSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("constant"), ...warmup }),
  z.strictObject({
    kind: z.enum(["cosine", "linear"]),
    decay_steps: count().optional(),
    final_lr: nonNegative().default(0),
    ...warmup,
  }),
  z.strictObject({
    kind: z.literal("step"),
    step_size: count(),
    gamma: z.number().positive().default(0.1),
    ...warmup,
  }),
]);

const betas = () => z.tuple([unit(), unit()]);
const common = {
  lr: nonNegative(),
  schedule: scheduleSchema.optional(),
  weight_decay: nonNegative().optional(),
  no_decay: z.array(z.enum(["weight", "bias", "norm", "embedding"])).optional(),
  clip_norm: z.number().positive().optional(),
};
const adamLike = { ...common, betas: betas().optional(), eps: z.number().positive().optional() };
const optimizerSchema = z.discriminatedUnion("name", [
  z.strictObject({
    name: z.literal("sgd"),
    ...common,
    momentum: unit().optional(),
    dampening: z.number().min(0).max(1).optional(),
    nesterov: z.boolean().optional(),
  }),
  z.strictObject({
    name: z.enum(["adam", "adamw", "microAdam", "microAdamVar", "microAdamMsq"]),
    ...adamLike,
  }),
  z.strictObject({
    name: z.literal("rmsprop"),
    ...common,
    alpha: unit().optional(),
    eps: z.number().positive().optional(),
  }),
  z.strictObject({ name: z.enum(["signSgd", "meanSignSgd"]), ...common }),
  z.strictObject({ name: z.enum(["signum", "meanSignEma"]), ...common, beta: unit().optional() }),
  z.strictObject({ name: z.literal("lion"), ...common, betas: betas().optional() }),
]);

const runSchema = z.strictObject({
  name: z.string().min(1).optional(),
  seed: z.number().int().min(0).max(2 ** 32 - 1).default(0),
  model: modelSchema,
  data: dataSchema,
  optimizer: optimizerSchema,
  steps: count().optional(),
  epochs: count().optional(),
  eval_every: z.number().int().min(0).default(0),
  eval_batches: count().default(4),
  metrics_every: count().default(10),
  checkpoint_every: z.number().int().min(0).default(0),
  log_stats: z.array(z.enum(["sum_sq", "sign_agreement", "example_norms"]))
    .refine((list) => new Set(list).size === list.length, "each statistic at most once")
    .default([]),
  per_example_clip: z.strictObject({
    max_norm: z.number().positive(),
    noise_multiplier: nonNegative().default(0),
  }).optional(),
  init_from: z.string().min(1).optional(),
  divergence_factor: z.number().gt(1).default(10),
}).superRefine((config, ctx) => {
  if ((config.steps === undefined) === (config.epochs === undefined)) {
    ctx.addIssue({ code: "custom", path: ["steps"], message: "give exactly one of steps and epochs" });
  }
  if (config.epochs !== undefined && config.data.dataset === "sequence") {
    ctx.addIssue({
      code: "custom",
      path: ["epochs"],
      message: "the sequence task is an endless stream without epochs; give steps",
    });
  }
});

// Compile-time check that the schema produces exactly the documented RunConfig.
const _schemaMatches: z.ZodType<RunConfig> = runSchema;
void _schemaMatches;

/** `path: message` lines for zod issues; one line per unknown key. */
function formatIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    const at = issue.path.map(String).join(".");
    const where = (key: string) => [at, key].filter(Boolean).join(".");
    if (issue.code === "unrecognized_keys") return issue.keys.map((key) => `${where(key)}: unknown key`);
    const message = issue.message.replace(
      /^Invalid input: expected (\w+), received undefined$/,
      "required ($1)",
    );
    return [`${at || "(config)"}: ${message}`];
  });
}

/**
 * Validates a run configuration (e.g. parsed JSON) and fills in the defaults. Pure: no file,
 * network or GPU access.
 *
 * @throws {RunConfigError} listing every problem as `path: message`
 * @example
 * ```ts
 * import { parseRunConfig, RunConfigError } from "./mod.ts";
 * try {
 *   parseRunConfig({ steps: 0, colour: "blue" });
 * } catch (error) {
 *   console.log((error as RunConfigError).issues);
 *   // ["model: required (object)", ..., "steps: Too small: expected number to be >=1", "colour: unknown key"]
 * }
 * ```
 */
export function parseRunConfig(raw: unknown): RunConfig {
  const result = runSchema.safeParse(raw);
  if (!result.success) throw new RunConfigError(formatIssues(result.error.issues));
  return result.data;
}

/**
 * Reads a JSON run configuration file and validates it.
 *
 * @throws {RunConfigError} when the file is not JSON or the config is invalid
 * @example
 * ```ts ignore
 * const config = await loadRunConfig("configs/copy.json");
 * ```
 */
export async function loadRunConfig(path: string): Promise<RunConfig> {
  const text = await Deno.readTextFile(path);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new RunConfigError([`(file ${path}): not JSON: ${(error as Error).message}`]);
  }
  return parseRunConfig(raw);
}

/**
 * A small run that needs no downloads and finishes in about a minute on a CPU adapter: a
 * 2-layer Pre-LN transformer learning the copy task with AdamW and a warmed-up cosine schedule.
 *
 * @example
 * ```ts
 * import { DEFAULT_RUN_CONFIG, parseRunConfig } from "./mod.ts";
 * const config = parseRunConfig({ ...DEFAULT_RUN_CONFIG, steps: 50 });
 * console.log(config.data.dataset); // "sequence"
 * ```
 */
export const DEFAULT_RUN_CONFIG: Readonly<Record<string, unknown>> = Object.freeze({
  seed: 0,
  model: {
    dModel: 32,
    nHeads: 4,
    nLayers: 2,
    dMlp: 128,
    seqLen: 16,
    norm: "pre",
    causal: true,
    input: { kind: "tokens", vocabSize: 11 },
    head: { kind: "lm", tied: false },
  },
  data: { dataset: "sequence", kind: "copy", vocab_size: 10, batch_size: 16 },
  optimizer: {
    name: "adamw",
    lr: 3e-3,
    weight_decay: 0.01,
    no_decay: ["norm", "bias"],
    schedule: { kind: "cosine", warmup_steps: 20 },
  },
  steps: 300,
  eval_every: 100,
  metrics_every: 10,
  checkpoint_every: 100,
});
