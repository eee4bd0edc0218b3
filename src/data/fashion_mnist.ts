/**
 * Fashion-MNIST (Zalando): 28×28 greyscale clothing images in 10 classes, 60 000 for
 * training and 10 000 for testing, from the Debian package `dataset-fashion-mnist`.
 *
 * @module
 */

import { type ImageDataset } from "./dataset.ts";
import { joinPath, readDatasetFile } from "./dataset_file.ts";
import { maybeGunzip, parseIdx } from "./idx.ts";

/**
 * Where `apt-get install dataset-fashion-mnist` puts the IDX files.
 *
 * @example
 * ```ts
 * import { FASHION_MNIST_DIR, loadFashionMnist } from "./mod.ts";
 * const test = await loadFashionMnist({ dir: FASHION_MNIST_DIR, split: "test" });
 * ```
 */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/**
 * The Debian package that provides the files.
 *
 * @example
 * ```ts
 * import { FASHION_MNIST_DEBIAN_PACKAGE } from "./mod.ts";
 * console.log(`apt-get install ${FASHION_MNIST_DEBIAN_PACKAGE}`);
 * ```
 */
export const FASHION_MNIST_DEBIAN_PACKAGE = "dataset-fashion-mnist";

/**
 * Class names, by label.
 *
 * @example
 * ```ts
 * import { FASHION_MNIST_CLASSES } from "./mod.ts";
 * console.log(FASHION_MNIST_CLASSES[9]); // "Ankle boot"
 * ```
 */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/**
 * Pixel mean and standard deviation of the training images in [0, 1] (used by `normalize`).
 *
 * @example
 * ```ts
 * import { FASHION_MNIST_STATS } from "./mod.ts";
 * const z = (pixel: number) => (pixel / 255 - FASHION_MNIST_STATS.mean) / FASHION_MNIST_STATS.std;
 * ```
 */
export const FASHION_MNIST_STATS = { mean: 0.2860406, std: 0.3530242 } as const;

/**
 * What to load.
 *
 * @example
 * ```ts
 * import { type FashionMnistOptions, loadFashionMnist } from "./mod.ts";
 * const options: FashionMnistOptions = { split: "test", normalize: true, limit: 1000 };
 * const test = await loadFashionMnist(options);
 * ```
 */
export interface FashionMnistOptions {
  /** "train" (60 000) or "test" (10 000); default "train". */
  split?: "train" | "test";
  /** Directory of the four `*-ubyte.gz` files; default {@linkcode FASHION_MNIST_DIR}. */
  dir?: string;
  /** Subtract the training mean and divide by its std (otherwise pixels are in [0, 1]). */
  normalize?: boolean;
  /** Keep only the first `limit` examples. */
  limit?: number;
}

/** Reads, gunzips and parses one IDX file, checking its rank. */
async function readIdx(path: string, rank: number) {
  const array = parseIdx(
    await maybeGunzip(await readDatasetFile(path, "Fashion-MNIST", FASHION_MNIST_DEBIAN_PACKAGE)),
  );
  if (array.dims.length !== rank) {
    throw new Error(`gradscope: ${path} has rank ${array.dims.length}, expected ${rank}`);
  }
  return array;
}

/**
 * Loads a Fashion-MNIST split as images [n, 1, 28, 28] (float32) and labels (int32).
 * A missing file raises a `DatasetMissingError` that names `dataset-fashion-mnist`.
 * Needs `--allow-read` on the directory.
 *
 * @example
 * ```ts
 * import { loadFashionMnist } from "./mod.ts";
 * const test = await loadFashionMnist({ split: "test", limit: 100 });
 * console.log(test.n, test.height, test.width, test.labels[0]); // 100 28 28 9
 * ```
 */
export async function loadFashionMnist(options: FashionMnistOptions = {}): Promise<ImageDataset> {
  const dir = options.dir ?? FASHION_MNIST_DIR;
  const prefix = (options.split ?? "train") === "train" ? "train" : "t10k";
  const images = await readIdx(joinPath(dir, `${prefix}-images-idx3-ubyte.gz`), 3);
  const labels = await readIdx(joinPath(dir, `${prefix}-labels-idx1-ubyte.gz`), 1);
  const [count, height, width] = images.dims;
  if (labels.dims[0] !== count) {
    throw new Error(`gradscope: ${count} Fashion-MNIST images but ${labels.dims[0]} labels`);
  }
  const n = Math.min(count, options.limit ?? count);
  const { mean, std } = options.normalize ? FASHION_MNIST_STATS : { mean: 0, std: 1 };
  const pixels = new Float32Array(n * height * width);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (images.data[i] / 255 - mean) / std;
  return {
    kind: "images",
    n,
    channels: 1,
    height,
    width,
    nClasses: FASHION_MNIST_CLASSES.length,
    images: pixels,
    labels: Int32Array.from(labels.data.subarray(0, n)),
  };
}
