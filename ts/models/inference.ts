/**
 * Inference plans: a model's eval-mode forward traced once (as for ONNX export) and
 * replayed op by op without the module tree, with the graph rewrites an inference engine
 * does: BatchNorm folded into the preceding convolution (w' = w·γ/√(σ²+ε),
 * b' = (b − μ)·γ/√(σ²+ε) + β, when the conv output feeds only that BN) and every
 * intermediate freed right after its last use. Folded weights are a snapshot taken at
 * compile time; other parameters are the module's live tensors. The plan runs inputs of
 * the traced C×H×W at any batch size, without autograd.
 *
 *   const plan = compileInference(getModel('resnet50', { withClassifier: false }), { inputShape: [1, 3, 256, 256] });
 *   const feats = plan.run(x) as Tensor;  ...  plan.dispose();
 */
import { noGrad } from '../autograd/tape';
import { check, MdmtError } from '../errors';
import { Attrs, native } from '../native/binding';
import { Module } from '../nn/module';
import { OpName } from '../ops/names';
import { observeOps, OpCall, runOp } from '../ops/op';
import { keep, tensor, Tensor, tidy } from '../tensor';

type Ref = { kind: 'input' } | { kind: 'const'; t: Tensor } | { kind: 'value'; id: number };

interface Step {
  op: OpName | 'reshape';
  inputs: Ref[];
  attrs: Attrs;
  outputs: { id: number; shape: number[]; dtype: Tensor['dtype'] }[];
  /** values whose last use is this step (freed after it) */
  free: number[];
}

export interface CompileOptions {
  /** traced input shape N×C×H×W (default [1, 3, 224, 224]); the plan accepts any N */
  inputShape?: readonly number[];
  /** fold eval BatchNorm into the preceding conv (default true) */
  foldBatchNorm?: boolean;
}

export interface InferencePlan {
  /** Runs the plan: a Tensor, or an object of Tensors for models that return one (MDMTModel). */
  run(x: Tensor): Tensor | Record<string, Tensor>;
  /** op counts after the rewrites, e.g. { conv2d: 20, batchnorm_eval: 0, ... } */
  readonly ops: Record<string, number>;
  readonly foldedBatchNorms: number;
  dispose(): void;
}

/** γ/√(σ²+ε) folded into conv weights and bias (host-side, float64 then float32). */
function foldConvBn(conv: OpCall, bn: OpCall): [Tensor, Tensor] {
  const [w, b] = [conv.inputs[1], conv.inputs[2] ?? null];
  const [, gamma, beta, mean, variance] = bn.inputs;
  const eps = bn.attrs.eps as number;
  const K = w.shape[0], per = w.size / K;
  const wa = w.toArray(), ba = b ? b.toArray() : null;
  const g = gamma.toArray(), be = beta.toArray(), mu = mean.toArray(), v = variance.toArray();
  const w2 = new Float32Array(w.size), b2 = new Float32Array(K);
  for (let k = 0; k < K; k++) {
    const s = g[k] / Math.sqrt(v[k] + eps);
    for (let j = 0; j < per; j++) w2[k * per + j] = wa[k * per + j] * s;
    b2[k] = ((ba ? ba[k] : 0) - mu[k]) * s + be[k];
  }
  return [keep(tensor(w2, w.shape, { device: w.device })), keep(tensor(b2, [K], { device: w.device }))];
}

/**
 * Traces `model` in eval mode (mode restored after) and returns a replayable plan.
 *   const plan = compileInference(new MDMTModel('densenet121'), { inputShape: [8, 3, 256, 256] });
 */
