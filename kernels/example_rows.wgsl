// Builds per-example operand rows for the per-example weight-gradient kernel:
// copies example b's T rows of `src` to rows [off, off + T) of example b in `dst`
// (dst has `dst_rows` rows per example), or writes one-hot rows of token ids there.

struct Params {
  batch: u32,
  rows: u32,       // T: rows per example in the source
  dst_rows: u32,   // rows per example in the destination
  offset: u32,     // first destination row of each example
  width: u32,      // columns (n for copies, vocabulary size for one-hot)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@group(0) @binding(1) var<storage, read> tokens: array<i32>;

fn dst_index(r: u32, c: u32) -> u32 {
  let b = r / p.rows;
  let t = r % p.rows;
  return (b * p.dst_rows + p.offset + t) * p.width + c;
}

// One invocation per (source row, column); x covers columns, y rows.
@compute @workgroup_size(64, 4)
fn copy_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r = gid.y;
  if (c >= p.width || r >= p.batch * p.rows) { return; }
  dst[dst_index(r, c)] = src[r * p.width + c];
}

@compute @workgroup_size(64, 4)
fn one_hot(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r = gid.y;
  if (c >= p.width || r >= p.batch * p.rows) { return; }
  dst[dst_index(r, c)] = select(0.0, 1.0, tokens[r] == i32(c));
}

// Multiplies each row's value by its example's factor: dst[r] *= src[r / rows]
// (for example, loss row weights by per-example clipping weights).
@compute @workgroup_size(64, 4)
fn scale_by_example(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x + 64u * gid.y;
  if (gid.x >= 64u || r >= p.batch * p.rows) { return; }
  dst[r] = dst[r] * src[r / p.rows];
}
