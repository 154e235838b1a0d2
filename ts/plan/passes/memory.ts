/**
 * The static memory plan: every temp and input gets a byte offset in one arena per device,
 * so a replay allocates nothing. Values whose lifetimes do not overlap share bytes.
 *
 *   lifetime   [step that produces it, last step that reads it]; inputs start before
 *              step 0, plan outputs end after the last step (read back after the run)
 *   views      a reshape output is the same bytes as its source: one buffer, and the
 *              buffer lives until the last reader of any view of it
 *   in place   an elementwise op may write its output over an input whose buffer dies at
 *              that step (INPLACE below: kernels that read element i before writing it)
 *   packing    buffers sorted by size (largest first), each placed at the offset with the
 *              least waste among the gaps left by the buffers it overlaps in time
 *              ("greedy by size", as TFLite's arena planner); 64-byte aligned
 * The pass sets `offset` on temps and inputs (views: their source's) and `arenaBytes`.
 */
import { DTYPE_BYTES } from '../../native/binding';
import { Graph, Pass, Value } from '../graph';

const ALIGN = 64;

/** output index ← input index pairs a kernel may compute in place (same shape and dtype). */
export const INPLACE: Record<string, [number, number][]> = {
  relu: [[0, 0]], relu6: [[0, 0]], silu: [[0, 0]], sigmoid: [[0, 0]], hardswish: [[0, 0]],
  relu_bwd: [[0, 0]], relu6_bwd: [[0, 0]], silu_bwd: [[0, 0]], sigmoid_bwd: [[0, 0]], hardswish_bwd: [[0, 0]],
  add: [[0, 0], [0, 1]], sub: [[0, 0], [0, 1]], mul: [[0, 0], [0, 1]], affine: [[0, 0]],
  batchnorm_eval: [[0, 0]], dropout: [[0, 0]], dropout_bwd: [[0, 0]],
};

export function valueBytes(v: Pick<Value, 'shape' | 'dtype'>): number {
  return v.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[v.dtype];
}

interface Buffer {
  bytes: number;
  start: number;
  end: number;
  offset: number;
  pinned: boolean; // holds a plan input or output: never written over in place
}

export interface MemoryOptions {
  /** allow in-place kernels (default true) */
  inPlace?: boolean;
}

export function memoryPlan(o: MemoryOptions = {}): Pass {
  return (g: Graph): Graph => planMemory(g, o.inPlace ?? true);
}

/** The pass with default options. */
export const memory: Pass = memoryPlan();

function planMemory(g: Graph, inPlace: boolean): Graph {
  // a reshape of a param or const (a weight viewed with another shape) is that tensor's bytes
  const bound = new Set<number>();
  for (const s of g.steps) {
    const src = g.values.get(s.inputs[0]);
    if (s.op === 'reshape' && src && (src.kind === 'param' || src.kind === 'const' || bound.has(src.id))) bound.add(s.outputs[0]);
  }
  const arena = (v: Value) => (v.kind === 'temp' && !bound.has(v.id)) || v.kind === 'input';
  const parent = new Map<number, number>();
  const find = (id: number): number => {
    let r = id;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(id, r);
    return r;
  };
  const bufs = new Map<number, Buffer>(); // root id → buffer
  const N = g.steps.length;
  for (const [id, v] of g.values) {
    if (!arena(v)) continue;
    parent.set(id, id);
    bufs.set(id, { bytes: valueBytes(v), start: v.kind === 'input' ? -1 : N, end: -1, offset: 0, pinned: v.kind === 'input' });
  }
  const union = (a: number, b: number) => {
    const ra = find(a), rb = find(b);
    if (ra === rb) return;
    const A = bufs.get(ra)!, B = bufs.get(rb)!;
    parent.set(rb, ra);
    A.bytes = Math.max(A.bytes, B.bytes);
    A.start = Math.min(A.start, B.start);
    A.end = Math.max(A.end, B.end);
    A.pinned ||= B.pinned;
    bufs.delete(rb);
  };
  const touch = (id: number, i: number) => {
    if (!parent.has(id)) return;
    const b = bufs.get(find(id))!;
    b.start = Math.min(b.start, i);
    b.end = Math.max(b.end, i);
  };
  g.steps.forEach((s, i) => {
    if (s.op === 'reshape' && parent.has(s.inputs[0]) && parent.has(s.outputs[0])) union(s.inputs[0], s.outputs[0]);
    for (const v of s.inputs) touch(v, i);
    for (const v of s.outputs) touch(v, i);
  });
  for (const id of g.outputs) {
    if (!parent.has(id)) continue;
    const b = bufs.get(find(id))!;
    b.end = N;
    b.pinned = true;
  }
  if (inPlace) fuseInPlace(g, parent, bufs, find, union);
  pack([...bufs.values()]);
  let total = 0;
  for (const [id, v] of g.values) {
    if (!parent.has(id)) continue;
    const b = bufs.get(find(id))!;
    v.offset = b.offset;
    total = Math.max(total, b.offset + b.bytes);
  }
  g.arenaBytes = total;
  return g;
}

function fuseInPlace(g: Graph, parent: Map<number, number>, bufs: Map<number, Buffer>, find: (id: number) => number,
  union: (a: number, b: number) => void): void {
  g.steps.forEach((s, i) => {
    const pairs = INPLACE[s.op];
    if (!pairs) return;
    const used = new Set<number>();
    for (const [oi, ii] of pairs) {
      const o = s.outputs[oi], x = s.inputs[ii];
      if (o === undefined || x === undefined || !parent.has(o) || !parent.has(x)) continue;
      const vo = g.values.get(o)!, vx = g.values.get(x)!;
      const ro = find(o), rx = find(x);
      const bo = bufs.get(ro)!, bx = bufs.get(rx)!;
      if (ro === rx || used.has(rx) || bx.pinned || bo.pinned || bx.end !== i || bo.start !== i) continue;
      if (vo.dtype !== vx.dtype || valueBytes(vo) !== valueBytes(vx) || bo.bytes !== bx.bytes) continue;
      // a second reader of x in this step (another operand) is fine: the kernel reads element j before writing j
      union(x, o);
      used.add(find(x));
    }
  });
}

/** Greedy by size: each buffer at the best-fitting gap among the placed buffers it overlaps in time. */
function pack(bufs: Buffer[]): void {
  const order = [...bufs].sort((a, b) => b.bytes - a.bytes || a.start - b.start);
  const placed: Buffer[] = []; // kept sorted by offset, so no per-buffer sort
  const size = (b: Buffer) => Math.ceil(b.bytes / ALIGN) * ALIGN;
  for (const b of order) {
    const need = size(b);
    let best = -1, bestWaste = Infinity, at = 0;
    for (const p of placed) {
      if (p.start > b.end || b.start > p.end) continue; // not live at the same time
      const gap = p.offset - at;
      if (gap >= need && gap - need < bestWaste) {
        best = at;
        bestWaste = gap - need;
      }
      at = Math.max(at, p.offset + size(p));
    }
    b.offset = best >= 0 ? best : at;
    let lo = 0, hi = placed.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (placed[mid].offset <= b.offset) lo = mid + 1;
      else hi = mid;
    }
    placed.splice(lo, 0, b);
  }
}
