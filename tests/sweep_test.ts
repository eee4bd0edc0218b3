/**
 * Sweeps: grid expansion and names, spec errors, sharding (flag and Slurm variables), skipping
 * ended runs, surviving a SIGKILL mid-run (the CLI as a child process), and the learning-rate
 * tuner on synthetic results.
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "../src/train/checkpoint.ts";
import { readJsonl } from "../src/train/log.ts";
import { bestLearningRates, learningRateTable, tuneLearningRates } from "../src/train/lr_tuner.ts";
import type { RunSummary } from "../src/train/run_dir.ts";
import type { RunConfig } from "../src/train/config.ts";
import {
  expandSweep,
  parseShard,
  readSweepResults,
  resolveShard,
  runName,
  runSweep,
  shardFromEnv,
  shardRuns,
  type SweepSpec,
  SweepSpecError,
  type TrainFunction,
} from "../src/train/sweep.ts";

/** A model and task small enough that a run of a few dozen steps takes about a second. */
const TINY: Record<string, unknown> = {
  model: {
    dModel: 8,
    nHeads: 2,
    nLayers: 1,
    dMlp: 16,
    seqLen: 8,
    norm: "pre",
    causal: true,
    input: { kind: "tokens", vocabSize: 11 },
    head: { kind: "lm", tied: false },
  },
  data: { dataset: "sequence", kind: "copy", vocab_size: 10, batch_size: 4 },
  optimizer: { name: "adam", lr: 0.01 },
  steps: 12,
  metrics_every: 4,
};

function spec(grid: SweepSpec["grid"], base: Record<string, unknown> = TINY): SweepSpec {
  return { name: "t", base, grid };
}

/** A stand-in for `train` that writes what the loop would and counts its calls. */
function fakeTrainer(lossOf: (config: RunConfig) => number | null = () => 1) {
  const calls: string[] = [];
  const train: TrainFunction = async (config, { dir }) => {
    calls.push(config.name!);
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    if (config.optimizer.lr > 1) throw new Error("boom");
    const loss = lossOf(config);
    const summary = summaryOf(config.name!, loss === null ? "diverged" : "finished", loss);
    await Deno.writeTextFile(`${dir}/summary.json`, JSON.stringify(summary));
    return summary;
  };
  return { train, calls };
}

function summaryOf(run: string, status: RunSummary["status"], final_loss: number | null): RunSummary {
  return { run, status, steps: 12, final_loss, eval: null, time_s: 1, train_s: 1, tokens_per_s: 1 };
}

