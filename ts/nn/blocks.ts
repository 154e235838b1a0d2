/**
 * Blocks shared by the model families: `makeDivisible` (channel rounding of torchvision's
 * `_make_divisible` and timm's `make_divisible`), `ConvNormAct` (torchvision's
 * Conv2dNormActivation: a Sequential "0" conv, "1" BatchNorm, "2" activation),
 * `BatchNormAct2d` (timm: BatchNorm with the activation inside, same keys as BatchNorm2d)
 * and `SqueezeExcite` (timm: conv_reduce → act → conv_expand → sigmoid gate).
 *
 *   const stem = new ConvNormAct(3, 32, 3, { stride: 2, act: 'relu6' });   // features.0 of MobileNetV2
 */
import { checkOptions, MdmtError } from '../errors';
import { globalAvgpool } from '../ops/pool';
import { mul } from '../ops/elementwise';
import { relu, relu6, sigmoid, silu } from '../ops/activations';
import { Tensor } from '../tensor';
import { BatchNorm2d, BatchNormOptions, Conv2d } from './layers';
import { Module } from './module';
import { Identity, ReLU, ReLU6, Sequential, SiLU } from './simple';

export type ActName = 'relu' | 'relu6' | 'silu' | 'none';

/** The activation function of `name` (identity for 'none'). */
export function actFn(name: ActName): (x: Tensor) => Tensor {
  switch (name) {
    case 'relu': return relu;
    case 'relu6': return relu6;
    case 'silu': return silu;
    case 'none': return (x) => x;
    default: throw new MdmtError('EINVAL', 'actFn', `unknown activation '${String(name)}' (relu, relu6, silu, none)`);
  }
}

/** The activation module of `name` (Identity for 'none'). */
export function actModule(name: ActName): Module {
  switch (name) {
    case 'relu': return new ReLU();
    case 'relu6': return new ReLU6();
    case 'silu': return new SiLU();
    case 'none': return new Identity();
    default: throw new MdmtError('EINVAL', 'actModule', `unknown activation '${String(name)}' (relu, relu6, silu, none)`);
  }
}

/**
 * Rounds `v` to a multiple of `divisor`, at least `minValue` (default divisor), never more
 * than 10 % below v (torchvision `_make_divisible`, timm `make_divisible`).
 *   makeDivisible(32 * 0.75) === 24
 */
export function makeDivisible(v: number, divisor = 8, minValue?: number, roundLimit = 0.9): number {
  const min = minValue ?? divisor;
  let n = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < roundLimit * v) n += divisor;
  return n;
}

/** Python's round(): half to even (timm rounds SE widths with it). */
export function pyRound(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface ConvNormActOptions {
  stride?: number;
  groups?: number;
  dilation?: number;
  /** default (k−1)/2·dilation */
  padding?: number;
  act?: ActName;
  eps?: number;
}

/**
 * torchvision Conv2dNormActivation: conv (no bias) → BatchNorm2d → activation, named
 * "0", "1", "2" (the activation has no keys; 'none' leaves it out).
 */
export class ConvNormAct extends Sequential {
  constructor(inCh: number, outCh: number, kernel: number, o: ConvNormActOptions = {}) {
    checkOptions('ConvNormAct', o, { stride: true, groups: true, dilation: true, padding: true, act: true, eps: true });
    const dil = o.dilation ?? 1;
    const pad = o.padding ?? Math.floor((kernel - 1) / 2) * dil;
    const mods: Module[] = [
      new Conv2d(inCh, outCh, kernel, { stride: o.stride ?? 1, padding: pad, dilation: dil, groups: o.groups ?? 1, bias: false }),
      new BatchNorm2d(outCh, { eps: o.eps }),
    ];
    if ((o.act ?? 'relu') !== 'none') mods.push(actModule(o.act ?? 'relu'));
    super(...mods);
  }
}

/** timm BatchNormAct2d: BatchNorm2d followed by its activation (the keys of BatchNorm2d). */
export class BatchNormAct2d extends BatchNorm2d {
  private readonly fn: (x: Tensor) => Tensor;
  constructor(numFeatures: number, readonly act: ActName, o: BatchNormOptions = {}) {
    super(numFeatures, o);
    this.fn = actFn(act);
  }
  override forward(x: Tensor): Tensor {
    // intermediates are not disposed here: the tape may need them (callers use tidy)
    return this.fn(super.forward(x));
  }
  protected override extraRepr(): string {
    return `${super.extraRepr()}, act=${this.act}`;
  }
}

/**
 * timm SqueezeExcite (efficientnet blocks): x · σ(conv_expand(act(conv_reduce(mean_hw(x))))),
 * both 1x1 convs with bias. Keys: conv_reduce.{weight,bias}, conv_expand.{weight,bias}.
 */
export class SqueezeExcite extends Module {
  readonly convReduce: Conv2d;
  readonly convExpand: Conv2d;
  private readonly fn: (x: Tensor) => Tensor;
  constructor(channels: number, rdChannels: number, readonly act: ActName) {
    super();
    this.convReduce = this.registerModule('conv_reduce', new Conv2d(channels, rdChannels, 1, { bias: true }));
    this.fn = actFn(act);
    this.convExpand = this.registerModule('conv_expand', new Conv2d(rdChannels, channels, 1, { bias: true }));
  }
  forward(x: Tensor): Tensor {
    const s = this.convExpand.forward(this.fn(this.convReduce.forward(globalAvgpool(x))));
    return mul(x, sigmoid(s));
  }
}
