/**
 * Minimal SVG drawing kit for the report plots: a string builder, linear/log scales with
 * "nice" ticks, and a framed panel with grid, axes, tick labels and titles. Colours are the
 * Okabe–Ito palette (distinguishable with the common colour-vision deficiencies).
 */

export const OKABE_ITO = {
  black: '#000000', orange: '#E69F00', sky: '#56B4E9', green: '#009E73',
  yellow: '#F0E442', blue: '#0072B2', vermillion: '#D55E00', purple: '#CC79A7', grey: '#999999',
} as const;

export const FONT = "'DejaVu Sans', 'Helvetica Neue', Helvetica, Arial, sans-serif";
const INK = '#222222', GRID = '#e4e4e4', AXIS = '#555555';

/** XML-escapes text content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const num = (v: number) => (Math.abs(v) < 1e-9 ? '0' : String(Math.round(v * 100) / 100));

type Attrs = Record<string, string | number | undefined>;
const attrs = (a: Attrs) => Object.entries(a).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : esc(v!)}"`).join('');

/** Accumulates SVG elements; `toString()` gives a standalone document. */
export class Svg {
  private parts: string[] = [];
  constructor(readonly width: number, readonly height: number) {}
  el(tag: string, a: Attrs, body?: string): this {
    this.parts.push(body === undefined ? `<${tag}${attrs(a)}/>` : `<${tag}${attrs(a)}>${body}</${tag}>`);
    return this;
  }
  raw(s: string): this { this.parts.push(s); return this; }
  line(x1: number, y1: number, x2: number, y2: number, a: Attrs = {}): this { return this.el('line', { x1, y1, x2, y2, stroke: INK, ...a }); }
  rect(x: number, y: number, width: number, height: number, a: Attrs = {}): this { return this.el('rect', { x, y, width, height, ...a }); }
  text(x: number, y: number, s: string, a: Attrs = {}): this { return this.el('text', { x, y, fill: INK, 'font-size': 13, ...a }, esc(s)); }
  polyline(pts: readonly (readonly [number, number])[], a: Attrs = {}): this {
    return this.el('polyline', { points: pts.map(([x, y]) => `${num(x)},${num(y)}`).join(' '), fill: 'none', 'stroke-linejoin': 'round', 'stroke-linecap': 'round', ...a });
  }
  toString(): string {
    const w = Math.ceil(this.width), h = Math.ceil(this.height);
    return `<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" ` +
      `viewBox="0 0 ${w} ${h}" font-family="${esc(FONT)}">\n<rect width="100%" height="100%" fill="#ffffff"/>\n${this.parts.join('\n')}\n</svg>\n`;
  }
}

/**
 * About `n` round tick values covering [lo, hi] (steps 1, 2, 2.5, 5 × 10^k).
 *
 * @example niceTicks(0.61, 0.74, 5) // [0.6, 0.625, 0.65, 0.675, 0.7, 0.725, 0.75]
 */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi - lo < 1e-12) { const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1; lo -= d; hi += d; }
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw * 0.999)!;
  const start = Math.floor(lo / step + 1e-9) * step, end = Math.ceil(hi / step - 1e-9) * step;
  const out: number[] = [];
  for (let v = start; v <= end + step * 1e-6; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** Powers of ten spanning [lo, hi] (lo > 0), plus 2× and 5× when the span is short. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo) + 1e-9), b = Math.ceil(Math.log10(hi) - 1e-9);
  const out: number[] = [];
  for (let k = a; k <= Math.max(b, a + 1); k++) for (const m of b - a <= 2 ? [1, 2, 5] : [1]) out.push(m * 10 ** k);
  return out.filter((v) => v >= 10 ** a && v <= 10 ** Math.max(b, a + 1));
}

/** Tick label: few digits, exponent form for tiny or huge values. */
export function tickLabel(v: number, step: number): string {
  if (v === 0) return '0';
  if (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5) {
    const e = Math.floor(Math.log10(Math.abs(v)));
    const m = v / 10 ** e;
    return `${Math.abs(m - 1) < 1e-9 ? '' : `${+m.toFixed(1)}×`}1e${e}`;
  }
  const d = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(step % 1 === 0 ? 0 : d + (Math.abs(step * 10 ** d - Math.round(step * 10 ** d)) > 1e-9 ? 1 : 0));
}