Deno.test("grid expands in nested-loop order (last key fastest) with stable names", () => {
  const sweep = expandSweep(
    spec({ "optimizer.name": ["adam", "sgd"], "optimizer.lr": [0.001, 0.01], seed: [1, 2] }),
  );
  assert.deepEqual(sweep.runs.map((r) => r.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(sweep.runs.slice(0, 3).map((r) => r.name), [
    "optimizer.name=adam,optimizer.lr=0.001,seed=1",
    "optimizer.name=adam,optimizer.lr=0.001,seed=2",
    "optimizer.name=adam,optimizer.lr=0.01,seed=1",
  ]);
  assert.equal(sweep.runs[7].name, "optimizer.name=sgd,optimizer.lr=0.01,seed=2");
  const last = sweep.runs[7].config;
  assert.deepEqual([last.optimizer.name, last.optimizer.lr, last.seed, last.name], [
    "sgd",
    0.01,
    2,
    sweep.runs[7].name,
  ]);
  assert.deepEqual(sweep.runs[0].values, { "optimizer.name": "adam", "optimizer.lr": 0.001, seed: 1 });
  // The base is not mutated and the expansion is deterministic.
  assert.equal((TINY.optimizer as { lr: number }).lr, 0.01);
  assert.deepEqual(expandSweep(spec({ seed: [1, 2] })).runs.map((r) => r.name), ["seed=1", "seed=2"]);
  assert.deepEqual(expandSweep(spec({})).runs.map((r) => r.name), ["base"]);
});

Deno.test("run names are file-system safe, and long ones stay unique and short", () => {
  assert.equal(runName({ "optimizer.betas": [0.9, 0.95] }), "optimizer.betas=_0.9,0.95_");
  assert.equal(runName({ init_from: "runs/a b/x" }), "init_from=runs_a_b_x");
  assert.equal(runName({ "optimizer.lr": 1e-7 }), "optimizer.lr=1e-7");
  const long = (tag: string) => runName({ init_from: `${"x".repeat(300)}${tag}` });
  assert.equal(long("a").length, 200);
  assert.notEqual(long("a"), long("b"));
  assert.equal(long("a"), long("a"));
  // Whole objects as grid values, including creating a section the base lacks.
  const sweep = expandSweep(spec({
    "optimizer.schedule": [{ kind: "constant", warmup_steps: 2 }],
    "per_example_clip.max_norm": [1],
  }));
  assert.equal(sweep.runs[0].config.optimizer.schedule?.kind, "constant");
  assert.equal(sweep.runs[0].config.per_example_clip?.max_norm, 1);
  // A numeric segment indexes an array.
  const betas = expandSweep(spec({ "optimizer.betas.1": [0.95, 0.99] }, {
    ...TINY,
    optimizer: { name: "adam", lr: 0.01, betas: [0.9, 0.999] },
  }));
  assert.deepEqual(betas.runs.map((r) => r.config.optimizer.betas), [[0.9, 0.95], [0.9, 0.99]]);
  assert.deepEqual(betas.runs.map((r) => r.name), ["optimizer.betas.1=0.95", "optimizer.betas.1=0.99"]);
});

Deno.test("invalid specs are rejected before anything runs, every problem listed", () => {
  const issues = (bad: unknown): readonly string[] => {
    try {
      expandSweep(bad as SweepSpec);
    } catch (error) {
      assert.ok(error instanceof SweepSpecError, String(error));
      return error.issues;
    }
    assert.fail("expected a SweepSpecError");
  };
  const one = issues(spec({ "optimizer.lrr": [0.1], "optimizer.lr": [0.1, -1] }));
  assert.ok(one.some((l) => /optimizer\.lrr: unknown key/.test(l)), one.join("\n"));
  assert.ok(
    one.some((l) => /^run optimizer\.lrr=0\.1,optimizer\.lr=-1: optimizer\.lr: /.test(l)),
    one.join("\n"),
  );
  assert.ok(
    issues(spec({ "model.norm": ["pre", "sideways"] })).some((l) =>
      /model\.norm=sideways: model\.norm/.test(l)
    ),
  );
  assert.ok(issues(spec({ "seed.x": [1] })).some((l) => l.startsWith("run seed.x=1: seed: ")));
  assert.ok(issues(spec({ "steps.x": [1] }))[0].includes("steps is 12, not an object"));
  assert.ok(issues(spec({ "optimizer.lr": [] }))[0].includes("non-empty list"));
  assert.ok(issues(spec({ seed: [1, 1] }))[0].includes("repeats"));
  assert.ok(
    issues(spec({ "optimizer": [{ name: "sgd", lr: 1 }], "optimizer.lr": [1] }))[0].includes("overlaps"),
  );
  assert.ok(issues(spec({ "optimizer..lr": [1] }))[0].includes("empty segment"));
  assert.ok(issues(spec({ name: ["a", "b"] }))[0].includes("name cannot vary"));
  assert.ok(issues(spec({ "optimizer.lr": [NaN] }))[0].includes("not a JSON value"));
  assert.ok(issues(spec({ "init_from": ["a/b", "a_b"] })).some((l) => l.includes("same name")));
  assert.deepEqual(issues({ base: {}, grid: {}, out: "x" }), [
    "out: unknown key (expected name, base, grid)",
  ]);
  assert.equal(issues([]).length, 1);
  assert.ok(issues({ base: TINY, grid: [] })[0].includes("grid"));
});

Deno.test("shards partition the runs, from --shard or the Slurm array variables", () => {
  const runs = expandSweep(spec({ "optimizer.lr": [0.001, 0.003, 0.01], seed: [0, 1, 2] })).runs;
  for (let count = 1; count <= 10; count++) {
    const parts = Array.from({ length: count }, (_, index) => shardRuns(runs, { index, count }));
    const names = parts.flat().map((r) => r.name);
    assert.equal(names.length, runs.length, "disjoint");
    assert.deepEqual(new Set(names), new Set(runs.map((r) => r.name)), "union is every run");
    parts.forEach((part) => assert.deepEqual(part, [...part].sort((a, b) => a.index - b.index)));
  }
  assert.deepEqual(parseShard("2/4"), { index: 2, count: 4 });
  for (const bad of ["4/4", "-1/4", "1/0", "1", "a/b", "1.5/4"]) {
    assert.throws(() => parseShard(bad), /bad shard/);
  }
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(shardFromEnv(env({})), null);
  assert.deepEqual(shardFromEnv(env({ SLURM_ARRAY_TASK_ID: "3", SLURM_ARRAY_TASK_COUNT: "4" })), {
    index: 3,
    count: 4,
  });
  // --array=1-4 and --array=0-6:2 number their tasks differently; both give shards 0..3.
  const oneBased = [1, 2, 3, 4].map((id) =>
    shardFromEnv(
      env({ SLURM_ARRAY_TASK_ID: `${id}`, SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_MIN: "1" }),
    )!.index
  );
  assert.deepEqual(oneBased, [0, 1, 2, 3]);
  const stepped = [0, 2, 4, 6].map((id) =>
    shardFromEnv(env({
      SLURM_ARRAY_TASK_ID: `${id}`,
      SLURM_ARRAY_TASK_COUNT: "4",
      SLURM_ARRAY_TASK_MIN: "0",
      SLURM_ARRAY_TASK_STEP: "2",
    }))!.index
  );
  assert.deepEqual(stepped, [0, 1, 2, 3]);
  assert.throws(() => shardFromEnv(env({ SLURM_ARRAY_TASK_ID: "1" })), /set together/);
  assert.throws(() => shardFromEnv(env({ SLURM_ARRAY_TASK_ID: "4", SLURM_ARRAY_TASK_COUNT: "4" })), /Slurm/);
  const slurm = env({ SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "2" });
  assert.deepEqual(resolveShard(undefined, slurm), { index: 1, count: 2 });
  assert.deepEqual(resolveShard("0/3", slurm), { index: 0, count: 3 }, "the flag wins");
  assert.deepEqual(resolveShard(undefined, env({})), { index: 0, count: 1 });
});

Deno.test("a rerun skips ended runs; diverged and failed runs do not stop the sweep", async () => {
  const out = await Deno.makeTempDir();
  try {
    const sweep = expandSweep(spec({ "optimizer.lr": [0.01, 0.1, 2], seed: [0, 1] }));
    const fake = fakeTrainer((c) => (c.optimizer.lr === 0.1 && c.seed === 1 ? null : 1));
    const first = await runSweep(sweep, { out, train: fake.train });
    assert.deepEqual(first.outcomes.map((o) => o.status), [
      "finished",
      "finished",
      "finished",
      "diverged",
      "failed",
      "failed",
    ]);
    assert.equal(first.outcomes[4].error, "boom");
    assert.equal(fake.calls.length, 6);
    const mtime = async () =>
      (await Deno.stat(`${out}/optimizer.lr=0.01,seed=0/summary.json`)).mtime?.getTime();
    const before = await mtime();
    const second = await runSweep(sweep, { out, train: fake.train });
    assert.deepEqual(
      fake.calls.slice(6),
      [sweep.runs[4].name, sweep.runs[5].name],
      "only the failed runs run again",
    );
    assert.deepEqual(second.outcomes.map((o) => o.skipped), [true, true, true, true, false, false]);
    assert.equal(second.outcomes[3].status, "diverged");
    assert.equal(await mtime(), before);
    // The record of the sweep is there for every shard to share.
    const record = JSON.parse(await Deno.readTextFile(`${out}/sweep.json`));
    assert.equal(record.runs.length, 6);
    // A changed base is refused before anything runs.
    const changed = expandSweep(
      spec({ "optimizer.lr": [0.01, 0.1, 2], seed: [0, 1] }, { ...TINY, steps: 13 }),
    );
    await assert.rejects(
      runSweep(changed, { out, train: fake.train }),
      /holds a run with a different config/,
    );
    assert.equal(fake.calls.length, 8);
    // Shards only touch their own runs.
    const sharded = await Deno.makeTempDir();
    const sweepOk = expandSweep(spec({ "optimizer.lr": [0.01, 0.1], seed: [0, 1, 2] }));
    const counter = fakeTrainer();
    await runSweep(sweepOk, { out: sharded, train: counter.train, shard: { index: 1, count: 2 } });
    assert.deepEqual(counter.calls, [1, 3, 5].map((i) => sweepOk.runs[i].name));
    await runSweep(sweepOk, { out: sharded, train: counter.train, shard: { index: 0, count: 2 } });
    assert.equal((await readSweepResults(sharded)).filter((r) => r.summary?.status === "finished").length, 6);
    await Deno.remove(sharded, { recursive: true });
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the lr tuner picks the lowest seed-mean final loss, diverged = +inf, ties to the smaller lr", async () => {
  const out = await Deno.makeTempDir();
  try {
    const write = async (optimizer: string, lr: number, seed: number, summary: RunSummary | null) => {
      const name = `optimizer.name=${optimizer},optimizer.lr=${lr},seed=${seed}`;
      const config = expandSweep(spec({ "optimizer.name": [optimizer], "optimizer.lr": [lr], seed: [seed] }))
        .runs[0].config;
      await Deno.mkdir(`${out}/${name}`);
      await Deno.writeTextFile(`${out}/${name}/config.json`, JSON.stringify(config));
      if (summary) await Deno.writeTextFile(`${out}/${name}/summary.json`, JSON.stringify(summary));
    };
    const ok = (loss: number | null) => summaryOf("r", "finished", loss);
    // adam: 0.01 has the best single seed but diverged on the other, so 0.003 wins.
    await write("adam", 0.001, 0, ok(2.0));
    await write("adam", 0.001, 1, ok(2.2));
    await write("adam", 0.003, 0, ok(1.5));
    await write("adam", 0.003, 1, ok(1.7));
    await write("adam", 0.01, 0, ok(0.5));
    await write("adam", 0.01, 1, summaryOf("r", "diverged", 0.1));
    // sgd: an exact tie goes to the smaller lr; a null (non-finite) final loss counts as +inf.
    await write("sgd", 0.1, 0, ok(1.25));
    await write("sgd", 0.1, 1, ok(1.75));
    await write("sgd", 0.3, 0, ok(1.5));
    await write("sgd", 0.3, 1, ok(1.5));
    await write("sgd", 1, 0, ok(null));
    // A run that has not ended is pending and left out of the mean.
    await write("sgd", 1, 1, null);
    const best = await tuneLearningRates(out);
    assert.deepEqual(
      best.map(({ optimizer, lr, mean_final_loss, runs }) => ({ optimizer, lr, mean_final_loss, runs })),
      [
        { optimizer: "adam", lr: 0.003, mean_final_loss: 1.6, runs: 2 },
        { optimizer: "sgd", lr: 0.1, mean_final_loss: 1.5, runs: 2 },
      ],
    );
    const table = learningRateTable(await readSweepResults(out));
    assert.equal(table.length, 6);
    const adam01 = table.find((p) => p.optimizer === "adam" && p.lr === 0.01)!;
    assert.deepEqual([adam01.mean_final_loss, adam01.diverged], [Infinity, 1]);
    const sgd1 = table.find((p) => p.optimizer === "sgd" && p.lr === 1)!;
    assert.deepEqual([sgd1.mean_final_loss, sgd1.runs, sgd1.pending], [Infinity, 1, 1]);
    assert.ok(table.every((p) => p.setting === ""), "only the optimizer varies besides lr and seed");
    // Every lr of a setting diverged: the smallest is reported, at +inf.
    const diverged = table.filter((p) => p.optimizer === "adam").map((p) => ({
      ...p,
      mean_final_loss: Infinity,
    }));
    assert.deepEqual(bestLearningRates(diverged).map((p) => [p.lr, p.mean_final_loss]), [[0.001, Infinity]]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

const SCRIPT = new URL("../scripts/sweep.ts", import.meta.url).pathname;

/** `scripts/sweep.ts` as a child process, allowed to write only under `root`. */
function sweepCommand(root: string, args: string[], env: Record<string, string> = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", `--allow-write=${root}`, "--allow-env", SCRIPT, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  });
}

async function waitFor(path: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await Deno.stat(path).then(() => true, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.fail(`${path} did not appear within ${timeoutMs} ms`);
}

async function finish(command: Deno.Command): Promise<string> {
  const { code, stdout, stderr } = await command.output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `sweep exited ${code}:\n${text}\n${new TextDecoder().decode(stderr)}`);
  return text;
}

Deno.test({
  name: "a SIGKILLed sweep resumes its interrupted run from the checkpoint (real training, Slurm shards)",
  sanitizeResources: false, // the GPU device of the reference run
  fn: async () => {
    const root = await Deno.makeTempDir();
    try {
      const out = `${root}/out`, specPath = `${root}/spec.json`;
      const base = { ...TINY, steps: 80, metrics_every: 5, checkpoint_every: 5 };
      const sweepSpec = spec({ "optimizer.lr": [0.01, 0.02, 0.03] }, base);
      await Deno.writeTextFile(specPath, JSON.stringify(sweepSpec));
      const sweep = expandSweep(sweepSpec);
      const first = `${out}/${sweep.runs[0].name}`;

      // Kill the whole sweep as soon as the first run has a checkpoint.
      const child = sweepCommand(root, [specPath, "--out", out, "--shard", "0/1"]).spawn();
      await waitFor(`${first}/checkpoint.safetensors`, 30_000);
      child.kill("SIGKILL");
      await child.output();
      const killedAt = Number((await readCheckpoint(`${first}/checkpoint.safetensors`)).metadata.step);
      assert.ok(
        await Deno.stat(`${first}/summary.json`).then(() => false, () => true),
        "killed before the end",
      );
      const lines = (await Deno.readTextFile(`${first}/log.jsonl`)).split("\n");
      const kept = lines.filter((line) => line && JSON.parse(line).step <= killedAt);
      assert.ok(kept.length > 0);

      // Rerun as a two-task Slurm array: task 0 resumes run 0 and runs run 2, task 1 runs run 1.
      for (const id of ["0", "1"]) {
        await finish(sweepCommand(root, [specPath, "--out", out], {
          SLURM_ARRAY_TASK_ID: id,
          SLURM_ARRAY_TASK_COUNT: "2",
        }));
      }
      const results = await readSweepResults(out);
      assert.deepEqual(results.map((r) => r.summary?.status), ["finished", "finished", "finished"]);

      // Resumed, not restarted: the log lines up to the checkpoint are the very ones written
      // before the kill (a restart would rewrite them with new times), and no step repeats.
      const log = await Deno.readTextFile(`${first}/log.jsonl`);
      assert.ok(log.startsWith(kept.join("\n") + "\n"), "the pre-checkpoint log lines survive unchanged");
      const steps = (await readJsonl(`${first}/log.jsonl`)).filter((r) => r.kind === "train").map((r) =>
        r.step
      );
      assert.deepEqual(steps, Array.from({ length: 16 }, (_, i) => 5 * (i + 1)));

      // And bitwise the same trajectory as an uninterrupted run of the same config.
      const reference = `${root}/reference`;
      const quiet = () => {};
      await runSweep(sweep, { out: reference, shard: { index: 0, count: 3 }, onProgress: quiet });
      const losses = async (dir: string) =>
        (await readJsonl(`${dir}/log.jsonl`)).filter((r) => r.kind === "train").map((r) => r.loss);
      assert.deepEqual(await losses(first), await losses(`${reference}/${sweep.runs[0].name}`));
      assert.equal(
        results[0].summary?.final_loss,
        (await readSweepResults(reference))[0].summary?.final_loss,
      );

      // A rerun trains nothing: every summary stays as it was.
      const mtimes = () =>
        Promise.all(results.map(async (r) => (await Deno.stat(`${r.dir}/summary.json`)).mtime?.getTime()));
      const before = await mtimes();
      const text = await finish(sweepCommand(root, [specPath, "--out", out, "--shard", "0/1"]));
      assert.equal(text.match(/already finished, skipped/g)?.length, 3, text);
      assert.deepEqual(await mtimes(), before);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
