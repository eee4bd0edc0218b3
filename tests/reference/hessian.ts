/**
 * Float64 references for the Hessian tests: the exact block Hessian from central differences
 * of an analytic gradient, and a cyclic Jacobi eigen-solver for small symmetric matrices.
 */
import type { ParamBlock } from "../../src/nn/layout.ts";

/**
 * The n×n block Hessian H_bb, column j = [g_b(θ + h·e_j) − g_b(θ − h·e_j)] / (2h), then
 * symmetrised. With an analytic float64 gradient the error is O(h²) + O(1e-16/h) ≈ 1e-8 at
 * h = 1e-5 times the parameter scale.
 */
export function exactBlockHessian(
  gradAt: (params: Float64Array) => Float64Array,
  params: Float64Array,
  block: ParamBlock,
  h = 1e-5,
): Float64Array[] {
  const n = block.size;
  const columns = Array.from({ length: n }, (_, j) => {
    const at = (sign: number) => {
      const point = params.slice();
      point[block.offset + j] += sign * h;
      return gradAt(point).subarray(block.offset, block.offset + n);
    };
    const plus = at(1), minus = at(-1);
    return plus.map((g, i) => (g - minus[i]) / (2 * h));
  });
  return Array.from(
    { length: n },
    (_, i) => Float64Array.from({ length: n }, (_, j) => (columns[j][i] + columns[i][j]) / 2),
  );
}

/** Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (unsorted). */
export function jacobiEigenvalues(matrix: readonly Float64Array[], sweeps = 100): Float64Array {
  const n = matrix.length;
  const a = matrix.map((row) => row.slice());
  for (let sweep = 0; sweep < sweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p][q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (a[p][q] === 0) continue;
        // Rotation angle that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.4.2).
        const tau = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(tau || 1) / (Math.abs(tau) + Math.sqrt(1 + tau * tau));
        const c = 1 / Math.sqrt(1 + t * t), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Float64Array.from({ length: n }, (_, i) => a[i][i]);
}

/** The eigenvalue of largest magnitude, sign kept. */
export function dominantEigenvalue(matrix: readonly Float64Array[]): number {
  return jacobiEigenvalues(matrix).reduce((best, x) => Math.abs(x) > Math.abs(best) ? x : best, 0);
}