/** Compact scientific label for log axes: 1e-3, 5e-4. @example sciLabel(0.0005) // "5e-4" */
export function sciLabel(v: number): string {
  const e = Math.floor(Math.log10(v) + 1e-9);
  return `${+(v / 10 ** e).toFixed(2)}e${e}`;
}

export type Scale = (v: number) => number;

export interface PanelSpec {
  x: number; y: number; w: number; h: number;
  xTicks: number[]; yTicks: number[];
  /** Axis ranges; default first/last tick. */
  xDomain?: [number, number]; yDomain?: [number, number];
  yLog?: boolean;
  xLabel?: string; yLabel?: string; title?: string;
  /** Draw x tick labels (off for panels sharing the axis below). */
  xTickLabels?: boolean;
  yFormat?: (v: number) => string;
}

/**
 * Draws a panel frame with horizontal grid lines, ticks and labels; returns its scales.
 * The domain is the first/last tick.
 */
export function panel(svg: Svg, p: PanelSpec): { sx: Scale; sy: Scale } {
  const [x0, x1] = p.xDomain ?? [p.xTicks[0]!, p.xTicks.at(-1)!];
  const [y0, y1] = p.yDomain ?? [p.yTicks[0]!, p.yTicks.at(-1)!];
  const sx: Scale = (v) => p.x + ((v - x0) / (x1 - x0 || 1)) * p.w;
  const ly = (v: number) => (p.yLog ? Math.log10(v) : v);
  const sy: Scale = (v) => p.y + p.h - ((ly(v) - ly(y0)) / (ly(y1) - ly(y0) || 1)) * p.h;
  const yStep = p.yTicks.length > 1 ? Math.abs(p.yTicks[1]! - p.yTicks[0]!) : 1;
  for (const t of p.yTicks) {
    const y = sy(t);
    svg.line(p.x, y, p.x + p.w, y, { stroke: GRID, 'stroke-width': 1 });
    svg.line(p.x - 5, y, p.x, y, { stroke: AXIS });
    svg.text(p.x - 8, y + 4.5, p.yFormat ? p.yFormat(t) : p.yLog ? sciLabel(t) : tickLabel(t, yStep), { 'text-anchor': 'end', fill: '#444' });
  }
  const xStep = p.xTicks.length > 1 ? p.xTicks[1]! - p.xTicks[0]! : 1;
  for (const t of p.xTicks) {
    const x = sx(t);
    svg.line(x, p.y + p.h, x, p.y + p.h + 5, { stroke: AXIS });
    if (p.xTickLabels !== false) svg.text(x, p.y + p.h + 20, tickLabel(t, xStep), { 'text-anchor': 'middle', fill: '#444' });
  }
  svg.rect(p.x, p.y, p.w, p.h, { fill: 'none', stroke: AXIS, 'stroke-width': 1 });
  if (p.xLabel) svg.text(p.x + p.w / 2, p.y + p.h + 42, p.xLabel, { 'text-anchor': 'middle', 'font-size': 14 });
  if (p.yLabel) svg.text(p.x - 54, p.y + p.h / 2, p.yLabel, { 'text-anchor': 'middle', 'font-size': 14, transform: `rotate(-90 ${num(p.x - 54)} ${num(p.y + p.h / 2)})` });
  if (p.title) svg.text(p.x, p.y - 9, p.title, { 'font-size': 14, 'font-weight': 'bold' });
  return { sx, sy };
}

export interface LegendItem {
  label: string;
  color: string;
  dash?: string;
  /** 'line' (default) or 'box' (bars). */
  kind?: 'line' | 'box';
}

/** Vertical legend with line or box swatches starting at (x, y). */
export function legend(svg: Svg, x: number, y: number, items: readonly LegendItem[]): void {
  items.forEach((it, i) => {
    const cy = y + i * 21;
    if (it.kind === 'box') svg.rect(x, cy - 6, 16, 12, { fill: it.color, stroke: '#333', 'stroke-width': 0.6 });
    else svg.line(x, cy, x + 22, cy, { stroke: it.color, 'stroke-width': 2.5, 'stroke-dasharray': it.dash });
    svg.text(x + 29, cy + 4.5, it.label, { 'font-size': 13 });
  });
}
