/**
 * The NHWC physical layout on CUDA as a pass over the plan IR (after passes/precision.ts).
 * Tensor cores want channels innermost, so inside a plan 4-D activations live as NHWC while
 * every logical shape stays NCHW: users, weights, checkpoints and ONNX never see it.
 *
 * One table says how each op treats the layout of its 4-D operands:
 *   nhwc   the op has an NHWC form: every 4-D operand (input and output, weights included:
 *          a convolution's filter as K·R·S·C) is NHWC and the step gets `layout: 'nhwc'`;
 *          used when the backend implements it (`ops`, default CUDA_NHWC_OPS)
 *   any    elementwise over operands of one shape (activations and their backwards, dropout,
 *          casts, copies): it runs on whatever layout its inputs share and needs no attribute;
 *          NHWC when any 4-D input is NHWC (the others are converted)
 *   binary add / sub / mul: `any` when the shapes agree; with broadcasting (a squeeze-excite
 *          scale [N, C, 1, 1] times a map) its NHWC form is `nhwc`
 *   nchw   everything else: 4-D inputs are converted back to NCHW first
 * Reorders are made once per (value, layout) before their first reader (passes/convert.ts);
 * plan inputs enter as NCHW and plan outputs leave as NCHW, so the reorders sit at the edges
 * of the NHWC region and at the few ops without an NHWC form. A value whose layouts coincide
 * (H·W = 1 or C = 1) is never reordered. Last, a cast whose only reader is a reorder becomes
 * part of it: reorder converts dtype on the way (a weight's fp32 NCHW master → its bf16 KRSC
 * copy, a bf16 NHWC weight gradient → fp32 NCHW for Adam) in one pass over memory.
 */
import { check } from '../../errors';
import type { Attrs } from '../../native/binding';
import { OpName } from '../../ops/names';
import { consumers, Graph, Layout, Pass, Step } from '../graph';
import { Conversions, layoutFree, layoutOf } from './convert';

export type LayoutRule = 'nhwc' | 'any' | 'binary' | 'nchw';

export const LAYOUT_POLICY: Record<OpName, LayoutRule> = {
  fill: 'nchw', copy: 'any', cast: 'any', reorder: 'nchw', winograd_weights: 'nchw',
  conv2d: 'nhwc', conv2d_act: 'nhwc', conv2d_bwd_data: 'nhwc', conv2d_bwd_filter: 'nhwc', linear: 'nchw', matmul: 'nchw',
  batchnorm_train: 'nhwc', batchnorm_eval: 'nhwc', batchnorm_bwd: 'nhwc', batchnorm_act_train: 'nhwc', batchnorm_act_bwd: 'nhwc',
  relu: 'any', relu_bwd: 'any', relu6: 'any', relu6_bwd: 'any', silu: 'any', silu_bwd: 'any',
  sigmoid: 'any', sigmoid_bwd: 'any', hardswish: 'any', hardswish_bwd: 'any',
  add: 'binary', sub: 'binary', mul: 'binary', affine: 'any',
  sum: 'nhwc', mean: 'nhwc', expand: 'nhwc',
  maxpool2d: 'nhwc', maxpool2d_bwd: 'nhwc', avgpool2d: 'nhwc', avgpool2d_bwd: 'nhwc',
  global_avgpool: 'nhwc', global_avgpool_bwd: 'nhwc',
  concat: 'nhwc', split: 'nhwc', channel_shuffle: 'nhwc', transpose: 'nchw', pad2d: 'nhwc', pad2d_bwd: 'nhwc',
  dropout: 'any', dropout_bwd: 'any',
  masked_xent_fwd_bwd: 'nchw', adam: 'nchw', sgd: 'nchw',
};

/**
 * The ops whose CUDA kernels take `layout: 'nhwc'` (test/cuda/mixed.test.ts checks each one
 * against the CPU on NCHW data). Ops with an NHWC form that are not listed run as NCHW,
 * between reorders, until their kernel exists.
 */
export const CUDA_NHWC_OPS: ReadonlySet<string> = new Set<OpName>([
  'conv2d', 'conv2d_act', 'conv2d_bwd_data', 'conv2d_bwd_filter', 'batchnorm_train', 'batchnorm_eval', 'batchnorm_bwd',
  'batchnorm_act_train', 'batchnorm_act_bwd',
  'add', 'sub', 'mul', 'global_avgpool', 'global_avgpool_bwd', 'concat', 'split', 'channel_shuffle',
  'maxpool2d', 'maxpool2d_bwd', 'avgpool2d', 'avgpool2d_bwd', 'sum', 'mean', 'expand',
]);

export interface NhwcOptions {
  /** ops the backend runs with `layout: 'nhwc'` (default CUDA_NHWC_OPS) */
  ops?: ReadonlySet<string>;
  /** the rule table (default LAYOUT_POLICY) */
  policy?: Readonly<Record<string, LayoutRule>>;
}

