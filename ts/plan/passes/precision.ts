/**
 * Mixed precision as a pass over the plan IR, written like autocast: one table says, per op,
 * which dtype its float operands take, and the pass inserts the casts that make every step
 * read what its rule asks for.
 *
 *   lower    compute in the low dtype (bf16): convolutions and matmuls, where tensor cores
 *            pay; the kernels accumulate in fp32 (cuDNN/cuBLAS compute type float); a
 *            convolution's bias stays fp32 (fp32In: our kernel adds it in fp32)
 *   fp32     everything float in fp32: the loss (softmax + NLL), the optimisers (fp32
 *            master weights, fp32 Adam moments, gradients cast back to fp32 before the update)
 *   follow   the dtype of one activation operand (`of`, default 0), which the forward chose:
 *            activations, pooling, dropout, layout ops and their backwards keep the bf16 of
 *            the convolution they follow; the operands listed in fp32In / fp32Out stay fp32
 *            (BatchNorm's weight, bias, batch and running statistics: its kernels read bf16
 *            activations and reduce in fp32; sum and mean read bf16 and write fp32, so a bias
 *            gradient or a squeeze-excite gate's gradient is fp32 without an fp32 copy of the map)
 *   promote  the widest dtype among the float inputs (add, sub, mul, concat: a bf16
 *            residual plus an fp32 one is fp32, as autocast)
 *   keep     as recorded (fill, cast, reorder: they state their dtypes themselves)
 * Per-element arithmetic inside follow/promote kernels is fp32 in registers; only storage
 * is bf16.
 *
 * What the pass guarantees: parameters (fp32 masters), plan inputs and constants keep their
 * dtype; a parameter's bf16 copy is made once per step, before its first reader, and again
 * only after a step writes the parameter; casts sit only at edges between steps of
 * different dtypes and never chain; plan outputs keep their recorded dtype. An op the
 * backend cannot run in the low dtype (`lowOps`) falls back to fp32 with casts around it.
 */
import { check } from '../../errors';
import { DType } from '../../native/binding';
import { OpName } from '../../ops/names';
import { addValue, Graph, Pass, Step } from '../graph';
import { Conversions, isFloat } from './convert';

export type DtypeRule =
  | { rule: 'fp32' | 'keep' }
  | { rule: 'lower'; fp32In?: readonly number[] }
  | { rule: 'follow'; of?: number; fp32In?: readonly number[]; fp32Out?: readonly number[] }
  | { rule: 'promote' };

const LOWER: DtypeRule = { rule: 'lower' };
const FP32: DtypeRule = { rule: 'fp32' };
const KEEP: DtypeRule = { rule: 'keep' };
const FOLLOW: DtypeRule = { rule: 'follow' };
const PROMOTE: DtypeRule = { rule: 'promote' };
/** a backward that reads dy (input 0) and the forward's x or y (input 1): the forward's dtype decides */
const FOLLOW_SAVED: DtypeRule = { rule: 'follow', of: 1 };

/** The dtype policy: one row per op (docs/ops.md names the operands the indices refer to). */
export const DTYPE_POLICY: Record<OpName, DtypeRule> = {
  fill: KEEP, copy: FOLLOW, cast: KEEP, reorder: KEEP, winograd_weights: KEEP,
  conv2d: { rule: 'lower', fp32In: [2] }, conv2d_act: { rule: 'lower', fp32In: [2] }, conv2d_bwd_data: LOWER, conv2d_bwd_filter: LOWER, linear: LOWER, matmul: LOWER,
  // x, weight, bias → y, save_mean, save_invstd, running_mean, running_var
  batchnorm_train: { rule: 'follow', fp32In: [1, 2], fp32Out: [1, 2, 3, 4] },
  // x, weight, bias, running_mean, running_var → y
  batchnorm_eval: { rule: 'follow', fp32In: [1, 2, 3, 4] },
  // dy, x, weight, save_mean, save_invstd → dx, dweight, dbias
  batchnorm_bwd: { rule: 'follow', of: 1, fp32In: [2, 3, 4], fp32Out: [1, 2] },
  // x, weight, bias[, residual] → as batchnorm_train
  batchnorm_act_train: { rule: 'follow', fp32In: [1, 2], fp32Out: [1, 2, 3, 4] },
  // dy, y, x, weight, save_mean, save_invstd → dx, dweight, dbias[, dz]
  batchnorm_act_bwd: { rule: 'follow', of: 2, fp32In: [3, 4, 5], fp32Out: [1, 2] },
  relu: FOLLOW, relu6: FOLLOW, silu: FOLLOW, sigmoid: FOLLOW, hardswish: FOLLOW,
  relu_bwd: FOLLOW_SAVED, relu6_bwd: FOLLOW_SAVED, silu_bwd: FOLLOW_SAVED, sigmoid_bwd: FOLLOW_SAVED, hardswish_bwd: FOLLOW_SAVED,
  add: PROMOTE, sub: PROMOTE, mul: PROMOTE, affine: FOLLOW,
  sum: { rule: 'follow', fp32Out: [0] }, mean: { rule: 'follow', fp32Out: [0] }, expand: FOLLOW,
  maxpool2d: FOLLOW, maxpool2d_bwd: FOLLOW, avgpool2d: FOLLOW, avgpool2d_bwd: FOLLOW,
  global_avgpool: FOLLOW, global_avgpool_bwd: FOLLOW,
  concat: PROMOTE, split: FOLLOW, channel_shuffle: FOLLOW, transpose: FOLLOW, pad2d: FOLLOW, pad2d_bwd: FOLLOW,
  dropout: FOLLOW, dropout_bwd: FOLLOW,
  masked_xent_fwd_bwd: FP32,
  adam: FP32, sgd: FP32,
};

