/**
 * Float64 CPU reference for the batched matmul: a plain triple loop over the same spec
 * (transposes, offsets, row strides, two-level batch strides, alpha, beta, bias).
 *
 * @module
 */

/** The matmul spec with plain arrays in place of tensors. */
export interface MatmulReferenceInput {
  /** Storage of A. */
  a: ArrayLike<number>;
  /** Storage of B. */
  b: ArrayLike<number>;
  /** Storage of C before the product (read only where beta != 0). */
  c: ArrayLike<number>;
  /** N values added to every row, if any. */
  bias?: ArrayLike<number>;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  aOffset?: number;
  bOffset?: number;
  cOffset?: number;
  lda?: number;
  ldb?: number;
  ldc?: number;
  batch?: [number, number];
  aBatchStride?: [number, number];
  bBatchStride?: [number, number];
  cBatchStride?: [number, number];
  alpha?: number;
  beta?: number;
}

/**
 * The whole C storage after C = alpha·op(A)·op(B) + beta·C (+ bias), in float64. Elements
 * outside the M×N matrices keep their old values.
 *
 * @example
 * ```ts ignore
 * matmulReference({ a: [1, 2], b: [3, 4], c: [0], M: 1, N: 1, K: 2 }); // Float64Array [11]
 * ```
 */
export function matmulReference(x: MatmulReferenceInput): Float64Array {
  const { M, N, K } = x;
  const transA = x.transA ?? false, transB = x.transB ?? false;
  const lda = x.lda ?? (transA ? M : K);
  const ldb = x.ldb ?? (transB ? K : N);
  const ldc = x.ldc ?? N;
  const [outer, inner] = x.batch ?? [1, 1];
  // Default batch strides: matrices stacked one after another.
  const aRows = transA ? K : M, bRows = transB ? N : K;
  const sa = x.aBatchStride ?? [inner * aRows * lda, aRows * lda];
  const sb = x.bBatchStride ?? [inner * bRows * ldb, bRows * ldb];
  const sc = x.cBatchStride ?? [inner * M * ldc, M * ldc];
  const alpha = x.alpha ?? 1, beta = x.beta ?? 0;
  const out = Float64Array.from(x.c);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const a0 = (x.aOffset ?? 0) + o * sa[0] + i * sa[1];
      const b0 = (x.bOffset ?? 0) + o * sb[0] + i * sb[1];
      const c0 = (x.cOffset ?? 0) + o * sc[0] + i * sc[1];
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let sum = 0;
          for (let k = 0; k < K; k++) {
            const av = x.a[transA ? a0 + k * lda + m : a0 + m * lda + k];
            const bv = x.b[transB ? b0 + n * ldb + k : b0 + k * ldb + n];
            sum += av * bv;
          }
          const e = c0 + m * ldc + n;
          out[e] = alpha * sum + (beta !== 0 ? beta * x.c[e] : 0) + (x.bias ? x.bias[n] : 0);
        }
      }
    }
  }
  return out;
}
