/**
 * Datasets and batchers: loaders on the real package files (skipped with a message when a
 * Debian dataset is absent), determinism, resumable state, splits, synthetic tasks.
 */
import assert from "node:assert/strict";
import { encode as referenceGpt2Encode } from "npm:gpt-3-encoder@1.1.4";
import { type Batch, type Batcher, type BatcherState } from "../src/data/batch.ts";
import { ClassBatcher } from "../src/data/class_batcher.ts";
import { type ImageDataset, subsetDataset } from "../src/data/dataset.ts";
import { DatasetMissingError } from "../src/data/dataset_file.ts";
import { FASHION_MNIST_DIR, loadFashionMnist } from "../src/data/fashion_mnist.ts";
import { loadGpt2Tokenizer } from "../src/data/gpt2_bpe.ts";
import { maybeGunzip, parseIdx } from "../src/data/idx.ts";
import { LmBatcher } from "../src/data/lm_batcher.ts";
import { loadMobyDick, mobyDickCorpus } from "../src/data/moby_dick.ts";
import { SequenceTaskBatcher } from "../src/data/sequence_task.ts";
import { packSequences } from "../src/data/sequences.ts";
import { splitIndices } from "../src/data/split.ts";
import { byteTokenizer } from "../src/data/tokenizer.ts";
import { loadWordNet, parseWordNetData, WORDNET_DIR, WORDNET_LEXNAMES } from "../src/data/wordnet.ts";
import { zipfClassificationTask, zipfProbabilities } from "../src/data/zipf_task.ts";

/** Whether `path` exists; a dataset test is skipped (with a message) when it does not. */
function present(path: string, debianPackage: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    console.warn(`data_test: ${path} is absent; skipping its tests (apt-get install ${debianPackage})`);
    return false;
  }
}

const HAS_FASHION = present(`${FASHION_MNIST_DIR}/t10k-images-idx3-ubyte.gz`, "dataset-fashion-mnist");
const HAS_WORDNET = present(`${WORDNET_DIR}/data.noun`, "wordnet-base");
const skipped = (has: boolean, pkg: string) => has ? "" : ` [SKIPPED: apt-get install ${pkg}]`;

/** Copies of the arrays of the next `steps` batches. */
function draw(batcher: Batcher, steps: number): Batch[] {
  return Array.from({ length: steps }, () => structuredClone(batcher.next()));
}

/** Saves after `before` batches, draws `after`, restores into `fresh` and checks the same batches follow. */
function checkResume(make: () => Batcher, before: number, after: number): void {
  const batcher = make();
  draw(batcher, before);
  const state: BatcherState = JSON.parse(JSON.stringify(batcher.saveState()));
  const expected = draw(batcher, after);
  const resumed = make();
  resumed.restoreState(state);
  assert.deepEqual(draw(resumed, after), expected);
}

const mobyDick = loadMobyDick();

Deno.test("byte tokenizer round-trips UTF-8", () => {
  const text = "Ahab — Moby Dick, 1851 ✓";
  const ids = byteTokenizer.encode(text);
  assert.equal(ids.length, new TextEncoder().encode(text).length);
  assert.ok(ids.every((id) => id >= 0 && id < 256));
  assert.equal(byteTokenizer.decode(ids), text);
});

Deno.test("GPT-2 BPE matches gpt-3-encoder and round-trips", async () => {
  const gpt2 = await loadGpt2Tokenizer();
  assert.equal(gpt2.vocabSize, 50257);
  assert.equal(gpt2.eotToken, 50256);
  assert.deepEqual([...gpt2.encode("Hello world")], [15496, 995]);
  const tricky = "It's 1,234.5 — naïve    spaces\n\n\ttabs ,, ,a a, don't 'quoted' 東京 🐋!!";
  const sample = tricky + (await mobyDick).slice(0, 20000);
  assert.deepEqual([...gpt2.encode(sample)], referenceGpt2Encode(sample));
  assert.equal(gpt2.decode(gpt2.encode(sample)), sample);
});

