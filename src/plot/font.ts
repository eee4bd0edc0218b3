/**
 * The font figures are rasterised with: DejaVu Sans (regular and bold) from the npm package
 * `dejavu-fonts-ttf`, so text renders the same on every machine with no system fonts.
 *
 * resvg in WebAssembly cannot see system fonts, and Deno 2.9 imports text but not bytes
 * without an unstable flag, so the package is installed by importing its package.json
 * (no permission needed) and the TTF files are then read from where Deno put it; that read
 * needs `--allow-read`.
 *
 * @module
 */

import { importNpmJson } from "../data/npm_asset.ts";

/** The npm package that ships the TTF files. */
export const FONT_PACKAGE = "dejavu-fonts-ttf@2.37.3";

/** The files loaded: what `font-family="DejaVu Sans"` and `font-weight="bold"` resolve to. */
export const FONT_FILES: readonly string[] = ["ttf/DejaVuSans.ttf", "ttf/DejaVuSans-Bold.ttf"];

let cached: Promise<Uint8Array[]> | undefined;

async function readFonts(): Promise<Uint8Array[]> {
  await importNpmJson(FONT_PACKAGE, "package.json");
  return await Promise.all(FONT_FILES.map(async (file) => {
    const url = new URL(import.meta.resolve(["npm:", FONT_PACKAGE, "/", file].join("")));
    try {
      return await Deno.readFile(url);
    } catch (error) {
      throw new Error(`gradscope: cannot read the figure font ${url.href} (grant --allow-read): ${error}`, {
        cause: error,
      });
    }
  }));
}

/**
 * The TTF bytes of DejaVu Sans regular and bold, loaded once per process.
 *
 * @example
 * ```ts
 * import { loadPlotFonts } from "./mod.ts";
 * const fonts = await loadPlotFonts();
 * console.log(fonts.length); // 2
 * ```
 */
export function loadPlotFonts(): Promise<Uint8Array[]> {
  cached ??= readFonts().catch((error) => {
    cached = undefined;
    throw error;
  });
  return cached;
}
