/**
 * The library works when imported by URL, without this repository's import map: serve the
 * repository on 127.0.0.1 and import mod.ts from a fresh Deno process.
 */
import assert from "node:assert/strict";
import { extname, join, normalize } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const TYPES: Record<string, string> = { ".ts": "application/typescript", ".wgsl": "text/plain" };

function serveRepository(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = normalize(decodeURIComponent(new URL(request.url).pathname));
    if (path.includes("..")) return new Response("forbidden", { status: 403 });
    try {
      const body = await Deno.readFile(join(ROOT, path));
      return new Response(body, { headers: { "content-type": TYPES[extname(path)] ?? "text/plain" } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
}

Deno.test("mod.ts imported by URL runs a kernel in a fresh process", async () => {
  const server = serveRepository();
  const host = `127.0.0.1:${server.addr.port}`;
  const script = `
    import { getDevice, matmul, Tensor } from "http://${host}/mod.ts";
    const gpu = await getDevice();
    const a = Tensor.from(gpu, [2, 3], [1, 2, 3, 4, 5, 6]);
    const b = Tensor.from(gpu, [3, 1], [1, 0, -1]);
    const c = new Tensor(gpu, [2, 1]);
    await matmul(gpu, { a, b, c, M: 2, N: 1, K: 3 });
    console.log(JSON.stringify([...await c.read()]));
    gpu.destroy();
  `;
  try {
    const command = new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-config", `--allow-import=${host}`, "--allow-env", "--reload", script],
      cwd: Deno.makeTempDirSync(),
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await command.output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(JSON.parse(out.trim().split("\n").at(-1)!), [-2, -2]);
  } finally {
    await server.shutdown();
  }
});
