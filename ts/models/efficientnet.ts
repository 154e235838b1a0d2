/**
 * The timm EfficientNet family (Tan & Le, "EfficientNet: Rethinking Model Scaling for
 * CNNs", 2019; EfficientNet-EdgeTPU and -Lite variants) as timm @ aa4b5850 builds it:
 * stage strings decoded into DepthwiseSeparable (ds), InvertedResidual (ir) and
 * EdgeResidual (er) blocks, `make_divisible` channel rounding, SqueezeExcite with
 * rd = 0.25 × block input, BatchNormAct2d (BN with the activation inside), keys
 * conv_stem, bn1, blocks.{stage}.{i}.*, conv_head, bn2, classifier. efficientnet_b1_pruned
 * is B1 rebuilt from timm's pruning file (every conv/BN width from the file), with BN eps
 * 1e-3 and TF "same" padding (stride-2 convs pad asymmetrically at run time).
 * See ../shared/models.md §1 for the facts this follows.
 *
 *   const e = getModel('efficientnet_b0', { withClassifier: false });   // 4,007,548 parameters
 */
import { MdmtError } from '../errors';
import { add } from '../ops/elementwise';
import { conv2d } from '../ops/conv2d';
import { globalAvgpool } from '../ops/pool';
import { pad2d } from '../ops/layout';
import { flatten } from '../ops/reshape';
import { ActName, BatchNormAct2d, makeDivisible, pyRound, SqueezeExcite } from '../nn/blocks';
import { constant, normal, uniform } from '../nn/init';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { Sequential } from '../nn/simple';
import { Tensor } from '../tensor';
import { EFFICIENTNET_B1_PRUNED } from './efficientnet_b1_pruned';
import { Backbone, ModelOptions, registerModel } from './registry';

/** timm Conv2dSame: TF "same" padding computed from the input size, `pad//2` before, the rest after. */
export class Conv2dSame extends Conv2d {
  override forward(x: Tensor): Tensor {
    const p = [0, 1].map((d) => {
      const n = x.shape[2 + d], k = this.kernel[d], s = this.stride[d], dl = this.dilation[d];
      return Math.max((Math.ceil(n / s) - 1) * s + (k - 1) * dl + 1 - n, 0);
    });
    const padded = p[0] || p[1] ? pad2d(x, [p[0] >> 1, p[0] - (p[0] >> 1), p[1] >> 1, p[1] - (p[1] >> 1)], 0) : x;
    return conv2d(padded, this.param('weight'), this.paramOrNull('bias'), { stride: this.stride, dilation: this.dilation, groups: this.groups });
  }
}

interface Ctx {
  act: ActName;
  eps: number;
  /** TF 'same' padding (b1_pruned) */
  same: boolean;
}

function conv(ctx: Ctx, i: number, o: number, k: number, stride = 1, groups = 1): Conv2d {
  if (ctx.same && stride > 1) return new Conv2dSame(i, o, k, { stride, groups, bias: false });
  return new Conv2d(i, o, k, { stride, padding: Math.floor((stride - 1 + (k - 1)) / 2), groups, bias: false });
}

abstract class EffBlock extends Module {
  hasSkip = false;
  abstract readonly seq: string[];
  forward(x: Tensor): Tensor {
    let h = x;
    for (const n of this.seq) h = this.child(n).forward(h) as Tensor;
    return this.hasSkip ? add(h, x) : h;
  }
}

/** ds: conv_dw (k, stride, depthwise) bn1(act) [se] conv_pw (1x1) bn2. */
export class DepthwiseSeparable extends EffBlock {
  readonly seq: string[];
  constructor(ctx: Ctx, inCh: number, out: number, k: number, stride: number, rd: number, noskip: boolean) {
    super();
    this.registerModule('conv_dw', conv(ctx, inCh, inCh, k, stride, inCh));
    this.registerModule('bn1', new BatchNormAct2d(inCh, ctx.act, { eps: ctx.eps }));
    if (rd > 0) this.registerModule('se', new SqueezeExcite(inCh, rd, ctx.act));
    this.registerModule('conv_pw', conv(ctx, inCh, out, 1));
    this.registerModule('bn2', new BatchNormAct2d(out, 'none', { eps: ctx.eps }));
    this.seq = this.children().map(([n]) => n);
    this.hasSkip = stride === 1 && inCh === out && !noskip;
  }
}

