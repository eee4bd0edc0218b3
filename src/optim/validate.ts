/**
 * Hyperparameter checks shared by the optimizers, transforms and schedules: each raises a
 * RangeError naming the owner, the hyperparameter, the valid range and the value given.
 *
 * @module
 */

/** The valid ranges a hyperparameter can be checked against. */
export type Bound =
  | "finite"
  | "nonNegative"
  | "positive"
  | "unit" // [0, 1)
  | "closedUnit" // [0, 1]
  | "positiveInteger"
  | "nonNegativeInteger";

const DESCRIBE: Record<Bound, string> = {
  finite: "a finite number",
  nonNegative: "finite and ≥ 0",
  positive: "finite and > 0",
  unit: "in [0, 1)",
  closedUnit: "in [0, 1]",
  positiveInteger: "an integer ≥ 1",
  nonNegativeInteger: "an integer ≥ 0",
};

function within(value: number, bound: Bound): boolean {
  if (typeof value !== "number" || !Number.isFinite(value)) return false;
  switch (bound) {
    case "finite":
      return true;
    case "nonNegative":
      return value >= 0;
    case "positive":
      return value > 0;
    case "unit":
      return value >= 0 && value < 1;
    case "closedUnit":
      return value >= 0 && value <= 1;
    case "positiveInteger":
      return Number.isInteger(value) && value >= 1;
    case "nonNegativeInteger":
      return Number.isInteger(value) && value >= 0;
  }
}

/**
 * Throws a RangeError unless `value` lies within `bound`.
 *
 * @param owner the optimizer or transform, e.g. `"adam"`
 * @param name the hyperparameter, e.g. `"betas[1]"`
 * @example
 * ```ts ignore
 * check("adam", "eps", 0, "positive"); // RangeError: gradscope: adam: eps must be finite and > 0, got 0
 * ```
 */
export function check(owner: string, name: string, value: number, bound: Bound): void {
  if (!within(value, bound)) {
    throw new RangeError(`gradscope: ${owner}: ${name} must be ${DESCRIBE[bound]}, got ${value}`);
  }
}
