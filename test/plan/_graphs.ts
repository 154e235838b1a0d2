/**
 * Hand-built plan graphs for the pass suites, and the one they share: a whole training step
 * of a small residual net written out op by op as the recorder would record it —
 *   conv1 → BN1 → relu → maxpool → conv2 → BN2 → (+ pool, the shortcut) → relu →
 *   global average pool → flatten → linear → masked cross-entropy,
 * its backward (every op of docs/ops.md the tape would emit) and one Adam update of all
 * eight parameters. Values carry the names a dump would show.
 */
import { Attrs, DType } from '../../ts/native/binding';
import { OpName } from '../../ts/ops/names';
import { Graph, Value, ValueKind } from '../../ts/plan/graph';
import { tensor, Tensor, zeros } from '../../ts/tensor';
import { Rng } from '../helpers';

export class Builder {
  /** a CUDA plan by default (what the precision and layout passes target); the interpreter runs any graph on the CPU */
  readonly g: Graph;
  constructor(device = 'cuda:0') {
    this.g = { device, values: new Map(), steps: [], inputs: [], outputs: [], scalars: [] };
  }
  private next = 0;

  value(name: string, shape: number[], kind: ValueKind = 'temp', dtype: DType = 'float32', t?: Tensor): number {
    const id = this.next++;
    this.g.values.set(id, { id, name, shape, kind, dtype, ...(t ? { tensor: t } : {}) });
    if (kind === 'input') this.g.inputs.push(id);
    return id;
  }

  step(op: OpName | 'reshape', inputs: number[], outputs: number[], attrs: Attrs = {}): void {
    this.g.steps.push({ op, inputs, outputs, attrs });
  }

  get(id: number): Value {
    return this.g.values.get(id)!;
  }

  /** id of the value named `name` */
  id(name: string): number {
    for (const [id, v] of this.g.values) if (v.name === name) return id;
    throw new Error(`no value named ${name}`);
  }
}

export interface StepFixture {
  b: Builder;
  /** the bound tensors (parameters, BN statistics, Adam moments), to dispose */
  bound: Tensor[];
  /** plan input data in graph.inputs order */
  feed: (Float32Array | Int32Array)[];
}