/** ir: conv_pw (1x1 in→mid) bn1(act) conv_dw (k, stride) bn2(act) [se] conv_pwl (1x1) bn3. */
export class InvertedResidualBlock extends EffBlock {
  readonly seq: string[];
  constructor(ctx: Ctx, inCh: number, mid: number, out: number, k: number, stride: number, rd: number, noskip: boolean) {
    super();
    this.registerModule('conv_pw', conv(ctx, inCh, mid, 1));
    this.registerModule('bn1', new BatchNormAct2d(mid, ctx.act, { eps: ctx.eps }));
    this.registerModule('conv_dw', conv(ctx, mid, mid, k, stride, mid));
    this.registerModule('bn2', new BatchNormAct2d(mid, ctx.act, { eps: ctx.eps }));
    if (rd > 0) this.registerModule('se', new SqueezeExcite(mid, rd, ctx.act));
    this.registerModule('conv_pwl', conv(ctx, mid, out, 1));
    this.registerModule('bn3', new BatchNormAct2d(out, 'none', { eps: ctx.eps }));
    this.seq = this.children().map(([n]) => n);
    this.hasSkip = stride === 1 && inCh === out && !noskip;
  }
}

/** er: conv_exp (k×k, stride, in→mid) bn1(act) [se] conv_pwl (1x1) bn2. */
export class EdgeResidual extends EffBlock {
  readonly seq: string[];
  constructor(ctx: Ctx, inCh: number, mid: number, out: number, k: number, stride: number, rd: number, noskip: boolean) {
    super();
    this.registerModule('conv_exp', conv(ctx, inCh, mid, k, stride));
    this.registerModule('bn1', new BatchNormAct2d(mid, ctx.act, { eps: ctx.eps }));
    if (rd > 0) this.registerModule('se', new SqueezeExcite(mid, rd, ctx.act));
    this.registerModule('conv_pwl', conv(ctx, mid, out, 1));
    this.registerModule('bn2', new BatchNormAct2d(out, 'none', { eps: ctx.eps }));
    this.seq = this.children().map(([n]) => n);
    this.hasSkip = stride === 1 && inCh === out && !noskip;
  }
}

export interface BlockArgs {
  type: 'ds' | 'ir' | 'er';
  repeats: number;
  kernel: number;
  stride: number;
  expand: number;
  out: number;
  se: number;
  /** er: force_in_chs used for the mid width */
  fc: number;
  noskip: boolean;
}

/** Decodes one timm block string, e.g. "ir_r2_k3_s2_e6_c24_se0.25". */
export function decodeBlock(s: string): BlockArgs {
  const [type, ...ops] = s.split('_');
  if (type !== 'ds' && type !== 'ir' && type !== 'er') throw new MdmtError('EINVAL', 'efficientnet', `unsupported block type '${type}' in '${s}'`);
  const a: BlockArgs = { type, repeats: 1, kernel: 3, stride: 1, expand: 1, out: 0, se: 0, fc: 0, noskip: false };
  for (const op of ops) {
    if (op === 'noskip') a.noskip = true;
    else if (op.startsWith('se')) a.se = Number(op.slice(2));
    else if (op.startsWith('fc')) a.fc = Number(op.slice(2));
    else {
      const v = Number(op.slice(1));
      switch (op[0]) {
        case 'r': a.repeats = v; break;
        case 'k': a.kernel = v; break;
        case 's': a.stride = v; break;
        case 'e': a.expand = v; break;
        case 'c': a.out = v; break;
        default: throw new MdmtError('EINVAL', 'efficientnet', `unsupported option '${op}' in '${s}'`);
      }
    }
  }
  return a;
}

/** Parses timm's pruning file: key → shape. */
export function parsePrunedShapes(text: string): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const entry of text.trim().split('***')) {
    const i = entry.indexOf(':');
    m.set(entry.slice(0, i), JSON.parse(entry.slice(i + 1)) as number[]);
  }
  return m;
}

