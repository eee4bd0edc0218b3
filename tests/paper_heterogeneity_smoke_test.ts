import assert from "node:assert/strict";
import { runPipeline } from "../scripts/paper_heterogeneity.ts";

// The whole gradient-heterogeneity pipeline in smoke mode (a few steps per run) into a temp
// directory: every experiment leaves a parseable summary, its figures as PNG and SVG, and a
// report for each results directory of runs. Nothing is copied into the docs.
Deno.test("paper heterogeneity pipeline runs end to end in smoke mode", async () => {
  const root = await Deno.makeTempDir({ prefix: "paper_heterogeneity_" });
  try {
    const result = await runPipeline("smoke", root, null);
    assert.deepEqual(
      result.experiments.map((e) => e.name).sort(),
      ["head_growth", "heterogeneity_theory", "ln_placement", "optimizer_gap"],
    );
    assert.equal(result.copied.length, 0);
    for (const experiment of result.experiments) {
      const summary = JSON.parse(await Deno.readTextFile(experiment.summary));
      assert.equal(summary.experiment, experiment.name);
      assert.equal(summary.size, "smoke");
      assert.ok(experiment.figures.length > 0, `${experiment.name} made no figure`);
      for (const png of experiment.figures) {
        const bytes = await Deno.readFile(png);
        assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], `${png} is not a PNG`);
        assert.match(await Deno.readTextFile(png.replace(/\.png$/, ".svg")), /^<svg/);
      }
    }
    assert.equal(result.reports.length, result.experiments.flatMap((e) => e.reportDirs).length);
    for (const html of result.reports) assert.match(await Deno.readTextFile(html), /<html/i);
    // The measured numbers are there and of the right kind.
    const theory = JSON.parse(await Deno.readTextFile(`${root}/heterogeneity_theory/summary.json`));
    assert.ok(theory.quadratic.length >= 2);
    assert.ok(theory.quadratic.every((row: { methods: { gd: unknown } }) => row.methods.gd));
    assert.equal(typeof theory.spearman_abs_lambda, "number");
    const gap = JSON.parse(await Deno.readTextFile(`${root}/optimizer_gap/summary.json`));
    assert.deepEqual(Object.keys(gap.settings), ["wordnet", "fashion_mnist"]);
    const ln = JSON.parse(await Deno.readTextFile(`${root}/ln_placement/summary.json`));
    assert.deepEqual(ln.placements.map((p: { placement: string }) => p.placement), ["pre", "post", "none"]);
    const head = JSON.parse(await Deno.readTextFile(`${root}/head_growth/summary.json`));
    assert.ok(head.rows.every((r: { finalNorm: { mean: number } }) => r.finalNorm.mean > 0));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
