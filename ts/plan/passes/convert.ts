/**
 * The conversion steps of the precision and layout passes (passes/precision.ts: `cast` to
 * another dtype; passes/nhwc.ts: `reorder` to another physical layout), with the rules both
 * keep:
 *   - once per step: a value is converted to a given target at most once, by a step placed
 *     just before the first step that needs it (a weight's bf16 copy serves the forward and
 *     the backward convolution alike);
 *   - no chains: converting a conversion's output starts again from its source, so x →
 *     bf16 → fp32 gives back x itself, never a copy of a copy;
 *   - fresh after a write: when a step writes a value in place (Adam on a weight, BatchNorm
 *     on its running statistics), conversions made before the write are stale and the next
 *     reader gets a new one.
 * A value whose layouts coincide byte for byte (H·W = 1 or C = 1: the [N, C, 1, 1] of a
 * pooled feature, the weight of a 1×1 convolution) needs no layout conversion at all.
 */
import { DType } from '../../native/binding';
import { addValue, Graph, Layout, Step, Value } from '../graph';

export const layoutOf = (v: Pick<Value, 'layout'>): Layout => v.layout ?? 'nchw';

/** True when a 4-D shape has the same bytes in every layout without blocking (H·W = 1 or C = 1). */
export function layoutFree(shape: readonly number[]): boolean {
  return shape.length !== 4 || shape[2] * shape[3] === 1 || shape[1] === 1;
}

export const FLOAT_DTYPES: readonly DType[] = ['float32', 'bfloat16', 'float16'];
export const isFloat = (v: Pick<Value, 'dtype'>): boolean => FLOAT_DTYPES.includes(v.dtype);

type Mode = { kind: 'dtype'; to: DType } | { kind: 'layout'; to: Layout };

export class Conversions {
  private readonly made = new Map<string, number>(); // `${source}|${target}` → converted value
  private readonly source = new Map<number, number>(); // converted value → its source
  /** conversion steps emitted, for tests and dumps */
  count = 0;

  constructor(private readonly g: Graph) {}

  /** `id` as dtype `to`: itself, an earlier cast, or a new `cast` step appended to `out`. */
  dtype(id: number, to: DType, out: Step[]): number {
    return this.convert(id, { kind: 'dtype', to }, out);
  }

  /** `id` in layout `to`: itself, an earlier conversion, or a new `reorder` (or view) step appended to `out`. */
  layout(id: number, to: Layout, out: Step[]): number {
    return this.convert(id, { kind: 'layout', to }, out);
  }

  /** A step wrote `id` in place: conversions made from it before are stale. */
  written(id: number): void {
    for (const [k, v] of this.made) if (Number(k.slice(0, k.indexOf('|'))) === id) {
      this.made.delete(k);
      this.source.delete(v);
    }
  }

  /** The value a conversion was made from (itself when it is not a conversion). */
  sourceOf(id: number): number {
    return this.source.get(id) ?? id;
  }

  private convert(id: number, m: Mode, out: Step[]): number {
    // a value whose layouts coincide byte for byte serves every layout as it is
    const have = (v: Value) => (m.kind === 'dtype' ? v.dtype === m.to : layoutOf(v) === m.to || layoutFree(v.shape));
    if (have(this.value(id))) return id;
    const src = this.sourceOf(id);
    const from = this.value(src);
    if (have(from)) return src;
    const key = `${src}|${m.to}`;
    const done = this.made.get(key);
    if (done !== undefined) return done;
    const v = addValue(this.g, {
      shape: [...from.shape], kind: 'temp', dtype: m.kind === 'dtype' ? m.to : from.dtype,
      ...(m.kind === 'layout' ? { layout: m.to } : from.layout ? { layout: from.layout } : {}),
      ...(from.name ? { name: `${from.name}@${m.to}` } : {}),
    });
    if (m.kind === 'dtype') out.push({ op: 'cast', inputs: [src], outputs: [v.id], attrs: {} });
    else out.push({ op: 'reorder', inputs: [src], outputs: [v.id], attrs: { from: layoutOf(from), to: m.to } });
    this.made.set(key, v.id);
    this.source.set(v.id, src);
    this.count++;
    return v.id;
  }

  private value(id: number): Value {
    const v = this.g.values.get(id);
    if (!v) throw new Error(`conversion of unknown value ${id}`);
    return v;
  }
}
