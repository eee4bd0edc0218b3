// Safetensors checkpoints: round trips, the exact byte layout, strict rejection of malformed
// files (hand-made cases and seeded fuzzing), and atomic writes.

import assert from "node:assert/strict";
import {
  type CheckpointData,
  CheckpointError,
  type CheckpointTensor,
  decodeSafetensors,
  encodeSafetensors,
} from "../src/train/safetensors.ts";
import { readCheckpoint, writeCheckpoint } from "../src/train/checkpoint.ts";
import { Rng } from "../src/nn/rng.ts";

const UTF8 = new TextEncoder();

function sample(): CheckpointData {
  const params = new Float32Array([1.5, -0, NaN, Infinity, -Infinity, 1e-45, 3.4e38, -2]);
  return {
    tensors: Object.fromEntries([
      ["params", { dtype: "F32", shape: [2, 4], data: params }],
      ["adam.m", { dtype: "F32", shape: [3], data: new Float32Array([0.25, 0.5, 0.75]) }],
      ["step", { dtype: "U32", shape: [], data: new Uint32Array([4294967295]) }],
      ["labels", { dtype: "I32", shape: [1, 3], data: new Int32Array([-2147483648, 0, 7]) }],
      ["empty", { dtype: "F32", shape: [0, 5], data: new Float32Array(0) }],
      ["empty2", { dtype: "I32", shape: [3, 0], data: new Int32Array(0) }],
      ["bloc.τ名", { dtype: "U32", shape: [2], data: new Uint32Array([1, 2]) }],
      ["__proto__", { dtype: "I32", shape: [1], data: new Int32Array([5]) }], // no prototype games
    ]),
    metadata: {
      config: JSON.stringify({ dModel: 8, name: "ünïcødé ✓ 🚀" }),
      step: "1200",
      rng: "2654435769",
      "clé 🔑": "",
    },
  };
}

