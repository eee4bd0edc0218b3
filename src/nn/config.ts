/**
 * The transformer configuration, validated before anything is allocated.
 *
 * @module
 */

/** Where LayerNorm goes: Pre-LN `x + f(LN(x))`, Post-LN `LN(x + f(x))`, or none. */
export type NormPlacement = "pre" | "post" | "none";

/** Token input: token embedding plus learned positions. */
export interface TokenInput {
  /** Discriminator. */
  kind: "tokens";
  /** Vocabulary size. */
  vocabSize: number;
}

/** ViT input: square images cut into patches, a learned CLS token, learned positions. */
export interface PatchInput {
  /** Discriminator. */
  kind: "patches";
  /** Image side in pixels. */
  imageSize: number;
  /** Patch side in pixels; must divide `imageSize`. */
  patchSize: number;
  /** Colour channels. */
  channels: number;
}

/** Language-model head over every position, optionally tied to the token embedding. */
export interface LmHead {
  /** Discriminator. */
  kind: "lm";
  /** Share the token embedding matrix as the output projection. */
  tied: boolean;
}

/** Classification head on the CLS (first) position or the mean over valid positions. */
export interface ClassifierHead {
  /** Discriminator. */
  kind: "classify";
  /** Number of classes, at least 1. */
  nClasses: number;
  /** `"cls"`: the first position; `"mean"`: the mean over unpadded positions. */
  pool: "cls" | "mean";
}

/** Everything that fixes a transformer's shape. */
export interface TransformerConfig {
  /** Width of the residual stream. */
  dModel: number;
  /** Attention heads; must divide `dModel`. */
  nHeads: number;
  /** Transformer blocks. */
  nLayers: number;
  /** Hidden width of the MLP. */
  dMlp: number;
  /** Sequence length (for patches: number of patches + 1 for CLS). */
  seqLen: number;
  /** LayerNorm placement. */
  norm: NormPlacement;
  /** Causal (language model) or bidirectional attention. */
  causal: boolean;
  /** Input kind. */
  input: TokenInput | PatchInput;
  /** Output head. */
  head: LmHead | ClassifierHead;
}

/** Longest sequence the attention kernels accept. */
export const MAX_SEQ_LEN = 1024;

/** Raised for an invalid {@linkcode TransformerConfig}. */
export class ConfigError extends Error {
  /**
   * Builds the error.
   * @param message what is wrong
   */
  constructor(message: string) {
    super(`gradscope: bad transformer config: ${message}`);
    this.name = "ConfigError";
  }
}

function positiveInt(value: unknown, name: string): void {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new ConfigError(`${name} must be a positive integer, got ${value}`);
  }
}

/**
 * Checks a config and throws a {@linkcode ConfigError} that says what is wrong.
 *
 * @example
 * ```ts
 * import { validateConfig } from "./mod.ts";
 * validateConfig({
 *   dModel: 8, nHeads: 2, nLayers: 1, dMlp: 16, seqLen: 4, norm: "pre", causal: true,
 *   input: { kind: "tokens", vocabSize: 10 }, head: { kind: "lm", tied: false },
 * });
 * ```
 */
export function validateConfig(config: TransformerConfig): void {
  for (const key of ["dModel", "nHeads", "nLayers", "dMlp", "seqLen"] as const) positiveInt(config[key], key);
  if (config.dModel % config.nHeads !== 0) {
    throw new ConfigError(`dModel (${config.dModel}) must be divisible by nHeads (${config.nHeads})`);
  }
  if (config.seqLen > MAX_SEQ_LEN) {
    throw new ConfigError(`seqLen ${config.seqLen} is over the limit ${MAX_SEQ_LEN}`);
  }
  if (!["pre", "post", "none"].includes(config.norm)) {
    throw new ConfigError(`norm must be "pre", "post" or "none", got ${config.norm}`);
  }
  const input = config.input;
  if (input.kind === "tokens") {
    positiveInt(input.vocabSize, "input.vocabSize");
  } else if (input.kind === "patches") {
    for (const key of ["imageSize", "patchSize", "channels"] as const) {
      positiveInt(input[key], `input.${key}`);
    }
    if (input.imageSize % input.patchSize !== 0) {
      throw new ConfigError(`patchSize ${input.patchSize} must divide imageSize ${input.imageSize}`);
    }
    const expected = (input.imageSize / input.patchSize) ** 2 + 1;
    if (config.seqLen !== expected) {
      throw new ConfigError(`seqLen must be (imageSize/patchSize)² + 1 = ${expected} for patch input`);
    }
  } else {
    throw new ConfigError(`unknown input kind ${(input as { kind: string }).kind}`);
  }
  const head = config.head;
  if (head.kind === "lm") {
    if (input.kind !== "tokens") throw new ConfigError("a language-model head needs token input");
  } else if (head.kind === "classify") {
    if (!Number.isInteger(head.nClasses) || head.nClasses < 1) {
      throw new ConfigError(`head.nClasses must be at least 1, got ${head.nClasses}`);
    }
    if (head.pool !== "cls" && head.pool !== "mean") {
      throw new ConfigError(`head.pool must be "cls" or "mean"`);
    }
  } else {
    throw new ConfigError(`unknown head kind ${(head as { kind: string }).kind}`);
  }
}
