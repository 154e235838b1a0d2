/**
 * MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
 * 2018) as torchvision 0.14 builds it: `features.0` stem ConvNormAct 3x3/2, features.1..17
 * inverted residual blocks from the (t, c, n, s) table, `features.18` 1x1 to 1280, global
 * average pool, `classifier` = [Dropout(0.2), Linear]. Without the classifier the
 * Dropout(0.2) stays, as the authors replace only `classifier[-1]`.
 *
 *   const m = getModel('mobilenet_v2', { withClassifier: false });   // features: 1280
 */
import { add } from '../ops/elementwise';
import { globalAvgpool } from '../ops/pool';
import { flatten } from '../ops/reshape';
import { ConvNormAct, makeDivisible } from '../nn/blocks';
import { constant, kaimingNormal, normal } from '../nn/init';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { Dropout, Sequential } from '../nn/simple';
import { Tensor } from '../tensor';
import { Backbone, ModelOptions, registerModel } from './registry';

export class InvertedResidual extends Module {
  readonly useRes: boolean;
  constructor(inp: number, oup: number, stride: number, expand: number) {
    super();
    const hidden = Math.round(inp * expand);
    this.useRes = stride === 1 && inp === oup;
    const layers: Module[] = [];
    if (expand !== 1) layers.push(new ConvNormAct(inp, hidden, 1, { act: 'relu6' }));
    layers.push(
      new ConvNormAct(hidden, hidden, 3, { stride, groups: hidden, act: 'relu6' }),
      new Conv2d(hidden, oup, 1, { bias: false }),
      new BatchNorm2d(oup),
    );
    this.registerModule('conv', new Sequential(...layers));
  }
  forward(x: Tensor): Tensor {
    const y = this.child('conv').forward(x) as Tensor;
    return this.useRes ? add(x, y) : y;
  }
}

// expansion t, output channels c, repeats n, first stride s
const SETTINGS: [number, number, number, number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

export class MobileNetV2 extends Backbone {
  readonly numFeatures: number;
  readonly classifierKey = 'classifier.1';

  constructor(o: ModelOptions & { widthMult?: number } = {}) {
    super(o);
    const wm = o.widthMult ?? 1;
    let inp = makeDivisible(32 * wm, 8);
    const last = makeDivisible(1280 * Math.max(1, wm), 8);
    const features = new Sequential(new ConvNormAct(3, inp, 3, { stride: 2, act: 'relu6' }));
    for (const [t, c, n, s] of SETTINGS) {
      const out = makeDivisible(c * wm, 8);
      for (let i = 0; i < n; i++) {
        features.append(new InvertedResidual(inp, out, i === 0 ? s : 1, t));
        inp = out;
      }
    }
    features.append(new ConvNormAct(inp, last, 1, { act: 'relu6' }));
    this.registerModule('features', features);
    this.numFeatures = last;
    const head = new Sequential(new Dropout(0.2));
    if (this.withClassifier) head.append(new Linear(last, this.numClasses));
    this.registerModule('classifier', head);
    // torchvision: kaiming_normal_(fan_out) on convs (bias 0), BN 1/0, Linear N(0, 0.01) bias 0
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) {
        kaimingNormal(m.param('weight'), { mode: 'fan_out' });
        const b = m.paramOrNull('bias');
        if (b) constant(b, 0);
      } else if (m instanceof Linear) {
        normal(m.param('weight'), 0, 0.01);
        constant(m.param('bias'), 0);
      }
    }
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const f = flatten(globalAvgpool(this.child('features').forward(x) as Tensor), 1);
    return this.child('classifier').forward(f) as Tensor;
  }
}

/** MobileNetV2 (torchvision `mobilenet_v2`, width 1.0). */
export const mobilenetV2 = (o: ModelOptions = {}) => new MobileNetV2(o);

registerModel({ name: 'mobilenet_v2', family: 'mobilenet', source: 'torchvision', numFeatures: 1280, defaultSize: 224 }, mobilenetV2);