function bytesOf(t: CheckpointTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function assertSameCheckpoint(got: CheckpointData, want: CheckpointData): void {
  assert.deepEqual(Object.keys(got.tensors).sort(), Object.keys(want.tensors).sort());
  for (const [name, w] of Object.entries(want.tensors)) {
    const g = got.tensors[name];
    assert.ok(Object.hasOwn(got.tensors, name), name);
    assert.equal(g.dtype, w.dtype, name);
    assert.deepEqual(g.shape, w.shape, name);
    assert.equal(g.data.constructor, w.data.constructor, name);
    assert.deepEqual(bytesOf(g), bytesOf(w), `${name}: bit-exact data`); // NaN and -0 included
  }
  assert.deepEqual(got.metadata, want.metadata);
  assert.equal(Object.getPrototypeOf(got.tensors), Object.prototype);
}

/** Builds a file from a raw header string, a data buffer and optionally a forged length. */
function rawFile(
  header: string | Uint8Array,
  buffer: Uint8Array = new Uint8Array(0),
  length?: bigint,
): Uint8Array {
  const json = typeof header === "string" ? UTF8.encode(header) : header;
  const out = new Uint8Array(8 + json.length + buffer.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(buffer, 8 + json.length);
  return out;
}

function assertRejects(bytes: Uint8Array, pattern: RegExp, label: string): void {
  assert.throws(
    () => decodeSafetensors(bytes, "bad.safetensors"),
    (error: unknown) => {
      assert.ok(error instanceof CheckpointError, `${label}: ${error}`);
      assert.match(error.message, /bad\.safetensors/, label);
      assert.match(error.message, pattern, label);
      return true;
    },
    label,
  );
}

Deno.test("safetensors round trip: dtypes, scalar, zero-size tensors, special floats, unicode", () => {
  const data = sample();
  const decoded = decodeSafetensors(encodeSafetensors(data));
  assertSameCheckpoint(decoded, data);
  const none = decodeSafetensors(encodeSafetensors({ tensors: {}, metadata: {} }));
  assert.deepEqual(none, { tensors: {}, metadata: {} });
});

Deno.test("safetensors encodes only the viewed part of a typed array, and decoding copies", () => {
  const backing = new Float32Array([9, 1, 2, 3, 9]);
  const bytes = encodeSafetensors({
    tensors: { v: { dtype: "F32", shape: [3], data: backing.subarray(1, 4) } },
    metadata: {},
  });
  const decoded = decodeSafetensors(bytes);
  assert.deepEqual(Array.from(decoded.tensors.v.data), [1, 2, 3]);
  bytes.fill(0);
  assert.deepEqual(Array.from(decoded.tensors.v.data), [1, 2, 3]);
});

Deno.test("safetensors byte layout matches the format on a hand-computed example", () => {
  const bytes = encodeSafetensors({
    tensors: {
      a: { dtype: "I32", shape: [], data: new Int32Array([-1]) },
      b: { dtype: "F32", shape: [2], data: new Float32Array([1, -2]) },
    },
    metadata: { k: "v" },
  });
  // 132 bytes of JSON padded with 4 spaces to 136 = 0x88; F32 sorts before I32, as the reference
  // writer orders them (the same bytes come out of Python's safetensors 0.8.0 `save`).
  const header = '{"__metadata__":{"k":"v"},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"a":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}    ';
  const want = [
    ...[0x88, 0, 0, 0, 0, 0, 0, 0],
    ...UTF8.encode(header),
    ...[0x00, 0x00, 0x80, 0x3f], // 1.0f
    ...[0x00, 0x00, 0x00, 0xc0], // -2.0f
    ...[0xff, 0xff, 0xff, 0xff], // -1
  ];
  assert.equal(header.length, 136);
  assert.deepEqual(Array.from(bytes), want);
});

Deno.test("safetensors decodes what other writers may produce: odd padding, unaligned buffer", () => {
  const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   '; // 59 bytes: unaligned
  const buffer = new Uint8Array(new Float32Array([0.5, -3]).buffer);
  const decoded = decodeSafetensors(rawFile(header, buffer));
  assert.deepEqual(Array.from(decoded.tensors.x.data), [0.5, -3]);
  assert.deepEqual(decoded.metadata, {});
});

const F32_1 = '"dtype":"F32","shape":[1]';
const malformed: [string, Uint8Array, RegExp][] = [
  ["empty file", new Uint8Array(0), /0 bytes, shorter than the 8-byte/],
  ["7-byte file", new Uint8Array(7), /7 bytes, shorter than the 8-byte/],
  ["length past the end", rawFile("{}", new Uint8Array(4), 100n), /header length 100 runs past the end/],
  ["absurd length", rawFile("{}", undefined, 1n << 63n), /exceeds the 100000000-byte limit/],
  ["zero length", rawFile("", undefined), /must be a JSON object starting with '\{'/],
  ["not UTF-8", rawFile(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), /not valid UTF-8/],
  ["not JSON", rawFile('{"a":'), /not valid JSON/],
  ["array header", rawFile("[1]"), /must be a JSON object/],
  ["leading space", rawFile(" {}"), /starting with '\{'/],
  ["entry not an object", rawFile('{"a":5}'), /tensor "a": entry must be an object, got 5/],
  ["missing fields", rawFile('{"a":{"dtype":"F32"}}'), /tensor "a": entry is missing shape, data_offsets/],
  [
    "unknown field",
    rawFile(`{"a":{${F32_1},"data_offsets":[0,4],"offset":0}}`, new Uint8Array(4)),
    /unknown field\(s\) offset/,
  ],
  [
    "unknown dtype",
    rawFile('{"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)),
    /unsupported dtype "Q7"/,
  ],
  [
    "unsupported dtype",
    rawFile('{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}', new Uint8Array(8)),
    /unsupported dtype "F64" \(gradscope reads F32, I32, U32\)/,
  ],
  [
    "shape not array",
    rawFile('{"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}'),
    /shape must be an array/,
  ],
  [
    "negative dim",
    rawFile('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'),
    /shape must hold non-negative integers, got -1/,
  ],
  ["fractional dim", rawFile('{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,0]}}'), /got 1.5/],
  ["string dim", rawFile('{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}'), /got "1"/],
  [
    "huge dim",
    rawFile('{"a":{"dtype":"F32","shape":[1e300],"data_offsets":[0,4]}}'),
    /non-negative integers/,
  ],
  ["one offset", rawFile(`{"a":{${F32_1},"data_offsets":[0]}}`), /data_offsets must be two non-negative/],
  ["negative offset", rawFile(`{"a":{${F32_1},"data_offsets":[-4,0]}}`), /two non-negative integers/],
  ["offsets not array", rawFile(`{"a":{${F32_1},"data_offsets":"0-4"}}`), /two non-negative integers/],
  [
    "begin after end",
    rawFile(`{"a":{${F32_1},"data_offsets":[8,4]}}`, new Uint8Array(8)),
    /begin 8 is after end 4/,
  ],
  [
    "end past buffer",
    rawFile(`{"a":{${F32_1},"data_offsets":[0,4]}}`, new Uint8Array(3)),
    /end 4 is past the 3-byte data buffer/,
  ],
  [
    "size mismatch",
    rawFile('{"a":{"dtype":"I32","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)),
    /span 4 bytes but 2 I32 elements need 8/,
  ],
  [
    "overlap",
    rawFile(
      `{"a":{${F32_1},"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}`,
      new Uint8Array(10),
    ),
    /tensor "b" overlaps tensor "a"/,
  ],
  [
    "same bytes twice",
    rawFile(`{"a":{${F32_1},"data_offsets":[0,4]},"b":{${F32_1},"data_offsets":[0,4]}}`, new Uint8Array(4)),
    /overlaps/,
  ],
  [
    "gap",
    rawFile(`{"a":{${F32_1},"data_offsets":[0,4]},"b":{${F32_1},"data_offsets":[8,12]}}`, new Uint8Array(12)),
    /4 unused bytes between tensor "a" and tensor "b"/,
  ],
  [
    "leading gap",
    rawFile(`{"a":{${F32_1},"data_offsets":[4,8]}}`, new Uint8Array(8)),
    /4 unused bytes between the start of the buffer and tensor "a"/,
  ],
  [
    "trailing bytes",
    rawFile(`{"a":{${F32_1},"data_offsets":[0,4]}}`, new Uint8Array(9)),
    /5 trailing bytes after the last tensor/,
  ],
  ["metadata array", rawFile('{"__metadata__":["a"]}'), /"__metadata__" must be an object of strings/],
  ["metadata null", rawFile('{"__metadata__":null}'), /must be an object of strings, got null/],
  [
    "metadata number value",
    rawFile('{"__metadata__":{"step":3}}'),
    /value for "step" must be a string, got 3/,
  ],
];

for (const [label, bytes, pattern] of malformed) {
  Deno.test(`safetensors rejects a malformed file: ${label}`, () => assertRejects(bytes, pattern, label));
}

Deno.test("safetensors refuses to encode inconsistent data, naming the tensor", () => {
  const cases: [CheckpointData, RegExp][] = [
    [
      { tensors: { w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }, metadata: {} },
      /4 elements/,
    ],
    [
      { tensors: { w: { dtype: "I32", shape: [1], data: new Float32Array(1) } }, metadata: {} } as never,
      /Int32Array/,
    ],
    [
      { tensors: { w: { dtype: "F32", shape: [-1], data: new Float32Array(0) } }, metadata: {} },
      /non-negative/,
    ],
    [
      { tensors: { w: { dtype: "F16", shape: [1], data: new Float32Array(1) } }, metadata: {} } as never,
      /"F16"/,
    ],
    [
      { tensors: { __metadata__: { dtype: "F32", shape: [], data: new Float32Array(1) } }, metadata: {} },
      /reserved/,
    ],
    [{ tensors: {}, metadata: { step: 3 } } as never, /metadata "step" must be a string/],
  ];
  for (const [data, pattern] of cases) {
    assert.throws(
      () => encodeSafetensors(data),
      (e: unknown) => e instanceof CheckpointError && pattern.test(e.message),
    );
  }
});

/** Everything a decoded checkpoint promises, checked without trusting the decoder. */
function assertConsistent(data: CheckpointData): void {
  const arrays = { F32: Float32Array, I32: Int32Array, U32: Uint32Array };
  for (const [name, t] of Object.entries(data.tensors)) {
    assert.ok(t.data instanceof arrays[t.dtype], name);
    assert.ok(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0), name);
    assert.equal(t.shape.reduce((a, d) => a * d, 1), t.data.length, name);
  }
  assert.ok(Object.values(data.metadata).every((v) => typeof v === "string"));
}

const SNIPPETS = [
  "",
  "}",
  "{",
  "]",
  "[",
  ",",
  ":",
  '"',
  "null",
  "-1",
  "1e999",
  "0.5",
  "[]",
  "{}",
  '"F64"',
  '"U32"',
  '"dtype"',
  '"shape"',
  '"data_offsets"',
  '"__metadata__"',
  "[0,4]",
  "[4,0]",
  "[0,9999999]",
  "\\u0000",
  "\u00ff",
];
const WEIRD = [
  null,
  -1,
  1.5,
  2 ** 60,
  "F32",
  "",
  [],
  {},
  [0],
  [1, 2, 3],
  [-1, 4],
  ["0", "4"],
  [0, 1e300],
  true,
];

/** One seeded corruption of a valid file. */
function corrupt(valid: Uint8Array, rng: Rng): Uint8Array {
  const int = (n: number) => Math.floor(rng.uniform() * n);
  const pick = <T>(xs: T[]): T => xs[int(xs.length)];
  const headerLength = Number(new DataView(valid.buffer).getBigUint64(0, true));
  const headerText = new TextDecoder().decode(valid.subarray(8, 8 + headerLength));
  const body = valid.subarray(8 + headerLength);
  const out = valid.slice();
  switch (int(6)) {
    case 0: // flip a few header bytes
      for (let i = 1 + int(3); i > 0; i--) out[8 + int(headerLength)] = int(256);
      return out;
    case 1: // truncate
      return valid.slice(0, int(valid.length));
    case 2: { // forge the length prefix
      const forged = pick([BigInt(headerLength + int(33) - 16), BigInt(int(2 ** 32)), 1n << BigInt(int(64))]);
      new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, forged), true);
      return out;
    }
    case 3: { // splice the JSON text, keeping the length prefix honest
      const at = int(headerText.length);
      const spliced = headerText.slice(0, at) + pick(SNIPPETS) + headerText.slice(at + int(12));
      return rawFile(spliced, body);
    }
    case 4: { // replace one field of one entry with a wrong-typed or out-of-range value
      const header = JSON.parse(headerText);
      const entry = header[pick(Object.keys(header))];
      entry[pick([...Object.keys(entry), "extra"])] = pick(WEIRD);
      return rawFile(JSON.stringify(header), body);
    }
    default: // data bytes are opaque: any value must still decode
      if (body.length > 0) out[8 + headerLength + int(body.length)] = int(256);
      return out;
  }
}

Deno.test("safetensors fuzz: corrupted files decode consistently or throw CheckpointError", () => {
  const valid = encodeSafetensors(sample());
  const rng = new Rng(20240611);
  let accepted = 0;
  let rejected = 0;
  for (let i = 0; i < 600; i++) {
    const bytes = corrupt(valid, rng);
    let decoded: CheckpointData;
    try {
      decoded = decodeSafetensors(bytes, `fuzz#${i}`);
    } catch (error) {
      assert.ok(error instanceof CheckpointError, `case ${i}: ${error}`);
      assert.match(error.message, new RegExp(`fuzz#${i}: `));
      rejected++;
      continue;
    }
    assertConsistent(decoded);
    accepted++;
  }
  assert.ok(accepted > 20 && rejected > 200, `accepted ${accepted}, rejected ${rejected}`);
});

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gradscope_checkpoint_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

const oldData: CheckpointData = {
  tensors: { params: { dtype: "F32", shape: [4], data: new Float32Array([1, 2, 3, 4]) } },
  metadata: { step: "1" },
};

Deno.test("writeCheckpoint writes a readable file and leaves no temporary file", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/run.safetensors`;
    await writeCheckpoint(path, sample());
    assertSameCheckpoint(await readCheckpoint(path), sample());
    assert.deepEqual(await Deno.readFile(path), encodeSafetensors(sample()));
    await writeCheckpoint(path, oldData); // over an existing file
    assertSameCheckpoint(await readCheckpoint(path), oldData);
    assert.deepEqual(await listDir(dir), ["run.safetensors"]);
  }));

Deno.test("writeCheckpoint: a failure before the rename keeps the old checkpoint whole", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/run.safetensors`;
    await writeCheckpoint(path, oldData);
    const oldBytes = await Deno.readFile(path);
    const crash = new Error("simulated crash between the temp write and the rename");
    await assert.rejects(writeCheckpoint(path, sample(), { rename: () => Promise.reject(crash) }), crash);
    assert.deepEqual(await Deno.readFile(path), oldBytes);
    assert.deepEqual(await listDir(dir), ["run.safetensors"]);
  }));