/** The residual training step above: batch n of c×s×s images, f feature channels, k classes. */
export function residualStep(n = 4, c = 3, s = 8, f = 6, k = 3, seed = 7): StepFixture {
  const rng = new Rng(seed);
  const b = new Builder();
  const bound: Tensor[] = [];
  const param = (name: string, shape: number[], scale: number, fill?: number) => {
    const size = shape.reduce((x, y) => x * y, 1);
    const t = fill === undefined ? tensor(Float32Array.from(rng.array(size, -scale, scale)), shape) : tensor(new Float32Array(size).fill(fill), shape);
    bound.push(t);
    return b.value(name, shape, 'param', 'float32', t);
  };
  const h = s / 2;
  const x = b.value('images', [n, c, s, s], 'input');
  const y = b.value('labels', [n], 'input', 'int32');
  const m = b.value('mask', [n], 'input');
  const w1 = param('conv1.weight', [f, c, 3, 3], 0.4), g1 = param('bn1.weight', [f], 0, 1), b1 = param('bn1.bias', [f], 0, 0);
  const rm1 = param('bn1.running_mean', [f], 0, 0), rv1 = param('bn1.running_var', [f], 0, 1);
  const w2 = param('conv2.weight', [f, f, 3, 3], 0.3), g2 = param('bn2.weight', [f], 0, 1), b2 = param('bn2.bias', [f], 0, 0);
  const rm2 = param('bn2.running_mean', [f], 0, 0), rv2 = param('bn2.running_var', [f], 0, 1);
  const wl = param('fc.weight', [k, f], 0.5), bl = param('fc.bias', [k], 0.1);
  const t = (name: string, shape: number[], dtype: DType = 'float32') => b.value(name, shape, 'temp', dtype);
  const conv = { stride: [1, 1], padding: [1, 1], dilation: [1, 1], groups: 1 };
  const bn = { eps: 1e-5, momentum: 0.1 };
  // forward
  const c1 = t('c1', [n, f, s, s]), z1 = t('z1', [n, f, s, s]), mu1 = t('mean1', [f]), is1 = t('invstd1', [f]);
  b.step('conv2d', [x, w1], [c1], conv);
  b.step('batchnorm_train', [c1, g1, b1], [z1, mu1, is1, rm1, rv1], bn);
  const a1 = t('a1', [n, f, s, s]), p1 = t('p1', [n, f, h, h]), ix = t('pool_idx', [n, f, h, h], 'int32');
  b.step('relu', [z1], [a1]);
  b.step('maxpool2d', [a1], [p1, ix], { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceil_mode: false });
  const c2 = t('c2', [n, f, h, h]), z2 = t('z2', [n, f, h, h]), mu2 = t('mean2', [f]), is2 = t('invstd2', [f]);
  b.step('conv2d', [p1, w2], [c2], conv);
  b.step('batchnorm_train', [c2, g2, b2], [z2, mu2, is2, rm2, rv2], bn);
  const r = t('res', [n, f, h, h]), a2 = t('a2', [n, f, h, h]), gp = t('gap', [n, f, 1, 1]), fl = t('flat', [n, f]);
  b.step('add', [z2, p1], [r]);
  b.step('relu', [r], [a2]);
  b.step('global_avgpool', [a2], [gp]);
  b.step('reshape', [gp], [fl], { shape: [n, f] });
  const lo = t('logits', [n, k]), loss = t('loss', []), dlo = t('dlogits', [n, k]);
  b.step('linear', [fl, wl, bl], [lo]);
  b.step('masked_xent_fwd_bwd', [lo, y, m], [loss, dlo], { normalize: 'batch' });
  // backward
  const dfl = t('dflat', [n, f]), dwl = t('dfc.weight', [k, f]), dbl = t('dfc.bias', [k]);
  b.step('matmul', [dlo, wl], [dfl], { transA: false, transB: false });
  b.step('matmul', [dlo, fl], [dwl], { transA: true, transB: false });
  b.step('sum', [dlo], [dbl], { axes: [0], keepdim: false });
  const dgp = t('dgap', [n, f, 1, 1]), da2 = t('da2', [n, f, h, h]), dr = t('dres', [n, f, h, h]);
  b.step('reshape', [dfl], [dgp], { shape: [n, f, 1, 1] });
  b.step('global_avgpool_bwd', [dgp], [da2]);
  b.step('relu_bwd', [da2, a2], [dr]);
  const dc2 = t('dc2', [n, f, h, h]), dg2 = t('dbn2.weight', [f]), db2 = t('dbn2.bias', [f]);
  b.step('batchnorm_bwd', [dr, c2, g2, mu2, is2], [dc2, dg2, db2]);
  const dp1a = t('dp1_conv', [n, f, h, h]), dw2 = t('dconv2.weight', [f, f, 3, 3]), dp1 = t('dp1', [n, f, h, h]);
  b.step('conv2d_bwd_data', [dc2, w2], [dp1a], conv);
  b.step('conv2d_bwd_filter', [dc2, p1], [dw2], conv);
  b.step('add', [dr, dp1a], [dp1]);
  const da1 = t('da1', [n, f, s, s]), dz1 = t('dz1', [n, f, s, s]);
  b.step('maxpool2d_bwd', [dp1, ix], [da1]);
  b.step('relu_bwd', [da1, a1], [dz1]);
  const dc1 = t('dc1', [n, f, s, s]), dg1 = t('dbn1.weight', [f]), db1 = t('dbn1.bias', [f]), dw1 = t('dconv1.weight', [f, c, 3, 3]);
  b.step('batchnorm_bwd', [dz1, c1, g1, mu1, is1], [dc1, dg1, db1]);
  b.step('conv2d_bwd_filter', [dc1, x], [dw1], conv);
  // Adam over the eight parameters, moments as bound state
  const ps = [w1, g1, b1, w2, g2, b2, wl, bl], gs = [dw1, dg1, db1, dw2, dg2, db2, dwl, dbl];
  const moments = (tag: string) => ps.map((p) => {
    const z = zeros(b.get(p).shape);
    bound.push(z);
    return b.value(`adam.${tag}.${b.get(p).name}`, b.get(p).shape, 'param', 'float32', z);
  });
  const ms = moments('m'), vs = moments('v');
  b.step('adam', gs, [...ps, ...ms, ...vs], {
    lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4, decoupled: false, bias_correction1: 0.1, bias_correction2: 0.001,
  });
  b.g.outputs = [loss];
  const feed = [
    Float32Array.from(rng.array(n * c * s * s, -2, 2)),
    Int32Array.from({ length: n }, (_, i) => i % k),
    Float32Array.from({ length: n }, (_, i) => (i % 3 === 2 ? 0 : 1)),
  ];
  return { b, bound, feed };
}