export function compileInference(model: Module, o: CompileOptions = {}): InferencePlan {
  const shape = [...(o.inputShape ?? [1, 3, 224, 224])];
  check(shape.length === 4 && shape.every((d) => Number.isInteger(d) && d > 0), 'EINVAL', 'compileInference', `inputShape must be 4 positive integers, got [${shape}]`);
  const wasTraining = model.training;
  model.eval();
  const owned = new Set<Tensor>(model.stateDict().values());
  const consts: Tensor[] = [];
  const steps: Step[] = [];
  let out: [string | null, number][] = [];
  let folded = 0;
  try {
    tidy(() => {
      const x = tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, { device: model.parameters()[0]?.device });
      const calls: OpCall[] = [];
      const stop = observeOps((c) => calls.push({ ...c, inputs: [...c.inputs], outputs: [...c.outputs] }));
      let y: unknown;
      try {
        y = noGrad(() => model.forward(x));
      } finally {
        stop();
      }
      // uses of each traced tensor, to find conv outputs consumed by one BN only
      const uses = new Map<Tensor, number>();
      for (const c of calls) for (const t of c.inputs) uses.set(t, (uses.get(t) ?? 0) + 1);
      const outputs: [string | null, Tensor][] = y instanceof Tensor ? [[null, y]] : Object.entries(y as Record<string, Tensor>);
      for (const [, t] of outputs) uses.set(t, (uses.get(t) ?? 0) + 1);
      const ids = new Map<Tensor, number>();
      let next = 0;
      const ref = (t: Tensor): Ref => {
        if (t === x) return { kind: 'input' };
        const id = ids.get(t);
        if (id !== undefined) return { kind: 'value', id };
        if (owned.has(t)) return { kind: 'const', t };
        const c = keep(t.to(t.device)); // a constant made during the forward: keep a copy
        consts.push(c);
        return { kind: 'const', t: c };
      };
      const bind = (t: Tensor) => {
        ids.set(t, next);
        return { id: next++, shape: [...t.shape], dtype: t.dtype };
      };
      const skip = new Set<OpCall>();
      for (let i = 0; i < calls.length; i++) {
        const c = calls[i];
        if (skip.has(c) || c.op === 'fill') continue;
        if (c.op === 'dropout' || c.op === 'batchnorm_train') throw new MdmtError('EINVAL', 'compileInference', `'${c.op}' ran during the trace: the model is not in eval mode`);
        const bn = calls.slice(i + 1).find((d) => d.op === 'batchnorm_eval' && d.inputs[0] === c.outputs[0]);
        if ((o.foldBatchNorm ?? true) && c.op === 'conv2d' && bn && uses.get(c.outputs[0]) === 1) {
          const [w, b] = foldConvBn(c, bn);
          consts.push(w, b);
          steps.push({ op: 'conv2d', inputs: [ref(c.inputs[0]), { kind: 'const', t: w }, { kind: 'const', t: b }], attrs: c.attrs, outputs: [bind(bn.outputs[0])], free: [] });
          skip.add(bn);
          folded++;
          continue;
        }
        steps.push({ op: c.op, inputs: c.inputs.map(ref), attrs: c.attrs, outputs: c.outputs.map(bind), free: [] });
      }
      out = outputs.map(([k, t]) => {
        const r = ref(t);
        if (r.kind !== 'value') throw new MdmtError('ENOTIMPL', 'compileInference', 'the model output is not computed by an op');
        return [k, r.id];
      });
    });
  } finally {
    model.train(wasTraining);
  }
  // liveness: free each value after its last reader (outputs are never freed)
  const last = new Map<number, Step>();
  for (const s of steps) for (const r of s.inputs) if (r.kind === 'value') last.set(r.id, s);
  const keepIds = new Set(out.map(([, id]) => id));
  for (const [id, s] of last) if (!keepIds.has(id)) s.free.push(id);
  // values nobody reads (maxpool indices) go right after the step that made them
  for (const s of steps) for (const q of s.outputs) if (!last.has(q.id) && !keepIds.has(q.id)) s.free.push(q.id);
  const traced = shape[0];
  const ops: Record<string, number> = {};
  for (const s of steps) ops[s.op] = (ops[s.op] ?? 0) + 1;
  const n = native();
  let disposed = false;

  return {
    ops,
    foldedBatchNorms: folded,
    run(x: Tensor): Tensor | Record<string, Tensor> {
      check(!disposed, 'EDISPOSED', 'InferencePlan.run', 'the plan has been disposed');
      check(x.ndim === 4 && x.shape.slice(1).every((d, i) => d === shape[i + 1]), 'ESHAPE', 'InferencePlan.run',
        `input [${x.shape}] must be N×${shape.slice(1).join('×')} (the traced shape)`);
      const N = x.shape[0];
      const vals: (Tensor | undefined)[] = [];
      const get = (r: Ref) => (r.kind === 'input' ? x : r.kind === 'const' ? r.t : vals[r.id]!);
      const batched = (s: number[]) => (s.length && s[0] === traced ? [N, ...s.slice(1)] : s);
      try {
        for (const s of steps) {
          const ins = s.inputs.map(get);
          if (s.op === 'reshape') {
            const shp = batched(s.outputs[0].shape);
            vals[s.outputs[0].id] = new Tensor(n.view(ins[0].id, shp), shp, ins[0].dtype, ins[0].device);
          } else {
            const ys = runOp(s.op, ins, s.attrs, s.outputs.map((q) => ({ shape: batched(q.shape), dtype: q.dtype })));
            s.outputs.forEach((q, i) => (vals[q.id] = ys[i]));
          }
          for (const id of s.free) {
            vals[id]?.dispose();
            vals[id] = undefined;
          }
        }
      } catch (e) {
        for (const t of vals) t?.dispose();
        throw e;
      }
      const res = out.map(([k, id]) => [k, vals[id]!] as const);
      return res.length === 1 && res[0][0] === null ? res[0][1] : (Object.fromEntries(res) as Record<string, Tensor>);
    },
    dispose(): void {
      disposed = true;
      for (const t of consts) t.dispose();
    },
  };
}
