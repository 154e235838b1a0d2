/**
 * Evaluation of a model on a set of records: forward passes in eval mode without recording
 * (noGrad, every batch inside tidy), logits copied to the host, and the per-task losses,
 * predictions and paper metrics computed there in float64. The losses are the ones training
 * minimises (Eq. 2 per task: cross-entropy, or the authors' MSE on logits for τ1), so the
 * validation numbers that drive ReduceLROnPlateau and best-model selection are on the
 * training loss's scale.
 *
 *   const ev = await evaluateModel(net, valLoader, { afcLoss: 'ce', lossNormalize: 'batch', device: 'cpu' });
 *   ev.afc?.loss; ev.total; ev.afc?.metrics.acc
 */
import { noGrad } from '../autograd/tape';
import type { Loader } from '../data/loader';
import { toTensors } from '../data/loader';
import { fewOf, MdmtError, show } from '../errors';
import { tidy } from '../tensor';
import { throwIfAborted } from './abort';
import { evaluate, type Evaluation } from './metrics';
import type { TaskNet } from './models';
import type { EvalForward } from './step';

/** One task's evaluation: mean loss over its samples, metrics and raw predictions. */
export interface TaskEval {
  /** mean per-sample loss over this task's samples */
  loss: number;
  /** summed per-sample loss (for the Eq. 2 batch normalisation) */
  lossSum: number;
  n: number;
  metrics: Evaluation;
  yTrue: number[];
  yPred: number[];
  /** per-sample logits of this head (calibration, stored test predictions) */
  logits: number[][];
  /** record id of each sample */
  ids: string[];
}

export interface ModelEval {
  afc?: TaskEval;
  bx?: TaskEval;
  /** Eq. 2 over the whole set: (Σℓ_afc + Σℓ_bx)/N ('batch') or mean_afc + mean_bx ('masked') */
  total: number;
}

/** Cross-entropy of one row: logsumexp(z) − z_y, in float64. */
export function ceRow(z: ArrayLike<number>, off: number, C: number, y: number): number {
  let mx = -Infinity;
  for (let j = 0; j < C; j++) mx = Math.max(mx, z[off + j]);
  let s = 0;
  for (let j = 0; j < C; j++) s += Math.exp(z[off + j] - mx);
  return mx + Math.log(s) - z[off + y];
}

/** The authors' τ1 MSE of one row: mean over classes of (z_j − onehot_j)². */
export function mseRow(z: ArrayLike<number>, off: number, C: number, y: number): number {
  let s = 0;
  for (let j = 0; j < C; j++) {
    const d = z[off + j] - (j === y ? 1 : 0);
    s += d * d;
  }
  return s / C;
}

function argmax(z: ArrayLike<number>, off: number, C: number): number {
  let b = 0;
  for (let j = 1; j < C; j++) if (z[off + j] > z[off + b]) b = j;
  return b;
}

interface Acc { sum: number; n: number; yTrue: number[]; yPred: number[]; logits: number[][]; ids: string[]; C: number; bad: number[] }

/** What evaluateModel names in its errors: the failing function and the pass (e.g. 'the validation pass of epoch 3'). */
export interface EvalLabel { op?: string; pass?: string }

/**
 * Throws EDIVERGED when some sample's logits are NaN or ±inf. Finite weights can still give
 * them: in eval mode BatchNorm divides by running statistics that lag far behind a fast-growing
 * network, and the activations overflow float32. argmax over NaN is class 0 for every such
 * sample, so the metrics would be a made-up result (ACC 80 with every logit NaN).
 */
function checkLogits(task: 'afc' | 'bx', a: Acc, label: EvalLabel): void {
  if (!a.bad.length) return;
  const rows = a.bad.map((i) => `${a.ids[i]} ${show(a.logits[i])}`);
  throw new MdmtError('EDIVERGED', label.op ?? 'evaluateModel',
    `${label.pass ?? 'the evaluation pass'} gave non-finite ${task === 'afc' ? 'τ1' : 'τ2'} logits for ${a.bad.length} of ${a.n} samples (${fewOf(rows, 2)}), ` +
    'though the weights are finite: the activations overflow float32 in eval mode (BatchNorm running statistics far from the batch statistics). ' +
    'Training diverged: lower the learning rate; no metrics are computed from such logits');
}

function finish(a: Acc | undefined): TaskEval | undefined {
  if (!a || a.n === 0) return undefined;
  return { loss: a.sum / a.n, lossSum: a.sum, n: a.n, metrics: evaluate(a.yTrue, a.yPred, a.C), yTrue: a.yTrue, yPred: a.yPred, logits: a.logits, ids: a.ids };
}

/**
 * Runs `net` over every batch of `loader.epoch(0)` (build the loader with train: false) and
 * scores each sample on the head of its own task (through `forward`, a compiled evaluation
 * forward, when given; `o.once`: the pass will not be repeated, see EvalForward.run). Restores
 * the module's training mode. Throws EDIVERGED (naming `o.op` and `o.pass`) when a sample's
 * logits are NaN or ±inf, instead of scoring argmax(NaN) as class 0.
 *
 * @example const ev = await evaluateModel(net, testLoader, { afcLoss: 'ce', lossNormalize: 'batch', device: 'cpu' });
 */
export async function evaluateModel(net: TaskNet, loader: Loader, o: { afcLoss: 'ce' | 'mse'; lossNormalize: 'batch' | 'masked'; device: string; once?: boolean; signal?: AbortSignal } & EvalLabel,
  forward?: EvalForward): Promise<ModelEval> {
  const wasTraining = net.module.training;
  net.module.eval();
  const acc: { afc?: Acc; bx?: Acc } = {};
  let N = 0;
  try {
    for await (const b of loader.epoch(0)) {
      throwIfAborted(o.signal, o.op ?? 'evaluateModel', `during ${o.pass ?? 'the evaluation pass'}`);
      const out = forward ? forward.run(b, o.once) : tidy(() => noGrad(() => {
        const t = toTensors(b, o.device);
        const y = net.forward(t.images);
        return { afc: y.afc?.toArray(), bx: y.bx?.toArray() };
      }));
      N += b.n;
      for (const task of ['afc', 'bx'] as const) {
        const z = out[task];
        if (!z) continue;
        const C = z.length / b.n;
        const a = (acc[task] ??= { sum: 0, n: 0, yTrue: [], yPred: [], logits: [], ids: [], C, bad: [] });
        for (let i = 0; i < b.n; i++) {
          if (b.masks[task][i] !== 1) continue;
          const y = b.labels[task][i];
          for (let j = 0; j < C; j++) if (!Number.isFinite(z[i * C + j])) { a.bad.push(a.n); break; }
          a.sum += task === 'afc' && o.afcLoss === 'mse' ? mseRow(z, i * C, C, y) : ceRow(z, i * C, C, y);
          a.n++;
          a.yTrue.push(y);
          a.yPred.push(argmax(z, i * C, C));
          a.logits.push(Array.from(z.slice(i * C, (i + 1) * C)));
          a.ids.push(b.ids[i]);
        }
      }
    }
  } finally {
    net.module.train(wasTraining);
  }
  for (const task of ['afc', 'bx'] as const) if (acc[task]) checkLogits(task, acc[task], o);
  const afc = finish(acc.afc), bx = finish(acc.bx);
  const total = o.lossNormalize === 'masked'
    ? (afc?.loss ?? 0) + (bx?.loss ?? 0)
    : N > 0 ? ((afc?.lossSum ?? 0) + (bx?.lossSum ?? 0)) / N : NaN;
  return { afc, bx, total };
}
