/**
 * Writing SVG as text: element strings, escaping, the document wrapper and a rough text-width
 * estimate for layout. Figures are built without a DOM, so they work in any Deno process.
 *
 * @module
 */

/** Attribute values for {@link tag}; `undefined` leaves the attribute out. */
export type Attrs = Record<string, string | number | undefined>;

/** The font stack every figure asks for; {@link svgToPng} loads DejaVu Sans into resvg. */
export const FONT_STACK = "DejaVu Sans, Verdana, Arial, sans-serif";

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for use inside SVG/HTML text or a quoted attribute.
 *
 * @example
 * ```ts
 * import { escapeXml } from "./src/plot/svg.ts";
 * console.log(escapeXml("a < b & c")); // "a &lt; b &amp; c"
 * ```
 */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Numbers in SVG attributes, with two decimals at most (pixel precision keeps files small). */
function attrValue(value: string | number): string {
  return typeof value === "number" ? String(Math.round(value * 100) / 100) : escapeXml(value);
}

/**
 * One SVG element as text. `children` is inserted as is (already SVG); pass plain text
 * through {@link escapeXml} first.
 *
 * @example
 * ```ts
 * import { tag } from "./src/plot/svg.ts";
 * console.log(tag("circle", { cx: 1.234, cy: 2, r: 3 })); // '<circle cx="1.23" cy="2" r="3"/>'
 * ```
 */
export function tag(name: string, attrs: Attrs, children?: string | string[]): string {
  const list = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${attrValue(v as string | number)}"`)
    .join("");
  const body = Array.isArray(children) ? children.join("") : children;
  return body === undefined || body === "" ? `<${name}${list}/>` : `<${name}${list}>${body}</${name}>`;
}

/**
 * A `<text>` element holding escaped `content`.
 *
 * @example
 * ```ts
 * import { text } from "./src/plot/svg.ts";
 * console.log(text("x<1", { x: 0, y: 10 })); // '<text x="0" y="10">x&lt;1</text>'
 * ```
 */
export function text(content: string, attrs: Attrs): string {
  return tag("text", attrs, escapeXml(content));
}

/**
 * Approximate rendered width of `content` in pixels at `fontSize`, for layout only. DejaVu
 * Sans averages about 0.6 em per character; erring wide leaves room rather than clipping.
 *
 * @example
 * ```ts
 * import { textWidth } from "./src/plot/svg.ts";
 * console.log(textWidth("loss", 10)); // 25.2
 * ```
 */
export function textWidth(content: string, fontSize: number): number {
  return Math.round(content.length * fontSize * 0.63 * 10) / 10;
}

/**
 * The standalone SVG document: namespace, size, font, a white background and an accessible
 * `<title>`, around `body`.
 *
 * @example
 * ```ts
 * import { svgDocument } from "./src/plot/svg.ts";
 * const svg = svgDocument(100, 50, "Empty", "");
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function svgDocument(width: number, height: number, title: string, body: string): string {
  return tag("svg", {
    xmlns: "http://www.w3.org/2000/svg",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "font-family": FONT_STACK,
    role: "img",
  }, [
    tag("title", {}, escapeXml(title)),
    tag("rect", { width, height, fill: "#ffffff" }),
    body,
  ]);
}

/**
 * `content` cut to at most `max` characters, keeping its end (block names differ at the
 * end: `…attn.qkv.weight`).
 *
 * @example
 * ```ts
 * import { shorten } from "./src/plot/svg.ts";
 * console.log(shorten("blocks.11.attn.qkv.weight", 11)); // "…qkv.weight"
 * ```
 */
export function shorten(content: string, max: number): string {
  return content.length <= max ? content : "…" + content.slice(content.length - max + 1);
}
