/**
 * SVG → PNG with resvg compiled to WebAssembly (`@resvg/resvg-wasm`): no native addon, no
 * browser, no `--allow-ffi`. The Wasm module (2.5 MB) and the fonts load on first use only.
 *
 * @module
 */

import type { Figure } from "./figure.ts";
import { loadPlotFonts } from "./font.ts";

const RESVG = "@resvg/resvg-wasm@2.6.2";

/** Options for {@link svgToPng}. */
export interface PngOptions {
  /** Output width in pixels; the height follows the aspect ratio. Default: 2 × the SVG width. */
  width?: number;
  /** Font files (TTF/OTF bytes) to render text with. Default: {@link loadPlotFonts}. */
  fonts?: Uint8Array[];
}

interface Resvg {
  render(): { width: number; height: number; asPng(): Uint8Array; free(): void };
  free(): void;
}
type ResvgModule = {
  initWasm(module: WebAssembly.Module): Promise<void>;
  Resvg: new (svg: string, options: unknown) => Resvg;
};

let resvg: Promise<ResvgModule> | undefined;

/** The resvg module, initialised once. Specifiers are built at run time so Deno installs it lazily. */
async function loadResvg(): Promise<ResvgModule> {
  // A source-phase import yields the compiled module with no file permission; TypeScript
  // does not know `import.source` yet, Deno runs it.
  // @ts-expect-error: TS18061, import.source is not in TypeScript's grammar yet
  const wasm: WebAssembly.Module = await import.source(["npm:", RESVG, "/index_bg.wasm"].join(""));
  const module = await import(["npm:", RESVG].join("")) as ResvgModule;
  await module.initWasm(wasm);
  return module;
}

/**
 * Rasterises an SVG (text or a {@link Figure}) to PNG bytes. Text uses DejaVu Sans, loaded
 * explicitly into resvg, so it never silently disappears.
 *
 * @example
 * ```ts
 * import { lineChart, svgToPng } from "./mod.ts";
 * const fig = lineChart({ title: "loss", series: [{ name: "sgd", x: [0, 1], y: [2, 1] }] });
 * const png = await svgToPng(fig, { width: 800 });
 * console.log(png[1] === 0x50); // true ("PNG" signature)
 * ```
 */
export async function svgToPng(svg: string | Figure, options: PngOptions = {}): Promise<Uint8Array> {
  resvg ??= loadResvg().catch((error) => {
    resvg = undefined;
    throw error;
  });
  const [{ Resvg }, fonts] = await Promise.all([resvg, options.fonts ?? loadPlotFonts()]);
  const source = String(svg);
  const width = options.width ?? 2 * (typeof svg === "string" ? svgWidth(source) : svg.width);
  const renderer = new Resvg(source, {
    fitTo: { mode: "width", value: Math.round(width) },
    font: {
      fontBuffers: fonts,
      loadSystemFonts: false,
      defaultFontFamily: "DejaVu Sans",
      sansSerifFamily: "DejaVu Sans",
    },
    background: "#ffffff",
  });
  try {
    const image = renderer.render();
    const png = image.asPng();
    image.free();
    return png;
  } finally {
    renderer.free();
  }
}

/** The `width` attribute of the root `<svg>` element (640 if absent). */
function svgWidth(svg: string): number {
  const match = /<svg\b[^>]*?\swidth="([\d.]+)"/.exec(svg);
  return match ? Number(match[1]) : 640;
}