export function nhwc(o: NhwcOptions = {}): Pass {
  const capable = o.ops ?? CUDA_NHWC_OPS;
  const policy = o.policy ?? LAYOUT_POLICY;
  return (g: Graph): Graph => {
    // the CPU kernels do not read `layout`: an NHWC step there would compute garbage
    check(o.ops !== undefined || g.device.startsWith('cuda'), 'EPLAN', 'nhwc', `the NHWC layout pass targets CUDA plans, this one is on ${g.device}`);
    const conv = new Conversions(g);
    const steps: Step[] = [];
    const is4d = (id: number) => g.values.get(id)!.shape.length === 4;
    const anyNhwc = (ids: number[]) => ids.some((id) => is4d(id) && layoutOf(g.values.get(id)!) === 'nhwc' && !layoutFree(g.values.get(id)!.shape));
    for (const s of g.steps) {
      if (s.op === 'reorder') {
        // an earlier pass's reorder: it states its layouts itself
        steps.push(s);
        g.values.get(s.outputs[0])!.layout = s.attrs.to as Layout;
        continue;
      }
      // a reshape reads its input's bytes in logical order, unless it keeps the shape (a view the
      // copy elision left): that one passes any layout through
      const view = s.op === 'reshape' && g.values.get(s.inputs[0])!.shape.join() === g.values.get(s.outputs[0])!.shape.join();
      const [to, attr] = s.op === 'reshape' ? [view && anyNhwc(s.inputs) ? 'nhwc' as Layout : 'nchw' as Layout, false]
        : target(s, policy[s.op], capable.has(s.op), g, anyNhwc);
      const inputs = s.inputs.map((id) => (is4d(id) ? conv.layout(id, to, steps) : id));
      const after: Step[] = [];
      const outputs = s.outputs.map((id) => {
        const v = g.values.get(id)!;
        if (v.shape.length !== 4 || layoutOf(v) === to) return id;
        if (v.kind === 'temp') {
          v.layout = to;
          return id;
        }
        // a 4-D parameter written by an NHWC step: write NHWC, reorder into the parameter
        const tmp = conv.layout(id, to, []);
        after.push({ op: 'reorder', inputs: [tmp], outputs: [id], attrs: { from: to, to: layoutOf(v) } });
        return tmp;
      });
      let attrs = attr ? { ...s.attrs, layout: 'nhwc' } : s.attrs;
      // the NHWC max-pool backward gathers, so it needs its forward's window (docs/ops.md)
      if (attr && s.op === 'maxpool2d_bwd') attrs = { ...windowOf(g, steps, s.inputs[1]), ...attrs };
      steps.push({ ...s, inputs, outputs, attrs }, ...after);
      for (const id of s.outputs) conv.written(id);
    }
    g.outputs = g.outputs.map((id) => (is4d(id) ? conv.layout(id, 'nchw', steps) : id));
    g.steps = steps;
    fuseCastReorder(g);
    return g;
  };
}

/** kernel, stride, padding, ceil_mode of the max pool that produced `indices`. */
function windowOf(g: Graph, steps: Step[], indices: number): Attrs {
  const fwd = steps.find((s) => s.op === 'maxpool2d' && s.outputs[1] === indices);
  check(fwd !== undefined, 'EPLAN', 'nhwc', `maxpool2d_bwd reads indices ${g.values.get(indices)?.name ?? indices} that no maxpool2d of the plan made`);
  const { kernel, stride, padding, ceil_mode } = fwd!.attrs;
  return { kernel, stride, padding, ceil_mode };
}

/** The layout a step runs in, and whether it needs the `layout` attribute. */
function target(s: Step, rule: LayoutRule | undefined, capable: boolean, g: Graph, anyNhwc: (ids: number[]) => boolean): [Layout, boolean] {
  if (!rule) throw new Error(`nhwc: op '${s.op}' has no layout rule`);
  if (rule === 'nhwc') return capable ? ['nhwc', true] : ['nchw', false];
  if (rule === 'nchw') return ['nchw', false];
  const want: Layout = anyNhwc(s.inputs) ? 'nhwc' : 'nchw';
  if (rule === 'any') return [want, false];
  const shapes = [...s.inputs, ...s.outputs].map((id) => g.values.get(id)!.shape.join());
  if (shapes.every((x) => x === shapes[0])) return [want, false];
  return capable && want === 'nhwc' ? ['nhwc', true] : ['nchw', false];
}

/** cast(x) → reorder ⇒ one reorder that converts the dtype too, when the cast has no other reader. */
function fuseCastReorder(g: Graph): void {
  const readers = consumers(g);
  const producer = new Map<number, Step>();
  for (const s of g.steps) for (const o of s.outputs) producer.set(o, s);
  const drop = new Set<Step>();
  g.steps.forEach((s, i) => {
    if (s.op !== 'reorder') return;
    const c = producer.get(s.inputs[0]);
    if (c?.op !== 'cast' || g.values.get(c.outputs[0])!.kind !== 'temp') return;
    if ((readers.get(c.outputs[0]) ?? []).length !== 1 || g.outputs.includes(c.outputs[0])) return;
    // the reorder reads the cast's source later: nothing in between may write it
    const x = c.inputs[0];
    if (g.steps.slice(g.steps.indexOf(c) + 1, i).some((m) => m.outputs.includes(x))) return;
    g.values.delete(c.outputs[0]);
    s.inputs = [x];
    drop.add(c);
  });
  g.steps = g.steps.filter((s) => !drop.has(s));
}
