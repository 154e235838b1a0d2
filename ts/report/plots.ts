/**
 * The report's figures as standalone SVG strings: learning curves of one run (losses,
 * validation metrics, learning rate; warm-up shaded, best epoch marked) and per-backbone
 * grouped bars of the τ1 experiments with fold-std error bars.
 */
import { PAPER_SCHEDULE } from '../train/config';
import type { RunSummary } from './aggregate';
import { legend, logTicks, niceTicks, OKABE_ITO as C, panel, Svg, type LegendItem } from './svg';
import { EXPERIMENT_LABEL, METRIC_LABEL, PROTOCOL_LABEL, type EpochRecord, type Experiment, type RunResult } from './types';

/**
 * File names of one figure per run: backbone_experiment_protocol_fold with every other character
 * '_', and '_2', '_3'… after a name already given (also differing only in case, for
 * case-insensitive disks): the runs of backbones 'a|b' and 'a b', or of centres 'Città' and
 * 'Cittá', wrote one file, the second figure over the first, and both links pointed at it.
 *
 * @example const name = runFileNamer(); name(run) // 'resnet18_mdmt_cv_0'
 */
export function runFileNamer(): (r: RunResult) => string {
  const taken = new Set<string>();
  return (r) => {
    const base = `${r.backbone}_${r.experiment}_${r.protocol}_${r.fold}`.replace(/[^A-Za-z0-9._-]+/g, '_');
    let name = base;
    for (let i = 2; taken.has(name.toLowerCase()); i++) name = `${base}_${i}`;
    taken.add(name.toLowerCase());
    return name;
  };
}

/**
 * A run's figure as a Markdown link, `[backbone · experiment · protocol fold f](rel)`, with '[', ']'
 * and '\\' of the names escaped and line breaks as spaces (a backbone 'net[2]' ended the link text).
 */
export function runLink(r: RunResult, rel: string): string {
  const text = `${r.backbone} · ${r.experiment} · ${r.protocol} fold ${r.fold}`.replace(/[[\]\\]/g, '\\$&').replace(/\r\n?|\n/g, ' ');
  return `[${text}](${rel})`;
}

type Series = { key: keyof EpochRecord; label: string; color: string; dash?: string };

const LOSSES: Series[] = [
  { key: 'trainLoss', label: 'train loss', color: C.blue },
  { key: 'valLoss', label: 'val loss', color: C.vermillion },
  { key: 'valAfcLoss', label: 'val AFC loss', color: C.purple, dash: '7 4' },
  { key: 'valBxLoss', label: 'val BX loss', color: C.green, dash: '2 3' },
];
const METRICS: Series[] = [
  { key: 'valAcc', label: 'val ACC', color: C.blue },
  { key: 'valF1', label: 'val F1', color: C.green, dash: '7 4' },
  { key: 'valGmean', label: 'val GM', color: C.orange, dash: '2 3' },
];

const finite = (h: readonly EpochRecord[], k: keyof EpochRecord) => h.filter((r) => typeof r[k] === 'number' && Number.isFinite(r[k] as number));

/**
 * Learning curves of one run as SVG: losses (top), validation metrics in % (middle, when
 * logged) and the learning rate on a log axis (bottom), sharing the epoch axis. The
 * warm-up epochs are shaded and the best epoch is marked on every panel.
 *
 * @example fs.writeFileSync('curves.svg', learningCurveSvg(run, { warmupEpochs: 40 }))
 */