export interface EfficientNetConfig {
  arch: readonly string[];
  depthMult?: number;
  act: ActName;
  eps?: number;
  same?: boolean;
  /** timm pruning file text (b1_pruned) */
  pruned?: string;
  /** timm `_init_weight_goog` (all but the pruned model, which ends with PyTorch defaults) */
  googInit?: boolean;
}

export class EfficientNet extends Backbone {
  readonly numFeatures: number;
  readonly classifierKey = 'classifier';

  constructor(cfg: EfficientNetConfig, o: ModelOptions = {}) {
    super(o);
    const ctx: Ctx = { act: cfg.act, eps: cfg.eps ?? 1e-5, same: cfg.same ?? false };
    const shapes = cfg.pruned ? parsePrunedShapes(cfg.pruned) : null;
    const dim = (key: string, i: number, def: number): number => {
      if (!shapes) return def;
      const s = shapes.get(key);
      if (!s) throw new MdmtError('EINVAL', 'efficientnet', `pruning file has no key '${key}'`);
      return s[i];
    };
    const stem = dim('conv_stem.weight', 0, makeDivisible(32));
    this.registerModule('conv_stem', conv(ctx, 3, stem, 3, 2));
    this.registerModule('bn1', new BatchNormAct2d(stem, ctx.act, { eps: ctx.eps }));
    const blocks = new Sequential();
    let inCh = stem;
    cfg.arch.forEach((str, si) => {
      const a = decodeBlock(str);
      const stage = new Sequential();
      const reps = Math.ceil(a.repeats * (cfg.depthMult ?? 1));
      for (let i = 0; i < reps; i++) {
        const p = `blocks.${si}.${i}.`;
        const stride = i === 0 ? a.stride : 1;
        const out = makeDivisible(a.out);
        let blk: EffBlock;
        if (a.type === 'ds') {
          const c = dim(`${p}conv_dw.weight`, 0, inCh);
          const rd = a.se ? dim(`${p}se.conv_reduce.weight`, 0, pyRound(inCh * a.se)) : 0;
          blk = new DepthwiseSeparable(ctx, c, dim(`${p}conv_pw.weight`, 0, out), a.kernel, stride, rd, a.noskip);
          inCh = dim(`${p}conv_pw.weight`, 0, out);
        } else {
          const first = a.type === 'ir' ? 'conv_pw' : 'conv_exp';
          const mid = dim(`${p}${first}.weight`, 0, makeDivisible((a.fc ? makeDivisible(a.fc) : inCh) * a.expand));
          const rd = a.se ? dim(`${p}se.conv_reduce.weight`, 0, pyRound((mid * a.se) / a.expand)) : 0;
          const o2 = dim(`${p}conv_pwl.weight`, 0, out);
          const Ctor = a.type === 'ir' ? InvertedResidualBlock : EdgeResidual;
          blk = new Ctor(ctx, dim(`${p}${first}.weight`, 1, inCh), mid, o2, a.kernel, stride, rd, a.noskip);
          inCh = o2;
        }
        stage.append(blk);
      }
      blocks.append(stage);
    });
    this.registerModule('blocks', blocks);
    this.numFeatures = dim('conv_head.weight', 0, 1280);
    this.registerModule('conv_head', conv(ctx, inCh, this.numFeatures, 1));
    this.registerModule('bn2', new BatchNormAct2d(this.numFeatures, ctx.act, { eps: ctx.eps }));
    if (this.withClassifier) this.registerModule('classifier', new Linear(this.numFeatures, this.numClasses));
    if (shapes) this.checkPruned(shapes);
    if (cfg.googInit ?? true) this.googInit();
  }

  /** Every key and shape of the model must equal the pruning file's (classifier aside). */
  private checkPruned(shapes: Map<string, number[]>): void {
    for (const [k, t] of this.stateDict()) {
      if (k.startsWith('classifier.')) continue; // numClasses may differ from the file's 1000
      const s = shapes.get(k);
      if (!s || (t.ndim > 0 && s.join() !== t.shape.join()))
        throw new MdmtError('EINTERNAL', 'efficientnet_b1_pruned', `key '${k}' [${t.shape}] disagrees with the pruning file (${s ? `[${s}]` : 'absent'})`);
    }
  }

