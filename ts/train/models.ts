/**
 * The model of each experiment (paper.md §1.2–1.3) and the loss of one training step.
 *  - stl_afc: STLModel('afc') — backbone + Dropout-Linear(in,2);
 *  - stl_bx:  STLModel('bx')  — backbone + ReLU-Dropout-Linear(in,4);
 *  - ft:      STLModel('afc') whose backbone (parameters and BN statistics) is the STL τ2
 *             model's of the same fold; the AFC head is fresh;
 *  - mdmt:    MDMTModel — backbone parameters = beta·STLτ1 + (1−beta)·STLτ2 of the same fold,
 *             buffers keep their initial values (ImageNet when `pretrained` is given), both
 *             heads fresh (`averageBackbones`).
 * With `pretrained`, STL and MDMT backbones first load ImageNet weights (torchvision / timm
 * keys, classifier dropped); train() checks beforehand that FT / MDMT inits started from the
 * same file (ts/train/provenance.ts). The step loss is Eq. 2: maskedXent(afc) +
 * maskedXent(bx) with the per-sample dataset indicators as masks (τ1 may use the authors' MSE
 * instead, `afcLoss: 'mse'`).
 *
 *   const net = buildTaskNet(cfg);  const out = net.forward(x);  const loss = stepLoss(out, t, batch, cfg);
 */
import { MdmtError } from '../errors';
import type { Batch, BatchTensors } from '../data/loader';
import { MDMTModel, STLModel } from '../models/mdmt';
import type { Module } from '../nn/module';
import { add, mul, sub } from '../ops/elementwise';
import { maskedXent } from '../ops/masked_xent';
import { sum } from '../ops/reduce';
import { tensor, type Tensor } from '../tensor';
import { readTensors } from './checkpoint';
import { nonFiniteWeights } from './finite';
import type { TrainConfig } from './config';

/** Logits per task head the model has. */
export interface TaskOutputs { afc?: Tensor; bx?: Tensor }

/** A model of one experiment with a uniform forward. */
export interface TaskNet {
  module: Module;
  forward(x: Tensor): TaskOutputs;
}

/**
 * Loads ImageNet weights (torchvision / timm keys) into `module.backbone`, dropping the
 * classifier; every backbone key must be there with its shape.
 */
function loadPretrained(m: MDMTModel | STLModel, file: string): void {
  const sd = weightFile(file, 'config.pretrained');
  try {
    const own = new Set(m.backbone.stateDict().keys());
    const keep = new Map([...sd].filter(([k]) => own.has(k)));
    if (keep.size === 0) throw new MdmtError('EDATA', 'train', `${file}: no key matches the backbone '${[...own][0]}', ... (config.pretrained: the weights of another model?)`);
    const { missing } = m.backbone.loadStateDict(keep, { strict: false });
    if (missing.length) throw new MdmtError('EDATA', 'train', `${file} lacks ${missing.length} backbone keys, e.g. ${missing.slice(0, 3).join(', ')} (config.pretrained: the weights of another model?)`);
  } finally {
    for (const t of sd.values()) t.dispose();
  }
}

/**
 * Reads a weight file the run starts from, refusing one that holds a NaN or ±inf up front,
 * naming the file and the tensor (it used to fail deep inside batchnorm, naming neither).
 */
function weightFile(file: string, field: string): Map<string, Tensor> {
  let sd: Map<string, Tensor>;
  try {
    sd = readTensors(file);
  } catch (e) {
    throw new MdmtError('EIO', 'train', `cannot read ${field} '${file}': ${(e as Error).message}`);
  }
  const bad = nonFiniteWeights('train', field, file, [...sd]);
  if (bad) {
    for (const t of sd.values()) t.dispose();
    throw bad;
  }
  return sd;
}

/**
 * Builds the experiment's model (weights initialised from `manualSeed` state, then from the
 * pretrained / STL files the config names).
 *
 * @example manualSeed(0); const net = buildTaskNet(resolveTrainConfig({ ... experiment: 'stl_afc' }));
 */