export function learningCurveSvg(run: RunResult, opts: { warmupEpochs?: number } = {}): string {
  const h = run.history ?? [];
  // the run's own warm-up (the demo's is 2), the paper's for runs that did not store it
  const warm = opts.warmupEpochs ?? run.warmupEpochs ?? PAPER_SCHEDULE.warmupEpochs;
  const losses = LOSSES.filter((s) => finite(h, s.key).length > 0);
  const metrics = METRICS.filter((s) => finite(h, s.key).length > 0);
  const L = 86, PW = 600, legendX = L + PW + 24;
  const W = legendX + 150;
  const hasLr = h.some((r) => r.lr > 0 && Number.isFinite(r.lr));
  const heights = [250, metrics.length ? 170 : 0, hasLr ? 120 : 0];
  const gap = 34;
  let y = 100;
  const tops = heights.map((ph) => { const t = y; if (ph) y += ph + gap; return t; });
  const H = y + 30;
  const svg = new Svg(W, H);
  const best = run.bestEpoch ?? h.find((r) => r.isBest && r.epoch === Math.max(...h.filter((q) => q.isBest).map((q) => q.epoch)))?.epoch;
  svg.text(L, 30, `${run.backbone} · ${EXPERIMENT_LABEL[run.experiment]} · ${PROTOCOL_LABEL[run.protocol]} fold ${run.fold}`, { 'font-size': 18, 'font-weight': 'bold' });
  const m = run.metrics;
  svg.text(L, 54, `test ACC ${(100 * m.acc).toFixed(1)}% · F1 ${(100 * m.f1).toFixed(1)}% · GM ${(100 * m.gmean).toFixed(1)}%` +
    (best ? ` · best epoch ${best}` : '') + ` · ${h.length} epochs`, { 'font-size': 13.5, fill: '#444' });
  if (h.length === 0) { svg.text(L, 110, 'no history recorded', { fill: '#888' }); return svg.toString(); }

  const eMax = Math.max(...h.map((r) => r.epoch));
  const xTicks = niceTicks(0, eMax, 8).filter((t) => t <= eMax);
  const xDomain: [number, number] = [0, eMax];
  const draw = (top: number, ph: number, series: Series[], title: string, yLabel: string, scale = 1, last = false) => {
    const vals = series.flatMap((s) => finite(h, s.key).map((r) => (r[s.key] as number) * scale));
    const yTicks = niceTicks(Math.min(...vals), Math.max(...vals), 5);
    const { sx, sy } = panel(svg, { x: L, y: top, w: PW, h: ph, xTicks, xDomain, yTicks, title, yLabel, xTickLabels: last, xLabel: last ? 'epoch' : undefined });
    shade(svg, sx, top, ph, warm, eMax);
    if (top === tops[0] && warm > 0) svg.text(sx(Math.min(warm, eMax) / 2), top + 18, 'warm-up', { 'text-anchor': 'middle', fill: '#666', 'font-style': 'italic' });
    for (const s of series) {
      svg.polyline(finite(h, s.key).map((r) => [sx(r.epoch), sy((r[s.key] as number) * scale)] as const), { stroke: s.color, 'stroke-width': 2, 'stroke-dasharray': s.dash });
    }
    if (best !== undefined) markBest(svg, sx(best), top, ph);
    legend(svg, legendX, top + 14, series.map((s): LegendItem => ({ label: s.label, color: s.color, dash: s.dash })));
    return { sx, sy };
  };
  const lossPanel = draw(tops[0]!, heights[0]!, losses, 'Loss', 'loss', 1, !metrics.length && !hasLr);
  const sel = finite(h, 'valAfcLoss').length ? 'valAfcLoss' : 'valLoss';
  const bestRec = h.find((r) => r.epoch === best);
  if (bestRec && typeof bestRec[sel] === 'number') {
    svg.el('circle', { cx: lossPanel.sx(best!), cy: lossPanel.sy(bestRec[sel] as number), r: 5, fill: '#fff', stroke: C.black, 'stroke-width': 2 });
  }
  if (metrics.length) draw(tops[1]!, heights[1]!, metrics, 'Validation metrics', '%', 100, !hasLr);

  // learning rate: log axis, step line
  const lrs = h.filter((r) => r.lr > 0 && Number.isFinite(r.lr));
  if (lrs.length === 0) return svg.toString();
  const lo = Math.min(...lrs.map((r) => r.lr)), hi = Math.max(...lrs.map((r) => r.lr));
  const yDomain: [number, number] = [lo / 1.6, hi * 1.6];
  const yTicks = logTicks(yDomain[0], yDomain[1]).filter((t) => t >= yDomain[0] && t <= yDomain[1]);
  const top = tops[2]!;
  const { sx, sy } = panel(svg, { x: L, y: top, w: PW, h: heights[2]!, xTicks, xDomain, yTicks, yDomain, yLog: true, title: 'Learning rate', yLabel: 'lr', xLabel: 'epoch', xTickLabels: true });
  shade(svg, sx, top, heights[2]!, warm, eMax);
  const pts: [number, number][] = [];
  lrs.forEach((r, i) => { if (i > 0) pts.push([sx(r.epoch - 0.5), sy(lrs[i - 1]!.lr)]); pts.push([sx(r.epoch - (i > 0 ? 0.5 : 0)), sy(r.lr)]); });
  pts.push([sx(lrs.at(-1)!.epoch), sy(lrs.at(-1)!.lr)]);
  svg.polyline(pts, { stroke: C.black, 'stroke-width': 2 });
  if (best !== undefined) markBest(svg, sx(best), top, heights[2]!);
  legend(svg, legendX, top + 14, [{ label: 'learning rate', color: C.black }]);
  legend(svg, legendX, top + 40, [{ label: 'warm-up', color: '#d9d9d9', kind: 'box' }, { label: 'best epoch', color: '#444', dash: '4 3' }]);
  return svg.toString();
}