Deno.test("Moby Dick: text, byte and BPE corpora, contiguous validation tail", async () => {
  const text = await mobyDick;
  assert.ok(text.startsWith("CHAPTER 1. Loomings."));
  assert.ok(text.includes("Call me Ishmael."));
  const bytes = await mobyDickCorpus();
  const all = byteTokenizer.encode(text);
  assert.equal(bytes.train.length + bytes.valid.length, all.length);
  assert.equal(bytes.valid.length, Math.round(all.length * 0.1));
  assert.deepEqual(bytes.valid, all.subarray(bytes.train.length));
  const bpe = await mobyDickCorpus({ tokenizer: await loadGpt2Tokenizer(), validFraction: 0.05 });
  assert.equal(bpe.vocabSize, 50257);
  assert.ok(bpe.train.length > 250_000 && bpe.valid.length > 10_000);
  assert.ok(bpe.train.every((id) => id >= 0 && id < 50257));
});

Deno.test("Moby Dick loads in a fresh process without an import map or permissions", async () => {
  const url = new URL("../src/data/moby_dick.ts", import.meta.url).href;
  const script = `import { loadMobyDick } from "${url}"; console.log((await loadMobyDick()).length);`;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    cwd: Deno.makeTempDirSync(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(Number(new TextDecoder().decode(stdout).trim()), (await mobyDick).length);
});

Deno.test("LM batcher: windows, determinism, seeds differ, resume", () => {
  const stream = Int32Array.from({ length: 1000 }, (_, i) => (i * 7919) % 997);
  const make = (seed: number) => new LmBatcher(stream, { batchSize: 3, seqLen: 17, seed });
  const batches = draw(make(1), 4);
  for (const { tokens, targets } of batches) {
    for (let b = 0; b < 3; b++) {
      const start = stream.indexOf(tokens![b * 17]);
      assert.deepEqual(tokens!.subarray(b * 17, b * 17 + 17), stream.subarray(start, start + 17));
      assert.deepEqual(targets.subarray(b * 17, b * 17 + 17), stream.subarray(start + 1, start + 18));
    }
  }
  assert.deepEqual(draw(make(1), 4), batches);
  assert.notDeepEqual(draw(make(2), 4), batches);
  checkResume(() => make(5), 3, 4);
  const batcher = make(9);
  assert.equal(batcher.next(), batcher.batch, "refills the preallocated batch");
  const state = batcher.rng.state;
  const next = structuredClone(batcher.next());
  batcher.rng.state = state;
  assert.deepEqual(batcher.next(), next);
  assert.throws(() => new LmBatcher(new Int32Array(17), { batchSize: 1, seqLen: 17 }), /cannot fill/);
});

Deno.test("splits are disjoint, complete and seeded", () => {
  const { train, test } = splitIndices(1001, 0.1, 3);
  assert.equal(test.length, 100);
  const seen = new Uint8Array(1001);
  for (const i of [...train, ...test]) seen[i]++;
  assert.ok(seen.every((count) => count === 1));
  assert.deepEqual(splitIndices(1001, 0.1, 3).test, test);
  assert.notDeepEqual(splitIndices(1001, 0.1, 4).test, test);
  // The test split stays shuffled: evaluation reads its first batches, and sources such as
  // WordNet are grouped by class, so a sorted test split would evaluate only a few classes.
  assert.ok(test.some((v, i) => i > 0 && v < test[i - 1]), "test indices are not in source order");
});

Deno.test("packSequences: CLS, truncation, padding", () => {
  const { tokens, lengths } = packSequences([[5], [1, 2, 3, 4, 5]], { seqLen: 4, clsId: 9, padId: 7 });
  assert.deepEqual([...tokens], [9, 5, 7, 7, 9, 1, 2, 3]);
  assert.deepEqual([...lengths], [2, 4]);
});

Deno.test("IDX: gzip, parse, clear errors", async () => {
  const raw = new Uint8Array([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
  const gz = new Uint8Array(
    await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
  );
  const parsed = parseIdx(maybeGunzip(gz));
  assert.deepEqual(parsed.dims, [2, 3]);
  assert.deepEqual([...parsed.data], [1, 2, 3, 4, 5, 6]);
  assert.throws(() => parseIdx(new Uint8Array([1, 2, 8, 1])), /bad magic/);
  assert.throws(() => parseIdx(raw.subarray(0, 15)), /header says 6/);
});

Deno.test("missing dataset files name the Debian package", async () => {
  const dir = Deno.makeTempDirSync();
  await assert.rejects(
    loadFashionMnist({ dir }),
    (e) => e instanceof DatasetMissingError && /apt-get install dataset-fashion-mnist/.test(e.message),
  );
  await assert.rejects(
    loadWordNet({ dir, seqLen: 8 }),
    (e) =>
      e instanceof DatasetMissingError && /apt-get install wordnet-base/.test(e.message) &&
      e.path.includes(dir),
  );
});

Deno.test({
  name: "Fashion-MNIST loads from the Debian package" + skipped(HAS_FASHION, "dataset-fashion-mnist"),
  ignore: !HAS_FASHION,
  async fn() {
    const test = await loadFashionMnist({ split: "test" });
    assert.equal(test.n, 10000);
    assert.deepEqual([test.channels, test.height, test.width, test.nClasses], [1, 28, 28, 10]);
    assert.equal(test.images.length, 10000 * 784);
    assert.ok(test.images.every((x) => x >= 0 && x <= 1));
    const counts = new Array(10).fill(0);
    for (const label of test.labels) counts[label]++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    assert.equal(test.labels[0], 9, "the first test image is an ankle boot");
    const train = await loadFashionMnist({ split: "train", limit: 2000, normalize: true });
    assert.equal(train.n, 2000);
    const mean = train.images.reduce((a, b) => a + b, 0) / train.images.length;
    assert.ok(Math.abs(mean) < 0.1, `normalised mean ${mean}`);
  },
});

const wordnet = HAS_WORDNET ? loadWordNet({ seqLen: 48, cls: true, testFraction: 0.1, seed: 0 }) : null;

Deno.test({
  name: "WordNet glosses: 45 classes, CLS, padding, disjoint split" + skipped(HAS_WORDNET, "wordnet-base"),
  ignore: !HAS_WORDNET,
  async fn() {
    const { train, test, split, glosses } = await wordnet!;
    assert.equal(glosses.length, 117659);
    assert.equal(train.n + test.n, glosses.length);
    assert.equal(test.n, Math.round(glosses.length * 0.1));
    assert.equal(new Set([...split.train, ...split.test]).size, glosses.length);
    assert.deepEqual([train.nClasses, train.vocabSize, train.seqLen], [45, 257, 48]);
    assert.equal(new Set(train.labels).size, 45);
    for (const data of [train, test]) {
      for (let i = 0; i < data.n; i += 97) {
        const row = data.tokens.subarray(i * 48, i * 48 + 48), length = data.lengths[i];
        assert.equal(row[0], 256);
        assert.ok(length >= 2 && length <= 48);
        assert.ok(row.subarray(length).every((id) => id === 0));
        const gloss = glosses[(data === train ? split.train : split.test)[i]];
        assert.equal(data.labels[i], gloss.lexFile);
        assert.equal(
          byteTokenizer.decode(row.subarray(1, length)),
          byteTokenizer.decode(byteTokenizer.encode(gloss.gloss).subarray(0, 47)),
        );
      }
    }
    const animal = glosses.find((g) => g.lemma === "whale" && WORDNET_LEXNAMES[g.lexFile] === "noun.animal");
    assert.ok(animal && /cetacean/.test(animal.gloss), "whale is a noun.animal");
  },
});

Deno.test({
  name: "WordNet with GPT-2 BPE on adverbs" + skipped(HAS_WORDNET, "wordnet-base"),
  ignore: !HAS_WORDNET,
  async fn() {
    const gpt2 = await loadGpt2Tokenizer();
    const { train, test } = await loadWordNet({
      seqLen: 32,
      tokenizer: gpt2,
      parts: ["adv"],
      testFraction: 0.2,
    });
    assert.equal(train.n + test.n, 3621);
    assert.equal(train.vocabSize, 50257);
    assert.ok(train.labels.every((label) => label === 2), "every adverb is in adv.all");
  },
});

Deno.test("parseWordNetData skips the license header and reads lex_filenum and gloss", () => {
  const text = [
    "  1 This software and database is being provided to you, the LICENSEE, by  ",
    "  2 Princeton University | not a gloss  ",
    '00004227 29 v 03 exhale 0 expire 0 breathe_out 0 008 @ 00001740 v 0000 | expel air; "Exhale now"  ',
    "00001740 03 n 01 physical_entity 0 000 | an entity that has physical existence  ",
    "",
  ].join("\n");
  assert.deepEqual(parseWordNetData(text), [
    { lemma: "exhale", lexFile: 29, gloss: 'expel air; "Exhale now"' },
    { lemma: "physical entity", lexFile: 3, gloss: "an entity that has physical existence" },
  ]);
  assert.throws(() => parseWordNetData("00000001 77 n 01 x 0 000 | bad class"), /lexicographer file "77"/);
});

Deno.test("ClassBatcher: epochs cover each example once, seeded, resumable, padded evaluation", () => {
  const { train } = zipfClassificationTask({
    nClasses: 7,
    seqLen: 5,
    vocabSize: 9,
    nTrain: 51,
    nTest: 0,
    seed: 2,
  });
  const ids = subsetDataset(train, Int32Array.from({ length: 51 }, (_, i) => i));
  ids.labels = Int32Array.from({ length: 51 }, (_, i) => i); // label = example index, to track coverage
  const make = (seed: number) => new ClassBatcher(ids, { batchSize: 17, seed });
  const epoch = draw(make(1), 3).flatMap((b) => [...b.targets]);
  assert.deepEqual(epoch.toSorted((a, b) => a - b), Array.from({ length: 51 }, (_, i) => i));
  assert.deepEqual(draw(make(1), 6), draw(make(1), 6));
  assert.notDeepEqual(draw(make(2), 3), draw(make(1), 3));
  const twoEpochs = draw(make(1), 6);
  assert.notDeepEqual(twoEpochs.slice(3), twoEpochs.slice(0, 3), "each epoch is reshuffled");
  checkResume(() => make(3), 2, 5); // saved mid-epoch, continues across an epoch boundary
  checkResume(() => make(3), 3, 2); // saved exactly at the end of an epoch
  for (const batch of draw(make(4), 3)) {
    for (let r = 0; r < 17; r++) {
      const i = batch.targets[r];
      assert.deepEqual(batch.tokens!.subarray(r * 5, r * 5 + 5), ids.tokens.subarray(i * 5, i * 5 + 5));
      assert.equal(batch.lengths![r], ids.lengths[i]);
    }
  }
  const evaluation = new ClassBatcher(ids, { batchSize: 20, shuffle: false, dropLast: false });
  assert.equal(evaluation.batchesPerEpoch, 3);
  const seen = draw(evaluation, 3).flatMap((b) => [...b.targets]);
  assert.deepEqual(seen, [...Array.from({ length: 51 }, (_, i) => i), ...new Array(9).fill(-1)]);
  assert.equal(evaluation.epoch, 0);
  evaluation.next();
  assert.equal(evaluation.epoch, 1);
});

Deno.test("ClassBatcher batches images", () => {
  const n = 5, size = 3 * 2 * 2;
  const images: ImageDataset = {
    kind: "images",
    n,
    channels: 3,
    height: 2,
    width: 2,
    nClasses: n,
    images: Float32Array.from({ length: n * size }, (_, i) => i),
    labels: Int32Array.from({ length: n }, (_, i) => i),
  };
  const batch = new ClassBatcher(images, { batchSize: 2, seed: 1 }).next();
  assert.equal(batch.images!.length, 2 * size);
  for (let r = 0; r < 2; r++) {
    const i = batch.targets[r];
    assert.deepEqual(
      batch.images!.subarray(r * size, (r + 1) * size),
      images.images.subarray(i * size, (i + 1) * size),
    );
  }
});

Deno.test("Zipf task: class frequencies follow p_c ∝ (c+1)^-s", () => {
  const s = 1.1, C = 1000, n = 40000;
  const task = zipfClassificationTask({
    nClasses: C,
    exponent: s,
    seqLen: 8,
    vocabSize: 32,
    nTrain: n,
    nTest: 0,
  });
  const p = zipfProbabilities(C, s);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  const counts = new Float64Array(C);
  for (const c of task.train.labels) counts[c]++;
  for (const c of [0, 1, 2, 5, 10]) {
    const sigma = Math.sqrt(n * p[c] * (1 - p[c]));
    assert.ok(Math.abs(counts[c] - n * p[c]) < 4 * sigma, `class ${c}: ${counts[c]} vs ${n * p[c]}`);
  }
  // Log-log slope of frequency against rank, over the 50 most frequent classes.
  const xs = Array.from({ length: 50 }, (_, c) => Math.log(c + 1)),
    ys = xs.map((_, c) => Math.log(counts[c]));
  const mx = xs.reduce((a, b) => a + b) / 50, my = ys.reduce((a, b) => a + b) / 50;
  const slope = xs.reduce((a, x, i) => a + (x - mx) * (ys[i] - my), 0) /
    xs.reduce((a, x) => a + (x - mx) ** 2, 0);
  assert.ok(Math.abs(slope + s) < 0.1, `slope ${slope}`);
  const uniform = zipfClassificationTask({
    nClasses: 4,
    exponent: 0,
    seqLen: 4,
    vocabSize: 8,
    nTrain: 8000,
    nTest: 0,
  });
  for (let c = 0; c < 4; c++) {
    assert.ok(Math.abs(uniform.train.labels.filter((l) => l === c).length - 2000) < 200);
  }
});

Deno.test("Zipf task: labels are a function of the noiseless input; noisy inputs stay recoverable", () => {
  const base = { nClasses: 200, seqLen: 13, vocabSize: 16, nTrain: 3000, nTest: 1000, cls: true, seed: 4 };
  const clean = zipfClassificationTask({ ...base, noise: 0 });
  const L = clean.prototypeLength;
  assert.equal(L, 12);
  const protos = new Set<string>();
  for (let c = 0; c < 200; c++) protos.add(clean.prototypes.subarray(c * L, (c + 1) * L).join());
  assert.equal(protos.size, 200, "prototypes are distinct");
  for (let i = 0; i < clean.train.n; i++) {
    const row = clean.train.tokens.subarray(i * 13, i * 13 + 13), c = clean.train.labels[i];
    assert.equal(row[0], 16);
    assert.deepEqual(row.subarray(1), clean.prototypes.subarray(c * L, (c + 1) * L));
  }
  const noisy = zipfClassificationTask({ ...base, noise: 0.25 });
  assert.deepEqual(noisy.prototypes, clean.prototypes, "the same seed gives the same prototypes");
  assert.deepEqual(zipfClassificationTask({ ...base, noise: 0.25 }).test, noisy.test, "deterministic");
  let correct = 0;
  for (let i = 0; i < noisy.test.n; i++) {
    const x = noisy.test.tokens.subarray(i * 13 + 1, i * 13 + 13);
    let best = -1, bestDistance = Infinity;
    for (let c = 0; c < 200; c++) {
      let distance = 0;
      for (let t = 0; t < L; t++) distance += x[t] === noisy.prototypes[c * L + t] ? 0 : 1;
      if (distance < bestDistance) [best, bestDistance] = [c, distance];
    }
    correct += best === noisy.test.labels[i] ? 1 : 0;
  }
  assert.ok(correct / noisy.test.n > 0.95, `nearest-prototype accuracy ${correct / noisy.test.n}`);
  assert.throws(() => zipfClassificationTask({ ...base, vocabSize: 2, seqLen: 3 }), /too few/);
});

Deno.test("sequence tasks: modsum recurrence, copy and reverse, seeded and resumable", () => {
  const V = 11, k = 3, T = 12;
  const modsum = new SequenceTaskBatcher({
    kind: "modsum",
    vocabSize: V,
    k,
    seqLen: T,
    batchSize: 4,
    seed: 1,
  });
  assert.equal(modsum.vocabSize, V);
  for (const { tokens, targets } of draw(modsum, 3)) {
    for (let b = 0; b < 4; b++) {
      const x = tokens!.subarray(b * T, b * T + T), y = targets.subarray(b * T, b * T + T);
      for (let t = 0; t < T; t++) {
        if (t < k - 1) assert.equal(y[t], -1);
        else assert.equal(y[t], (x[t] + x[t - 1] + x[t - 2]) % V);
        if (t + 1 < T) assert.ok(y[t] === -1 || y[t] === x[t + 1]);
      }
    }
  }
  for (const kind of ["copy", "reverse"] as const) {
    const batcher = new SequenceTaskBatcher({ kind, vocabSize: V, seqLen: T, batchSize: 2, seed: 2 });
    assert.equal(batcher.vocabSize, V + 1);
    const { tokens, targets } = batcher.next();
    const a = [...tokens!.subarray(0, 6)];
    assert.equal(tokens![6], V, "separator");
    assert.deepEqual([...targets.subarray(0, 6)], new Array(6).fill(-1));
    assert.deepEqual([...targets.subarray(6, 12)], kind === "copy" ? a : a.toReversed());
  }
  const make = () =>
    new SequenceTaskBatcher({ kind: "modsum", vocabSize: V, k, seqLen: T, batchSize: 4, seed: 7 });
  assert.deepEqual(draw(make(), 3), draw(make(), 3));
  checkResume(make, 2, 3);
  assert.throws(
    () => new SequenceTaskBatcher({ kind: "copy", vocabSize: 4, seqLen: 7, batchSize: 1 }),
    /even/,
  );
});
