// Deterministic column sums of a row-major [rows, n] matrix (no float atomics).
// Invocation (column c, chunk k) sums rows [k·rows_per_chunk, min(rows, (k+1)·rows_per_chunk))
// of column c in row order and writes out[k·n + c]. Neighbouring invocations read neighbouring
// columns, so every row read is coalesced. The host chains passes (rows -> chunks -> 1) so
// the final order of additions is fixed for a given shape.

struct Params {
  rows: u32,
  n: u32,
  rows_per_chunk: u32,
  // 1: out += sum (bias gradients accumulated across layers or micro-batches); 0: out = sum.
  accumulate: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn column_sum(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let k = gid.y;
  if (c >= p.n) { return; }
  let start = k * p.rows_per_chunk;
  let end = min(p.rows, start + p.rows_per_chunk);
  var acc = 0.0;
  for (var r = start; r < end; r++) {
    acc += x[r * p.n + c];
  }
  let i = k * p.n + c;
  // accumulate == 0 never reads `out`: it may hold NaN from an earlier use.
  if (p.accumulate != 0u) { acc += out[i]; }
  out[i] = acc;
}