Deno.test("writeCheckpoint: at rename time the temp file is complete and the target is still old", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/run.safetensors`;
    await writeCheckpoint(path, oldData);
    let renamed = 0;
    const rename = async (from: string, to: string) => {
      assert.equal(to, path);
      assert.ok(from.startsWith(`${dir}/`), "temp file in the target's directory");
      assertSameCheckpoint(await readCheckpoint(from), sample());
      assertSameCheckpoint(await readCheckpoint(to), oldData);
      await Deno.rename(from, to);
      renamed++;
    };
    await writeCheckpoint(path, sample(), { rename });
    assert.equal(renamed, 1);
    assertSameCheckpoint(await readCheckpoint(path), sample());
    assert.deepEqual(await listDir(dir), ["run.safetensors"]);
  }));

Deno.test("writeCheckpoint rejects bad data and a missing directory without touching the target", () =>
  withTempDir(async (dir) => {
    const path = `${dir}/run.safetensors`;
    const bad = {
      tensors: { w: { dtype: "F32", shape: [2], data: new Float32Array(1) } },
      metadata: {},
    } as const;
    await assert.rejects(
      writeCheckpoint(path, bad as unknown as CheckpointData),
      (e: unknown) =>
        e instanceof CheckpointError && e.message.includes(path) && /tensor "w"/.test(e.message),
    );
    const missing = `${dir}/no/such/dir/run.safetensors`;
    await assert.rejects(
      writeCheckpoint(missing, oldData),
      (e: unknown) =>
        e instanceof CheckpointError && e.message.includes(missing) && /does not exist/.test(e.message),
    );
    assert.deepEqual(await listDir(dir), []);
  }));

Deno.test("readCheckpoint names the path of a missing or malformed file", () =>
  withTempDir(async (dir) => {
    const missing = `${dir}/absent.safetensors`;
    await assert.rejects(
      readCheckpoint(missing),
      (e: unknown) => e instanceof CheckpointError && e.message.includes(`${missing}: file not found`),
    );
    const truncated = `${dir}/truncated.safetensors`;
    await Deno.writeFile(truncated, encodeSafetensors(sample()).subarray(0, 100));
    await assert.rejects(
      readCheckpoint(truncated),
      (e: unknown) =>
        e instanceof CheckpointError && e.message.includes(truncated) && /past the end/.test(e.message),
    );
  }));
