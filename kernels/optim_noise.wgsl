// Seeded Gaussian noise added in place, values[i] += std · z_i with z_i ~ N(0, 1) i.i.d.
// (src/optim/gaussian_noise.ts). Counter-based, so deterministic and order-free: invocation k
// hashes the counter (k, draw, 0, 0) under the key (seed_lo, seed_hi) with Philox4x32-10
// (Salmon et al. 2011, the Random123 generator) into four u32, turned into four normals for
// elements 4k … 4k + 3 by two Box–Muller transforms. `draw` counts the runs so far, read from
// the GPU so that a recorded program draws fresh noise on every replay.

const WG: u32 = 256u;
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const TWO_PI: f32 = 6.283185307179586;

struct Params {
  n: u32,
  seed_lo: u32,
  seed_hi: u32,
  _pad: u32,
  sigma: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
// add_noise: 1 = the values, 2 = draw counter (read).
@group(0) @binding(1) var<storage, read_write> values: array<f32>;
@group(0) @binding(2) var<storage, read> draws: array<u32>;
// next_draw: 1 = draw counter. WGSL forbids two variables at one binding only within one entry point.
@group(0) @binding(1) var<storage, read_write> draws_next: array<u32>;

// The high and low words of the 64-bit product a·b, from 16-bit halves (WGSL has no u64).
fn mul_hi_lo(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xFFFFu;
  let a1 = a >> 16u;
  let b0 = b & 0xFFFFu;
  let b1 = b >> 16u;
  let mid1 = a1 * b0;
  let mid2 = a0 * b1;
  let carry = ((a0 * b0) >> 16u) + (mid1 & 0xFFFFu) + (mid2 & 0xFFFFu);
  let hi = a1 * b1 + (mid1 >> 16u) + (mid2 >> 16u) + (carry >> 16u);
  return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k += vec2<u32>(PHILOX_W0, PHILOX_W1); }
    let p0 = mul_hi_lo(PHILOX_M0, c.x);
    let p1 = mul_hi_lo(PHILOX_M1, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}

// A uniform in (0, 1) from the top 24 bits: never 0, so log is finite (|z| < 5.8 at most).
fn open_unit(x: u32) -> f32 {
  return (f32(x >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// Two standard normals from two uniforms (Box–Muller); the angle is kept in (−π, π).
fn box_muller(u: u32, v: u32) -> vec2<f32> {
  let r = sqrt(-2.0 * log(open_unit(u)));
  let angle = TWO_PI * (open_unit(v) - 0.5);
  return r * vec2<f32>(cos(angle), sin(angle));
}

@compute @workgroup_size(WG)
fn add_noise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = gid.x + gid.y * nwg.x * WG;
  let first = 4u * k;
  if (first >= p.n) { return; }
  let bits = philox4x32_10(vec4<u32>(k, draws[0], 0u, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
  let z = vec4<f32>(box_muller(bits.x, bits.y), box_muller(bits.z, bits.w));
  for (var j = 0u; j < 4u; j++) {
    let i = first + j;
    if (i < p.n) { values[i] += p.sigma * z[j]; }
  }
}

// Advances the draw counter after add_noise (a separate dispatch, so that no invocation of
// add_noise can see it change).
@compute @workgroup_size(1)
fn next_draw() {
  draws_next[0] = draws_next[0] + 1u;
}