export function buildTaskNet(cfg: TrainConfig): TaskNet {
  if (cfg.experiment === 'mdmt') {
    const m = new MDMTModel(cfg.backbone);
    if (cfg.pretrained) loadPretrained(m, cfg.pretrained);
    const a = weightFile(cfg.init.stlAfc!, 'config.init.stlAfc');
    let b: Map<string, Tensor> = new Map();
    try {
      b = weightFile(cfg.init.stlBx!, 'config.init.stlBx');
      m.initFromSingleTask(a, b, cfg.beta);
    } catch (e) {
      // a shape or key mismatch names tensors only: say which two files disagree
      if (e instanceof MdmtError && (e.code === 'ESHAPE' || e.op === 'averageBackbones'))
        throw new MdmtError('EDATA', 'train', `config.init.stlAfc '${cfg.init.stlAfc}' and config.init.stlBx '${cfg.init.stlBx}' cannot be averaged into a ${cfg.backbone} backbone (another architecture?): ${e.message}`);
      throw e;
    } finally {
      for (const t of [...a.values(), ...b.values()]) t.dispose();
    }
    return { module: m, forward: (x) => m.forward(x) };
  }
  const task = cfg.experiment === 'stl_bx' ? 'bx' : 'afc';
  const m = new STLModel(task, cfg.backbone);
  // FT takes its whole backbone (parameters and BN statistics) from STL τ2, which began from the same file
  if (cfg.pretrained && cfg.experiment !== 'ft') loadPretrained(m, cfg.pretrained);
  if (cfg.experiment === 'ft') {
    const sd = weightFile(cfg.init.stlBx!, 'config.init.stlBx');
    try {
      const bb = new Map([...sd].filter(([k]) => k.startsWith('backbone.')));
      let missing: string[];
      try {
        ({ missing } = m.loadStateDict(bb, { strict: false }));
      } catch (e) {
        if (e instanceof MdmtError && e.code === 'ESHAPE') throw new MdmtError('EDATA', 'train', `config.init.stlBx '${cfg.init.stlBx}' does not fit a ${cfg.backbone} backbone (another architecture?): ${e.message}`);
        throw e;
      }
      const lacking = missing.filter((k) => k.startsWith('backbone.'));
      if (lacking.length) throw new MdmtError('EDATA', 'train', `config.init.stlBx '${cfg.init.stlBx}' lacks ${lacking.length} backbone keys (another backbone?), e.g. ${lacking[0]}`);
    } finally {
      for (const t of sd.values()) t.dispose();
    }
  }
  return { module: m, forward: (x) => (task === 'afc' ? { afc: m.forward(x) } : { bx: m.forward(x) }) };
}

/**
 * The per-sample weights and one-hot targets of the authors' τ1 MSE on [N, C] logits:
 * w = mᵢ/(C·D) on every class of an active row, D = N or max(Σm, 1); y = onehot(labelᵢ).
 * Host data of the batch: a compiled step takes them as inputs.
 */
export function mseTargets(b: Batch, C: number, normalize: 'batch' | 'masked'): { y: Float32Array; w: Float32Array } {
  const N = b.n;
  const active = b.masks.afc.reduce((s, v) => s + v, 0);
  const D = normalize === 'batch' ? N : Math.max(active, 1);
  const w = new Float32Array(N * C), y = new Float32Array(N * C);
  for (let i = 0; i < N; i++) {
    if (b.masks.afc[i] !== 1) continue;
    for (let j = 0; j < C; j++) w[i * C + j] = 1 / (C * D);
    y[i * C + b.labels.afc[i]] = 1;
  }
  return { y, w };
}

/** The authors' τ1 MSE: Σᵢ Σⱼ wᵢⱼ (zᵢⱼ − yᵢⱼ)² with mseTargets' y and w. */
function maskedMse(z: Tensor, y: Tensor, w: Tensor): Tensor {
  const d = sub(z, y);
  return sum(mul(mul(d, d), w));
}

/**
 * Eq. 2 on one batch: the sum of each head's indicator-masked loss. Call inside tidy.
 * `mse` gives the τ1 MSE's targets and weights as tensors (mseTargets); else they are made here.
 *
 * @example const l = stepLoss(net.forward(t.images), t, batch, cfg); backward(l);
 */
export function stepLoss(out: TaskOutputs, t: BatchTensors, b: Batch, cfg: Pick<TrainConfig, 'afcLoss' | 'lossNormalize'>,
  mse?: { y: Tensor; w: Tensor }): Tensor {
  const parts: Tensor[] = [];
  const normalize = cfg.lossNormalize;
  const mseOf = (z: Tensor) => {
    if (mse) return maskedMse(z, mse.y, mse.w);
    const { y, w } = mseTargets(b, z.shape[1], normalize);
    return maskedMse(z, tensor(y, z.shape, { device: z.device }), tensor(w, z.shape, { device: z.device }));
  };
  if (out.afc) parts.push(cfg.afcLoss === 'mse' ? mseOf(out.afc) : maskedXent(out.afc, t.afcLabels, t.afcMask, { normalize }));
  if (out.bx) parts.push(maskedXent(out.bx, t.bxLabels, t.bxMask, { normalize }));
  if (!parts.length) throw new MdmtError('EINTERNAL', 'train', 'the model produced no task output');
  return parts.length === 1 ? parts[0] : add(parts[0], parts[1]);
}