/**
 * The ops the CUDA backend runs in bf16 (with 4-D activations in NHWC, passes/nhwc.ts);
 * every other op falls back to fp32 under the policy. test/cuda/mixed.test.ts runs each one
 * in bf16 against the fp32 CPU reference, so this list cannot claim a kernel that is not there.
 */
export const CUDA_LOW_OPS: ReadonlySet<OpName | 'reshape'> = new Set<OpName | 'reshape'>([
  'reshape', 'copy', 'conv2d', 'conv2d_act', 'conv2d_bwd_data', 'conv2d_bwd_filter',
  'batchnorm_train', 'batchnorm_bwd', 'batchnorm_eval', 'batchnorm_act_train', 'batchnorm_act_bwd',
  'relu', 'relu_bwd', 'relu6', 'relu6_bwd', 'silu', 'silu_bwd', 'sigmoid', 'sigmoid_bwd', 'hardswish', 'hardswish_bwd',
  'add', 'sub', 'mul', 'global_avgpool', 'global_avgpool_bwd', 'concat', 'split', 'channel_shuffle',
  'maxpool2d', 'maxpool2d_bwd', 'avgpool2d', 'avgpool2d_bwd', 'sum', 'mean', 'expand', 'affine',
]);

export interface PrecisionOptions {
  /** the low dtype of 'lower' ops (default bfloat16) */
  low?: 'bfloat16' | 'float16';
  /** ops the target backend runs in the low dtype (default CUDA_LOW_OPS) */
  lowOps?: ReadonlySet<string>;
  /** the rule table (default DTYPE_POLICY) */
  policy?: Readonly<Record<string, DtypeRule>>;
}

/** The pass: mixed precision after the policy (pure Graph → Graph; mutates and returns its argument). */
export function precision(o: PrecisionOptions = {}): Pass {
  const low = o.low ?? 'bfloat16';
  const lowOps = o.lowOps ?? CUDA_LOW_OPS;
  const policy = o.policy ?? DTYPE_POLICY;
  return (g: Graph): Graph => {
    // the CPU kernels are fp32 only (their bf16 would be an error at run time, not a fallback)
    check(o.lowOps !== undefined || g.device.startsWith('cuda'), 'EPLAN', 'precision', `bf16 mixed precision targets CUDA plans, this one is on ${g.device}`);
    const recorded = new Map([...g.values].map(([id, v]) => [id, v.dtype]));
    const conv = new Conversions(g);
    const steps: Step[] = [];
    for (const s of g.steps) {
      const rule: DtypeRule = s.op === 'reshape' ? FOLLOW : policy[s.op];
      if (!rule) throw new Error(`precision: op '${s.op}' has no dtype rule`);
      // a reshape is a view (no kernel): it always keeps its input's dtype
      const dt = computeDtype(g, s, rule, low, s.op === 'reshape' || lowOps.has(s.op));
      if (dt === null) {
        steps.push(s);
        for (const o of s.outputs) conv.written(o);
        continue;
      }
      const fixedIn = new Set('fp32In' in rule ? rule.fp32In ?? [] : []);
      const fixedOut = new Set(rule.rule === 'follow' ? rule.fp32Out ?? [] : []);
      const inputs = s.inputs.map((id, i) =>
        isFloat(g.values.get(id)!) ? conv.dtype(id, fixedIn.has(i) ? 'float32' : dt, steps) : id);
      const after: Step[] = [];
      const outputs = s.outputs.map((id, i) => {
        const v = g.values.get(id)!;
        const want = fixedOut.has(i) ? 'float32' : dt;
        if (!isFloat(v) || v.dtype === want) return id;
        if (v.kind === 'temp') {
          v.dtype = want;
          return id;
        }
        // a parameter written by a low step: write a temporary, cast it into the parameter
        const tmp = addValue(g, { shape: [...v.shape], dtype: want, kind: 'temp', ...(v.layout ? { layout: v.layout } : {}) }).id;
        after.push({ op: 'cast', inputs: [tmp], outputs: [id], attrs: {} });
        return tmp;
      });
      steps.push({ ...s, inputs, outputs }, ...after);
      for (const id of s.outputs) conv.written(id);
    }
    // plan outputs are read back as recorded
    g.outputs = g.outputs.map((id) => conv.dtype(id, recorded.get(id)!, steps));
    g.steps = steps;
    return g;
  };
}

/** The step's compute dtype, or null when the step keeps its dtypes as recorded. */
function computeDtype(g: Graph, s: Step, rule: DtypeRule, low: DType, canLow: boolean): DType | null {
  const dtypeOf = (id: number) => g.values.get(id)!.dtype;
  const floats = (skip: ReadonlySet<number>) => s.inputs.filter((id, i) => !skip.has(i) && isFloat(g.values.get(id)!)).map(dtypeOf);
  const lowIf = (b: boolean): DType => (b && canLow ? low : 'float32');
  switch (rule.rule) {
    case 'keep':
      return null;
    case 'lower':
      return lowIf(true);
    case 'fp32':
      return 'float32';
    case 'promote': {
      const f = floats(new Set());
      return f.length ? lowIf(f.every((d) => d === low)) : null;
    }
    case 'follow': {
      const id = s.inputs[rule.of ?? 0];
      if (id === undefined || !isFloat(g.values.get(id)!)) return lowIf(floats(new Set(rule.fp32In ?? [])).some((d) => d === low));
      return lowIf(dtypeOf(id) === low);
    }
  }
}
