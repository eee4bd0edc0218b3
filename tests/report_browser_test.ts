/**
 * The experiment report end to end, on a small fake results directory written to a temp
 * dir: `writeReport` writes report.html, report.md and the figures; then report.html opens
 * in headless Chromium (Debian's `chromium`) with no console errors, every figure rendered,
 * and a screenshot that is not blank. Without Chromium the browser test is skipped and says
 * so.
 *
 * Chromium is driven over the DevTools protocol on a loopback WebSocket, by the few lines
 * below: playwright-core works too, but under Deno it needs --allow-sys and reads /proc
 * (so --allow-all), more than `deno task test` grants.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import pngjs from "npm:pngjs@7.0.0";
import { writeReport } from "../src/plot/report.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});
if (!CHROMIUM) {
  console.warn(
    "report_browser_test: Chromium not found; install it with `apt-get install chromium` to run the browser test",
  );
}

const BLOCKS = ["embed.weight", "blocks.0.attn.qkv.weight", "blocks.0.mlp.fc1.weight", "head.weight"];
const STEPS = Array.from({ length: 11 }, (_, i) => i * 10);

/**
 * Log lines as the training loop writes them: train rows with per-block `grad_norm`
 * objects, eval rows every 50 steps, and `curvature.<block>` flattened keys (the other
 * accepted form). A diverged run logs "NaN" strings, stops, and leaves a torn last line.
 */
function fakeLog(name: string, rate: number, seed: number, diverges: boolean): string {
  const rows = STEPS.filter((step) => !diverges || step <= 70).flatMap((step) => {
    const wobble = 1 + 0.05 * Math.sin(step + seed), decay = Math.exp(-rate * step);
    const loss = diverges && step >= 70 ? "NaN" : 2.3 * decay * wobble;
    const train: Record<string, unknown> = {
      run: name,
      kind: "train",
      step,
      time_s: step * 0.01,
      loss,
      loss_mean: loss,
      lr: 0.1 / (1 + step),
      grad_norm_total: 3 * decay,
      grad_norm: Object.fromEntries(BLOCKS.map((b, k) => [b, (k + 1) * decay * wobble])),
    };
    if (step % 50 !== 0) return [train];
    BLOCKS.forEach((b, k) => (train[`curvature.${b}`] = 0.1 * (k + 1) ** 2 * wobble));
    const evaluation = {
      run: name,
      kind: "eval",
      step,
      time_s: step * 0.01,
      loss: 2.4 * decay,
      accuracy: 1 - decay,
    };
    return [train, evaluation];
  });
  return rows.map((r) => JSON.stringify(r)).join("\n") + (diverges ? '\n{"run":"torn","st' : "\n");
}

/** adam at lr 0.1 × 3 seeds and at lr 0.01 × 2 seeds (finished), signum × 1 seed (diverged). */
async function writeFakeResults(dir: string): Promise<void> {
  const runs: [string, number, number, boolean][] = [
    ["adam", 0.1, 0, false],
    ["adam", 0.1, 1, false],
    ["adam", 0.1, 2, false],
    ["adam", 0.01, 0, false],
    ["adam", 0.01, 1, false],
    ["signum", 0.1, 0, true],
  ];
  for (const [optimizer, lr, seed, diverges] of runs) {
    const name = `${optimizer}_lr${lr.toExponential()}_seed${seed}`, runDir = join(dir, name);
    const rate = lr === 0.1 ? 0.04 : 0.02;
    const config = { name, seed, optimizer: { name: optimizer, lr }, steps: 100, eval_every: 50 };
    await Deno.mkdir(runDir, { recursive: true });
    await Deno.writeTextFile(join(runDir, "config.json"), JSON.stringify(config));
    await Deno.writeTextFile(join(runDir, "log.jsonl"), fakeLog(name, rate, seed, diverges));
    const summary = {
      run: name,
      status: diverges ? "diverged" : "finished",
      steps: diverges ? 70 : 100,
      final_loss: diverges ? null : rate * 10 + seed * 0.01,
      eval: { loss: 0.5 + seed * 0.01, accuracy: 0.9 - seed * 0.01 },
      time_s: 2 + seed,
      train_s: 1.5 + seed,
      tokens_per_s: 1000 - seed,
      ...(diverges ? { diverged: { step: 70, reason: "loss is NaN" } } : {}),
    };
    await Deno.writeTextFile(join(runDir, "summary.json"), JSON.stringify(summary));
  }
}

const GROUPS = ["adam_lr_0_1", "adam_lr_0_01", "signum"];
const EXPECTED_FIGURES = [
  ...["loss", "loss_mean", "lr", "grad_norm_total", "eval_loss", "eval_accuracy"].map((m) => `metric_${m}`),
  ...["grad_norm", "curvature"].flatMap((family) => GROUPS.map((g) => `heatmap_${family}_${g}`)),
  "scatter_grad_norm_curvature",
  // From summary.json's final_loss (its final_ prefix dropped), eval.loss, eval.accuracy, ...
  ...["loss", "eval_loss", "eval_accuracy", "time_s", "train_s", "tokens_per_s"].map((m) => `final_${m}`),
];