  /** timm _init_weight_goog: conv N(0, √(2/fan_out)), fan_out = k²·out/groups, bias 0; BN 1/0; Linear U(±1/√out), bias 0. */
  private googInit(): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) {
        const fanOut = (m.kernel[0] * m.kernel[1] * m.outChannels) / m.groups;
        normal(m.param('weight'), 0, Math.sqrt(2 / fanOut));
        const b = m.paramOrNull('bias');
        if (b) constant(b, 0);
      } else if (m instanceof Linear) {
        const r = 1 / Math.sqrt(m.outFeatures);
        uniform(m.param('weight'), -r, r);
        constant(m.param('bias'), 0);
      } else if (m instanceof BatchNorm2d) {
        constant(m.param('weight'), 1);
        constant(m.param('bias'), 0);
      }
    }
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let h = x;
    for (const n of ['conv_stem', 'bn1', 'blocks', 'conv_head', 'bn2']) h = this.child(n).forward(h) as Tensor;
    const f = flatten(globalAvgpool(h), 1);
    return this.withClassifier ? (this.child('classifier').forward(f) as Tensor) : f;
  }
}

const B0 = ['ds_r1_k3_s1_e1_c16_se0.25', 'ir_r2_k3_s2_e6_c24_se0.25', 'ir_r2_k5_s2_e6_c40_se0.25', 'ir_r3_k3_s2_e6_c80_se0.25',
  'ir_r3_k5_s1_e6_c112_se0.25', 'ir_r4_k5_s2_e6_c192_se0.25', 'ir_r1_k3_s1_e6_c320_se0.25'];
const ES = ['er_r1_k3_s1_e4_c24_fc24_noskip', 'er_r2_k3_s2_e8_c32', 'er_r4_k3_s2_e8_c48', 'ir_r5_k5_s2_e8_c96', 'ir_r4_k5_s1_e8_c144', 'ir_r2_k5_s2_e8_c192'];
const LITE = B0.map((s) => s.replace('_se0.25', ''));

const timm = (name: string, size = 224) => ({ name, family: 'efficientnet' as const, source: 'timm' as const, numFeatures: 1280, defaultSize: size });

/** EfficientNet-B0 (timm `efficientnet_b0`). */
export const efficientnetB0 = (o: ModelOptions = {}) => new EfficientNet({ arch: B0, act: 'silu' }, o);
/** EfficientNet-B1 pruned (timm `efficientnet_b1_pruned`, Aflalo et al. 2020 "Knapsack Pruning"). */
export const efficientnetB1Pruned = (o: ModelOptions = {}) =>
  new EfficientNet({ arch: B0, depthMult: 1.1, act: 'silu', eps: 1e-3, same: true, pruned: EFFICIENTNET_B1_PRUNED, googInit: false }, o);
/** EfficientNet-EdgeTPU-S (timm `efficientnet_es`). */
export const efficientnetEs = (o: ModelOptions = {}) => new EfficientNet({ arch: ES, act: 'relu' }, o);
/** EfficientNet-EdgeTPU-S pruned (timm `efficientnet_es_pruned`: the es architecture, other weights). */
export const efficientnetEsPruned = (o: ModelOptions = {}) => new EfficientNet({ arch: ES, act: 'relu' }, o);
/** EfficientNet-Lite0 (timm `efficientnet_lite0`: no SE, ReLU6). */
export const efficientnetLite0 = (o: ModelOptions = {}) => new EfficientNet({ arch: LITE, act: 'relu6' }, o);

registerModel(timm('efficientnet_b0'), efficientnetB0);
registerModel(timm('efficientnet_b1_pruned', 240), efficientnetB1Pruned);
registerModel(timm('efficientnet_es'), efficientnetEs);
registerModel(timm('efficientnet_es_pruned'), efficientnetEsPruned);
registerModel(timm('efficientnet_lite0'), efficientnetLite0);
