/**
 * The training step and the evaluation forward of train(), compiled (DESIGN §2 "planned",
 * ts/plan) unless `eager` is set. A compiled training step is forward, Eq. 2, backward and
 * the Adam update recorded once per batch shape and replayed natively; the evaluation
 * forward is the model in eval mode without autograd, recorded per batch shape too, as an
 * inference plan with BatchNorm folded by steps of the plan (EVAL_PASSES). The step equals
 * the eager one (test/plan/step.test.ts); the evaluation equals it to float32 rounding (the
 * folded weights round differently; test/plan/fold_bn_live.test.ts), so `eager` changes
 * speed, not results (test/train/planned.test.ts).
 *
 *   const arena = new ArenaGroup();   // training and evaluation never run at once: one arena
 *   const step = trainStep(net, opt, { ...lossCfg, eager: false }, arena);
 *   const loss = step.run(batch);   ...   step.dispose();
 */
import { backward, noGrad } from '../autograd/tape';
import type { Batch, BatchTensors } from '../data/loader';
import { toTensors } from '../data/loader';
import { Linear } from '../nn/layers';
import type { Adam } from '../optim/adam';
import { ArenaGroup } from '../plan/executor';
import { dce } from '../plan/passes/dce';
import { foldBatchNormLive } from '../plan/passes/fold_bn_live';
import { fuseConvAct } from '../plan/passes/fuse_conv_act';
import { fuseConvResidual } from '../plan/passes/fuse_conv_residual';
import { memory } from '../plan/passes/memory';
import { CompiledStep, StepInput } from '../plan/step';
import { Tensor, tidy } from '../tensor';
import type { TrainConfig } from './config';
import { mseTargets, stepLoss, type TaskNet } from './models';

type LossCfg = Pick<TrainConfig, 'afcLoss' | 'lossNormalize' | 'device' | 'eager'> & Partial<Pick<TrainConfig, 'precision'>>;

export interface TrainStep {
  /** one optimisation step on the batch; returns the loss */
  run(b: Batch): number;
  dispose(): void;
}

export interface EvalForward {
  /**
   * The logits of each head the model has, on the host. `once`: this batch's shape is not
   * expected again (the test pass's last batch): without a plan for it, run it eagerly rather
   * than record one (a recording costs an eager forward, the passes and a replay).
   */
  run(b: Batch, once?: boolean): { afc?: Float32Array; bx?: Float32Array };
  /** plans recorded so far (0 when eager), for tests and logs */
  readonly recordings: number;
  dispose(): void;
}

/** Classes of the AFC head (the τ1 MSE's one-hot width): the last Linear of `afc_head` or `head`. */
function afcClasses(net: TaskNet): number {
  let c = 0;
  for (const [name, m] of net.module.namedModules()) if (m instanceof Linear && /^(afc_head|head)\./.test(name)) c = m.outFeatures;
  return c;
}

/** The batch as step inputs: images, τ1 labels and mask, τ2 labels and mask (+ the MSE's targets and weights). */
function batchInputs(b: Batch): StepInput[] {
  const n = b.n;
  const ins: StepInput[] = [
    { data: b.images, shape: [n, 3, b.size, b.size] },
    { data: b.labels.afc, shape: [n] }, { data: b.masks.afc, shape: [n] },
    { data: b.labels.bx, shape: [n] }, { data: b.masks.bx, shape: [n] },
  ];
  return ins;
}

/**
 * The step of train(): `eager` runs op by op inside tidy; otherwise a CompiledStep.
 *
 * @example const step = trainStep(net, opt, { afcLoss: 'ce', lossNormalize: 'batch', device: 'cpu', eager: false });
 */
export function trainStep(net: TaskNet, opt: Adam, cfg: LossCfg, arena?: ArenaGroup): TrainStep {
  const eagerStep = (t: BatchTensors, b: Batch, mse?: { y: Tensor; w: Tensor }) => {
    const l = stepLoss(net.forward(t.images), t, b, cfg, mse);
    backward(l);
    opt.step();
    opt.zeroGrad();
    return l;
  };
  if (cfg.eager) {
    return {
      run: (b) => tidy(() => eagerStep(toTensors(b, cfg.device), b).item()),
      dispose: () => undefined,
    };
  }
  const C = cfg.afcLoss === 'mse' ? afcClasses(net) : 0;
  let current: Batch | undefined;
  const step = new CompiledStep((ins) => {
    const [images, afcLabels, afcMask, bxLabels, bxMask, y, w] = ins;
    const t = { images, afcLabels, afcMask, bxLabels, bxMask } as BatchTensors;
    return [eagerStep(t, current!, C ? { y, w } : undefined)];
  }, { device: cfg.device, arena, precision: cfg.precision ?? 'fp32', cudaGraph: process.env.MDMT_CUDA_GRAPH === '1' });
  return {
    run(b: Batch): number {
      current = b;
      const ins = batchInputs(b);
      if (C) {
        const { y, w } = mseTargets(b, C, cfg.lossNormalize);
        ins.push({ data: y, shape: [b.n, C] }, { data: w, shape: [b.n, C] });
      }
      return tidy(() => step.run(ins)[0].item());
    },
    dispose: () => step.dispose(),
  };
}

/**
 * The evaluation plan's passes: an inference plan's (ts/models/inference.ts) with BatchNorm
 * folded by steps of the plan (fold_bn_live.ts) instead of a snapshot, since training changes
 * the weights between evaluations; then the conv epilogues (residual add, activation) fused.
 * Winograd weights are transformed by the conv per call (not a snapshot either).
 */
export const EVAL_PASSES = [foldBatchNormLive, fuseConvResidual, fuseConvAct, dce, memory];

/**
 * The evaluation forward of train() (eval mode, no autograd): eager or compiled (EVAL_PASSES).
 *
 * @example const fwd = evalForward(net, { ...cfg }); const { afc } = fwd.run(batch);
 */
export function evalForward(net: TaskNet, cfg: Pick<TrainConfig, 'device' | 'eager'>, arena?: ArenaGroup): EvalForward {
  const heads = (o: { afc?: Tensor; bx?: Tensor }) => [o.afc, o.bx].filter((t): t is Tensor => t !== undefined);
  const eager = (b: Batch) => tidy(() => noGrad(() => {
    const y = net.forward(toTensors(b, cfg.device).images);
    return { afc: y.afc?.toArray() as Float32Array | undefined, bx: y.bx?.toArray() as Float32Array | undefined };
  }));
  if (cfg.eager) return { run: eager, recordings: 0, dispose: () => undefined };
  let names: ('afc' | 'bx')[] = [];
  const step = new CompiledStep(([x]) => noGrad(() => {
    const y = net.forward(x);
    names = (['afc', 'bx'] as const).filter((k) => y[k] !== undefined);
    return heads(y);
  }), { device: cfg.device, arena, passes: EVAL_PASSES });
  return {
    get recordings() {
      return step.recordings;
    },
    run(b: Batch, once?: boolean) {
      const ins = [{ data: b.images, shape: [b.n, 3, b.size, b.size] }];
      if (once && !step.has(ins)) return eager(b);
      const made = step.recordings;
      let outs = step.run(ins);
      // a recording run returns the eager forward's logits, which round differently from the
      // folded plan's: replay at once, so every evaluation (and a resumed run's) sees the plan's
      if (step.recordings !== made) outs = step.run(ins);
      const r: { afc?: Float32Array; bx?: Float32Array } = {};
      names.forEach((k, i) => (r[k] = outs[i].toArray() as Float32Array));
      return r;
    },
    dispose: () => step.dispose(),
  };
}