/** One report, written once and shared by both tests. */
let report: Promise<{ dir: string; html: string; markdown: string }> | undefined;
function reportOnce() {
  report ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "gradscope_report_" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    await writeFakeResults(dir);
    const files = await writeReport(dir, { title: "Fake experiment" });
    assert.equal(files.runs, 6);
    assert.equal(files.figures.length, 2 * EXPECTED_FIGURES.length);
    return {
      dir,
      html: await Deno.readTextFile(files.html),
      markdown: await Deno.readTextFile(files.markdown),
    };
  })();
  return report;
}

Deno.test("writeReport: html with inline figures and the final-metric table, markdown with PNGs", async () => {
  const { dir, html, markdown } = await reportOnce();
  const figureIds = [...html.matchAll(/<figure class="figure" id="fig-([^"]+)">/g)].map((m) => m[1]);
  assert.deepEqual(figureIds, EXPECTED_FIGURES);
  assert.equal(html.match(/<svg /g)?.length, EXPECTED_FIGURES.length);
  // adam at lr 0.1: final losses 0.4, 0.41, 0.42, so mean 0.41 and sample std 0.01.
  const row = (group: string, cells: string[]) =>
    `<tr><td>${group}</td>${
      cells.map((c) => `<td${/^[\d–]/.test(c) ? ' class="num"' : ""}>${c}</td>`).join("")
    }`;
  assert.ok(html.includes(row("adam lr=0.1", ["3", "finished ×3", "0.41 ± 0.01 (n=3)"])), "adam lr=0.1 row");
  assert.ok(
    html.includes(row("adam lr=0.01", ["2", "finished ×2", "0.205 ± 0.0071 (n=2)"])),
    "adam lr=0.01 row",
  );
  // The diverged run has no final loss (null), so its cell is empty.
  assert.ok(html.includes(row("signum", ["1", "diverged ×1", "–"])), "signum row");
  assert.equal(html.match(/<details class="run">/g)?.length, 6);
  assert.ok(html.includes("&quot;name&quot;: &quot;signum&quot;"), "each run's config is shown");

  const linked = [...markdown.matchAll(/!\[[^\]]*\]\((figures\/[^)]+\.png)\)/g)].map((m) => m[1]);
  assert.deepEqual(linked, EXPECTED_FIGURES.map((slug) => `figures/${slug}.png`));
  for (const path of linked) {
    const png = pngjs.PNG.sync.read(Buffer.from(await Deno.readFile(join(dir, path))));
    assert.equal(png.width, 1280, path);
  }
  assert.ok(markdown.includes("| adam lr=0.1 | 3 | finished ×3 | 0.41 ± 0.01 (n=3) |"), "markdown table");
});

/** A DevTools-protocol connection: commands with replies, and a log of events. */
class DevTools {
  readonly events: { method: string; params: Record<string, unknown> }[] = [];
  #socket: WebSocket;
  #next = 0;
  #pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  #waiters: { method: string; resolve: () => void }[] = [];
  #closed: Promise<void>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    // If the browser goes away, fail whatever is still waiting for a reply.
    this.#closed = new Promise((resolve) => {
      socket.onclose = () => {
        for (const { reject } of this.#pending.values()) reject(new Error("DevTools connection closed"));
        this.#pending.clear();
        resolve();
      };
    });
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.id === undefined) {
        this.events.push(message);
        this.#waiters = this.#waiters.filter((w) => w.method !== message.method || (w.resolve(), false));
        return;
      }
      const pending = this.#pending.get(message.id)!;
      this.#pending.delete(message.id);
      if (message.error) pending.reject(new Error(`${message.error.message} (${message.error.code})`));
      else pending.resolve(message.result);
    };
  }

  static async connect(url: string): Promise<DevTools> {
    const socket = new WebSocket(url);
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    return new DevTools(socket);
  }

  /** Sends `method` (to the page `sessionId` if given) and resolves with its result. */
  send(
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
  ): Promise<Record<string, unknown>> {
    const id = ++this.#next;
    this.#socket.send(JSON.stringify({ id, method, params, sessionId }));
    return new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject }));
  }

  /** Resolves at the next event named `method`. */
  next(method: string): Promise<void> {
    return new Promise((resolve) => this.#waiters.push({ method, resolve }));
  }

  close(): Promise<void> {
    this.#socket.close();
    return this.#closed;
  }
}

/** Rejects after `ms` so a hung browser fails the test instead of stalling the suite. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Chromium writes its DevTools port to `<profile>/DevToolsActivePort` once it listens; give
 * up when it exits first or after `ms`.
 */
