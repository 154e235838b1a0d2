/**
 * A reference interpreter of plan graphs on the CPU backend, for the pass suites: it runs
 * every step with the CPU kernels while storing each value the way the graph says a GPU
 * would hold it —
 *   dtype   a bf16/f16 value is kept as fp32 numbers rounded to bf16/f16 (round to nearest
 *           even); a step computes in fp32 from those rounded inputs and its low outputs are
 *           rounded again: what a bf16 kernel with fp32 accumulation stores, up to the order
 *           of its sums;
 *   layout  an NHWC value is kept in NHWC byte order. A step marked `layout: 'nhwc'` has its
 *           4-D operands turned back to NCHW around the CPU kernel (by the real reorder op);
 *           every other step reads the bytes as they are — so a missing or misplaced reorder
 *           gives wrong numbers, and an elementwise op that really is layout-agnostic gives
 *           right ones.
 * Bound values are copied first: the interpreter never writes a model's tensors.
 */
import { DType, native } from '../../ts/native/binding';
import { reorder } from '../../ts/ops/reorder';
import { Graph, Layout } from '../../ts/plan/graph';
import { empty, keep, tensor, Tensor, tidy } from '../../ts/tensor';

const LOW: Partial<Record<DType, (a: Float32Array) => void>> = { bfloat16: roundBf16, float16: roundF16 };

/** Rounds fp32 values to bfloat16 in place (nearest even). */
export function roundBf16(a: Float32Array): void {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < u.length; i++) u[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) & 0xffff0000) >>> 0;
}

function roundF16(a: Float32Array): void {
  for (let i = 0; i < a.length; i++) {
    const e = Math.max(Math.floor(Math.log2(Math.abs(a[i]) || 1)), -14);
    const ulp = 2 ** (e - 10);
    a[i] = Math.round(a[i] / ulp) * ulp; // Math.round ties up; fine for a test oracle of f16 (unused by the suites)
  }
}

const storeDtype = (d: DType): DType => (LOW[d] ? 'float32' : d);

/** Runs `g` once; returns every value's final tensor (CPU, logical shape, stored layout). Dispose them. */
export function interpret(g: Graph, feed: readonly (Float32Array | Int32Array)[], o: { round?: boolean } = {}): Map<number, Tensor> {
  const n = native();
  const rounding = o.round ?? true; // false: bf16 values keep their fp32 bits (checks the graph's plumbing alone)
  const vals = new Map<number, Tensor>();
  const layout = (id: number): Layout => g.values.get(id)!.layout ?? 'nchw';
  const round = (id: number) => {
    const f = LOW[g.values.get(id)!.dtype];
    if (!f || !rounding) return;
    const a = vals.get(id)!.toArray() as Float32Array;
    f(a);
    n.upload(vals.get(id)!.id, a);
  };
  for (const [id, v] of g.values) {
    if (!v.tensor) continue;
    const t = keep(empty(v.shape, v.tensor.dtype)); // a copy: the steps write bound state in place
    if (t.size) n.upload(t.id, v.tensor.toArray());
    vals.set(id, t);
  }
  g.inputs.forEach((id, i) => {
    vals.set(id, keep(tensor(feed[i], g.values.get(id)!.shape, { dtype: storeDtype(g.values.get(id)!.dtype) })));
    round(id);
  });
  const out = (id: number): Tensor => {
    let t = vals.get(id);
    if (!t) {
      const v = g.values.get(id)!;
      t = keep(empty(v.shape, storeDtype(v.dtype)));
      vals.set(id, t);
    }
    return t;
  };
  for (const s of g.steps) {
    if (s.op === 'reshape') {
      const v = g.values.get(s.outputs[0])!;
      vals.set(s.outputs[0], keep(tensor(vals.get(s.inputs[0])!.toArray(), v.shape, { dtype: storeDtype(v.dtype) })));
      continue;
    }
    const nhwc = s.attrs.layout === 'nhwc';
    const attrs = { ...s.attrs };
    delete attrs.layout;
    if (s.op === 'cast') {
      // emulated: the CPU has no bf16; a float → float cast is a copy and a rounding
      const [src, dst] = [s.inputs[0], s.outputs[0]];
      n.run(storeDtype(g.values.get(src)!.dtype) === storeDtype(g.values.get(dst)!.dtype) ? 'copy' : 'cast', [vals.get(src)!.id], [out(dst).id], {});
      round(dst);
      continue;
    }
    if (s.op === 'reorder') {
      n.run('reorder', [vals.get(s.inputs[0])!.id], [out(s.outputs[0]).id], attrs);
      round(s.outputs[0]);
      continue;
    }
    tidy(() => {
      // the NCHW view a CPU kernel needs of each 4-D operand of an NHWC step
      const nchw = (id: number) => (nhwc && vals.get(id)!.ndim === 4 && layout(id) === 'nhwc' ? reorder(vals.get(id)!, 'nhwc', 'nchw') : vals.get(id)!);
      const ins = s.inputs.map(nchw);
      const outs = s.outputs.map((id) => {
        const t = out(id);
        return nhwc && t.ndim === 4 && layout(id) === 'nhwc' ? nchw(id) : t;
      });
      n.run(s.op, ins.map((t) => t.id), outs.map((t) => t.id), attrs);
      s.outputs.forEach((id, i) => {
        if (outs[i] !== vals.get(id)) n.run('reorder', [outs[i].id], [vals.get(id)!.id], { from: 'nchw', to: 'nhwc' });
        round(id);
      });
    });
  }
  return vals;
}

/** A value's numbers in logical NCHW order, whatever its stored layout. */
export function logical(g: Graph, vals: Map<number, Tensor>, id: number): Float32Array {
  const t = vals.get(id)!;
  if ((g.values.get(id)!.layout ?? 'nchw') !== 'nhwc' || t.ndim !== 4) return Float32Array.from(t.toArray());
  return tidy(() => Float32Array.from(reorder(t, 'nhwc', 'nchw').toArray()));
}

export function disposeAll(vals: Map<number, Tensor>): void {
  for (const t of vals.values()) t.dispose();
}
