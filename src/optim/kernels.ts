/**
 * The optimizer's WGSL modules: the per-step control kernel, and the shared element
 * prologue/epilogue that every update rule is appended to.
 *
 * @module
 */

import applyCode from "../../kernels/optim_apply.wgsl" with { type: "text" };
import controlCode from "../../kernels/optim_control.wgsl" with { type: "text" };
import rulesCode from "../../kernels/optim_rules.wgsl" with { type: "text" };
import type { KernelSource } from "../gpu/kernel.ts";

/** The per-step scalars kernel (`tick`, `tick_clip`). */
export const OPTIM_CONTROL: KernelSource = { name: "optim_control", code: controlCode };

/**
 * A kernel module for update rules: `code` appended to the shared prologue/epilogue
 * (kernels/optim_apply.wgsl), which binds the uniform parameters at 0, the gradient at 1, the
 * parameters at 2, the control scalars at 3 and the block tables at 4 and 5. The rule's own
 * bindings start at 6: its state slots, then the extra gradient statistics it reads.
 *
 * @param name a unique module name, e.g. `"optim_rules"`
 * @param code WGSL declaring the rule bindings and entry points that call `load` and `store`
 * @example
 * ```ts
 * import { ruleSource } from "./mod.ts";
 * const source = ruleSource("my_rules", "@compute @workgroup_size(WG) fn half(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) { let e = load(gid, nwg); if (e.live) { store(e, 0.5 * e.g); } }");
 * console.log(source.name); // "my_rules"
 * ```
 */
export function ruleSource(name: string, code: string): KernelSource {
  return { name, code: `${applyCode}\n${code}` };
}

/** The built-in rules of src/optim/rules.ts. */
export const OPTIM_RULES: KernelSource = ruleSource("optim_rules", rulesCode);