async function devToolsUrl(profile: string, browser: Deno.ChildProcess, ms: number): Promise<string> {
  let exited = false;
  browser.status.then(() => (exited = true));
  const deadline = Date.now() + ms;
  while (!exited && Date.now() < deadline) {
    try {
      const [port, path] = (await Deno.readTextFile(join(profile, "DevToolsActivePort"))).trim().split("\n");
      if (port && path) return `ws://127.0.0.1:${port}${path}`;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    exited ? "Chromium exited before opening DevTools" : `Chromium did not open DevTools in ${ms} ms`,
  );
}

interface PageResult {
  /** Width and height of every figure's SVG as laid out. */
  figureSizes: [number, number][];
  /** Rows of the final-metric table. */
  tableRows: number;
  /** document.title */
  title: string;
  /** Console errors, uncaught exceptions and failed loads. */
  problems: string[];
  /** A PNG screenshot of the viewport. */
  screenshot: Uint8Array;
}

/** Opens `url` in a fresh headless Chromium and reports what the page shows. */
async function inspectPage(url: string): Promise<PageResult> {
  const profile = await Deno.makeTempDir({ prefix: "gradscope_chromium_" });
  const browser = new Deno.Command(CHROMIUM!, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let devtools: DevTools | undefined;
  try {
    const cdp = await DevTools.connect(await devToolsUrl(profile, browser, 30_000));
    devtools = cdp;
    const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    for (const domain of ["Page", "Runtime", "Log"]) await cdp.send(`${domain}.enable`, {}, sessionId);
    await cdp.send("Emulation.setDeviceMetricsOverride", {
      width: 1440,
      height: 1000,
      deviceScaleFactor: 1,
      mobile: false,
    }, sessionId);
    const loaded = cdp.next("Page.loadEventFired");
    await cdp.send("Page.navigate", { url }, sessionId);
    await within(30_000, "page load", loaded);
    const evaluate = async (expression: string) =>
      ((await cdp.send("Runtime.evaluate", { expression, returnByValue: true }, sessionId)).result as {
        value: unknown;
      }).value;
    const figureSizes = await evaluate(
      `[...document.querySelectorAll("figure.figure svg")].map((s) => { const b = s.getBoundingClientRect(); return [b.width, b.height]; })`,
    ) as [number, number][];
    const tableRows = await evaluate(`document.querySelectorAll("#final-metrics tbody tr").length`) as number;
    const title = await evaluate("document.title") as string;
    const { data } = await cdp.send("Page.captureScreenshot", { format: "png" }, sessionId) as {
      data: string;
    };
    const problems = cdp.events.flatMap(({ method, params }) => {
      if (method === "Runtime.consoleAPICalled" && (params.type === "error" || params.type === "assert")) {
        return [`console.${params.type}: ${JSON.stringify(params.args)}`];
      }
      if (method === "Runtime.exceptionThrown") {
        const details = params.exceptionDetails as { text: string; exception?: { description?: string } };
        return [`exception: ${details.exception?.description ?? details.text}`];
      }
      const entry = params.entry as { level?: string; text?: string; url?: string } | undefined;
      if (method === "Log.entryAdded" && entry?.level === "error") {
        return [`log: ${entry.text} ${entry.url ?? ""}`];
      }
      return [];
    });
    await cdp.send("Browser.close").catch(() => {});
    return {
      figureSizes,
      tableRows,
      title,
      problems,
      screenshot: Uint8Array.from(atob(data), (c) => c.charCodeAt(0)),
    };
  } finally {
    await devtools?.close();
    try {
      browser.kill();
    } catch {
      // already exited after Browser.close
    }
    await browser.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "report.html in headless Chromium: no console errors, every figure rendered, not blank",
  ignore: !CHROMIUM,
  async fn() {
    const { dir } = await reportOnce();
    const page = await inspectPage(new URL(`file://${join(dir, "report.html")}`).href);
    assert.deepEqual(page.problems, []);
    assert.equal(page.figureSizes.length, EXPECTED_FIGURES.length);
    for (const [w, h] of page.figureSizes) assert.ok(w > 300 && h > 150, `figure rendered at ${w}×${h}`);
    assert.equal(page.tableRows, GROUPS.length);
    assert.equal(page.title, "Fake experiment");

    await Deno.writeFile(join(dir, "screenshot.png"), page.screenshot);
    const shot = pngjs.PNG.sync.read(Buffer.from(page.screenshot));
    assert.deepEqual([shot.width, shot.height], [1440, 1000]);
    let ink = 0;
    const colours = new Set<number>();
    for (let i = 0; i < shot.data.length; i += 4) {
      const [r, g, b] = [shot.data[i], shot.data[i + 1], shot.data[i + 2]];
      if (r + g + b < 600) ink++;
      colours.add((r << 16) | (g << 8) | b);
    }
    assert.ok(ink / (shot.width * shot.height) > 0.02, `screenshot nearly blank: ${ink} inked pixels`);
    assert.ok(colours.size > 50, `screenshot has only ${colours.size} colours`);
  },
});
