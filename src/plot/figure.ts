/**
 * The value every figure builder returns: an SVG string with its size and title, which
 * shows itself in Deno's Jupyter kernel.
 *
 * @module
 */

/** What every chart spec has in common. */
export interface ChartBase {
  /** Title drawn at the top. */
  title: string;
  /** Label under the x axis. */
  xLabel?: string;
  /** Label left of the y axis (rotated). */
  yLabel?: string;
  /** Width in pixels (default 640). */
  width?: number;
  /** Height in pixels (default 400). */
  height?: number;
}

/**
 * Deno's Jupyter kernel renders any value that has a method under this symbol (the same
 * symbol as `Deno.jupyter.$display`), using the MIME bundle it returns.
 *
 * @example
 * ```ts
 * import { JUPYTER_DISPLAY } from "./mod.ts";
 * console.log(JUPYTER_DISPLAY === Symbol.for("Jupyter.display")); // true
 * ```
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");

/**
 * An SVG figure. `String(figure)` is the SVG text; as the last expression of a Deno Jupyter
 * cell it is drawn inline.
 *
 * @example
 * ```ts
 * import { lineChart } from "./mod.ts";
 * const fig = lineChart({ title: "loss", series: [{ name: "sgd", x: [0, 1], y: [2, 1] }] });
 * console.log(fig.width, String(fig).startsWith("<svg")); // 640 true
 * ```
 */
export class Figure {
  /** The standalone SVG document. */
  readonly svg: string;
  /** Width in CSS pixels. */
  readonly width: number;
  /** Height in CSS pixels. */
  readonly height: number;
  /** The title drawn at the top, also used as a caption. */
  readonly title: string;

  /**
   * Wraps an SVG document.
   * @param svg the SVG text
   * @param width width in pixels
   * @param height height in pixels
   * @param title the figure title
   */
  constructor(svg: string, width: number, height: number, title: string) {
    this.svg = svg;
    this.width = width;
    this.height = height;
    this.title = title;
  }

  /** The SVG text. */
  toString(): string {
    return this.svg;
  }

  /** The MIME bundle Deno's Jupyter kernel displays. */
  [JUPYTER_DISPLAY](): { "image/svg+xml": string } {
    return { "image/svg+xml": this.svg };
  }
}