function shade(svg: Svg, sx: (v: number) => number, top: number, ph: number, warm: number, eMax: number): void {
  if (warm <= 0) return;
  const x0 = sx(0), x1 = sx(Math.min(warm, eMax));
  svg.rect(x0, top, Math.max(0, x1 - x0), ph, { fill: '#000', 'fill-opacity': 0.07 });
}

function markBest(svg: Svg, x: number, top: number, ph: number): void {
  svg.line(x, top, x, top + ph, { stroke: '#444', 'stroke-width': 1.3, 'stroke-dasharray': '4 3' });
}

export const EXPERIMENT_COLOR: Record<Experiment, string> = { stl_afc: C.orange, stl_bx: C.purple, ft: C.sky, mdmt: C.blue };

/**
 * Per-backbone grouped bars of one protocol: one panel per metric (ACC, F1, GM), one group
 * per backbone, one bar per experiment (fold mean, %) with ±1 fold-std error bars. The
 * y axis starts at a round value below the lowest whisker (stated in the axis label) so
 * that differences of a few points stay visible.
 *
 * @example fs.writeFileSync('bars_cv.svg', backboneBarsSvg(summaries, 'cv'))
 */
export function backboneBarsSvg(summaries: readonly RunSummary[], protocol: string, experiments: readonly Experiment[] = ['stl_afc', 'ft', 'mdmt']): string {
  const rows = summaries.filter((s) => s.protocol === protocol && experiments.includes(s.experiment));
  const backbones = [...new Set(rows.map((s) => s.backbone))].sort();
  const metricKeys = ['acc', 'f1', 'gmean'];
  const groupW = Math.max(46, 12 * experiments.length + 22), L = 86, R = 64;
  const PW = Math.max(560, groupW * backbones.length);
  const W = L + PW + R, PH = 210, gap = 44, top0 = 122;
  const labelSpace = 12 + 7 * Math.max(4, ...backbones.map((b) => b.length)) * 0.8;
  const H = top0 + metricKeys.length * (PH + gap) - gap + labelSpace + 20;
  const svg = new Svg(W, H);
  svg.text(L, 30, `Test performance per backbone — ${PROTOCOL_LABEL[protocol as 'cv'] ?? protocol}`, { 'font-size': 18, 'font-weight': 'bold' });
  svg.text(L, 52, 'bars: mean over folds · whiskers: ±1 std over folds · dashed: mean over backbones (μ̄)', { 'font-size': 13.5, fill: '#444' });
  const get = (b: string, e: string, m: string) => rows.find((s) => s.backbone === b && s.experiment === e)?.metrics[m];
  // horizontal legend
  let lx = L;
  for (const e of experiments) {
    const label = EXPERIMENT_LABEL[e];
    svg.rect(lx, 70, 16, 12, { fill: EXPERIMENT_COLOR[e], stroke: '#333', 'stroke-width': 0.6 });
    svg.text(lx + 22, 81, label, { 'font-size': 13.5 });
    lx += 34 + label.length * 8.5;
  }
  // one y range for all panels, so the metrics compare at a glance
  const lows: number[] = [], highs: number[] = [];
  for (const m of metricKeys) for (const b of backbones) for (const e of experiments) {
    const v = get(b, e, m);
    if (v && Number.isFinite(v.mean)) { const s = Number.isFinite(v.std) ? v.std : 0; lows.push(100 * (v.mean - s)); highs.push(100 * (v.mean + s)); }
  }
  if (!lows.length) return svg.toString();
  const yTicks = niceTicks(Math.max(0, Math.min(...lows) - 2), Math.min(100, Math.max(...highs) + 1), 5).filter((t) => t >= 0 && t <= 100);
  metricKeys.forEach((m, mi) => {
    const top = top0 + mi * (PH + gap);
    const { sy } = panel(svg, { x: L, y: top, w: PW, h: PH, xTicks: [0, backbones.length], yTicks, title: METRIC_LABEL[m], yLabel: yTicks[0]! > 0 ? `% (axis from ${yTicks[0]})` : '%', xTickLabels: false });
    const base = sy(yTicks[0]!);
    backbones.forEach((b, bi) => {
      const gx = L + (bi / backbones.length) * PW;
      const gw = PW / backbones.length;
      if (bi % 2 === 1) svg.rect(gx, top, gw, PH, { fill: '#000', 'fill-opacity': 0.025 });
      const bw = Math.min(16, (gw - 12) / experiments.length);
      experiments.forEach((e, ei) => {
        const v = get(b, e, m);
        if (!v || !Number.isFinite(v.mean)) return;
        const x = gx + (gw - bw * experiments.length) / 2 + ei * bw;
        const yv = sy(100 * v.mean);
        svg.rect(x + 0.5, yv, bw - 1, Math.max(0, base - yv), { fill: EXPERIMENT_COLOR[e], stroke: '#333', 'stroke-width': 0.4 });
        if (Number.isFinite(v.std) && v.std > 0) {
          const cx = x + bw / 2, ya = sy(Math.min(yTicks.at(-1)!, 100 * (v.mean + v.std))), yb = sy(Math.max(yTicks[0]!, 100 * (v.mean - v.std)));
          svg.line(cx, ya, cx, yb, { stroke: '#111', 'stroke-width': 1.2 });
          svg.line(cx - 3, ya, cx + 3, ya, { stroke: '#111', 'stroke-width': 1.2 });
          svg.line(cx - 3, yb, cx + 3, yb, { stroke: '#111', 'stroke-width': 1.2 });
        }
      });
      if (mi === metricKeys.length - 1) {
        const tx = gx + gw / 2, ty = top + PH + 14;
        svg.text(tx, ty, b, { 'text-anchor': 'end', 'font-size': 12.5, transform: `rotate(-40 ${tx.toFixed(1)} ${ty})` });
      }
    });
    const marks: { y: number; avg: number; color: string }[] = [];
    for (const e of experiments) {
      const means = rows.filter((s) => s.experiment === e && s.metrics[m]).map((s) => 100 * s.metrics[m]!.mean);
      if (!means.length) continue;
      const avg = means.reduce((a, c) => a + c, 0) / means.length;
      marks.push({ y: sy(avg), avg, color: EXPERIMENT_COLOR[e] });
      svg.line(L, sy(avg), L + PW, sy(avg), { stroke: EXPERIMENT_COLOR[e], 'stroke-width': 1.4, 'stroke-dasharray': '6 4' });
    }
    // μ̄ labels right of the panel, nudged apart so they never overlap
    marks.sort((a, b) => a.y - b.y);
    for (let i = 1; i < marks.length; i++) marks[i]!.y = Math.max(marks[i]!.y, marks[i - 1]!.y + 15);
    for (const k of marks) svg.text(L + PW + 6, k.y + 4.5, k.avg.toFixed(1), { fill: k.color, 'font-size': 12.5, 'font-weight': 'bold' });
  });
  return svg.toString();
}
