/**
 * ShuffleNet V2 (Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN
 * Architecture Design", 2018) as torchvision 0.14 builds it: conv1 3x3/2 + BN + ReLU, max
 * pool, stage2..4 of shuffle units (stride-2 unit: two branches on the whole input;
 * stride-1 unit: the input is split in halves, one passes through), conv5 1x1 + BN + ReLU,
 * spatial mean, fc. torchvision applies no custom init: PyTorch's layer defaults hold.
 *
 *   const s = getModel('shufflenet_v2_x1_0', { withClassifier: false });   // features: 1024
 */
import { channelShuffle, concat, split } from '../ops/layout';
import { mean } from '../ops/reduce';
import { BatchNorm2d, Conv2d, Linear } from '../nn/layers';
import { Module } from '../nn/module';
import { MaxPool2d, ReLU, Sequential } from '../nn/simple';
import { Tensor } from '../tensor';
import { Backbone, ModelOptions, registerModel } from './registry';

const dw = (c: number, stride: number) => new Conv2d(c, c, 3, { stride, padding: 1, groups: c, bias: false });
const pw = (i: number, o: number) => new Conv2d(i, o, 1, { bias: false });

export class ShuffleUnit extends Module {
  constructor(inp: number, oup: number, readonly stride: number) {
    super();
    const bf = oup / 2;
    const b1 = stride > 1 ? new Sequential(dw(inp, stride), new BatchNorm2d(inp), pw(inp, bf), new BatchNorm2d(bf), new ReLU()) : new Sequential();
    this.registerModule('branch1', b1);
    this.registerModule('branch2', new Sequential(
      pw(stride > 1 ? inp : bf, bf), new BatchNorm2d(bf), new ReLU(),
      dw(bf, stride), new BatchNorm2d(bf),
      pw(bf, bf), new BatchNorm2d(bf), new ReLU(),
    ));
  }
  forward(x: Tensor): Tensor {
    const b2 = this.child('branch2');
    let out: Tensor;
    if (this.stride === 1) {
      const half = x.shape[1] / 2;
      const [x1, x2] = split(x, [half, half], 1);
      out = concat([x1, b2.forward(x2) as Tensor], 1);
    } else {
      out = concat([this.child('branch1').forward(x) as Tensor, b2.forward(x) as Tensor], 1);
    }
    return channelShuffle(out, 2);
  }
}

export class ShuffleNetV2 extends Backbone {
  readonly numFeatures: number;
  readonly classifierKey = 'fc';

  constructor(repeats: readonly number[], channels: readonly number[], o: ModelOptions = {}) {
    super(o);
    let inp = channels[0];
    this.registerModule('conv1', new Sequential(new Conv2d(3, inp, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(inp), new ReLU()));
    this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    repeats.forEach((n, i) => {
      const out = channels[i + 1];
      const stage = new Sequential(new ShuffleUnit(inp, out, 2));
      for (let k = 1; k < n; k++) stage.append(new ShuffleUnit(out, out, 1));
      this.registerModule(`stage${i + 2}`, stage);
      inp = out;
    });
    const last = channels[channels.length - 1];
    this.registerModule('conv5', new Sequential(new Conv2d(inp, last, 1, { bias: false }), new BatchNorm2d(last), new ReLU()));
    this.numFeatures = last;
    if (this.withClassifier) this.registerModule('fc', new Linear(last, this.numClasses));
  }

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    let h = x;
    for (const n of ['conv1', 'maxpool', 'stage2', 'stage3', 'stage4', 'conv5']) h = this.child(n).forward(h) as Tensor;
    const f = mean(h, [2, 3]);
    return this.withClassifier ? (this.child('fc').forward(f) as Tensor) : f;
  }
}

const tv = (name: string) => ({ name, family: 'shufflenet' as const, source: 'torchvision' as const, numFeatures: 1024, defaultSize: 224 });

/** ShuffleNet V2 0.5x (torchvision `shufflenet_v2_x0_5`). */
export const shufflenetV2x0_5 = (o: ModelOptions = {}) => new ShuffleNetV2([4, 8, 4], [24, 48, 96, 192, 1024], o);
/** ShuffleNet V2 1.0x (torchvision `shufflenet_v2_x1_0`). */
export const shufflenetV2x1_0 = (o: ModelOptions = {}) => new ShuffleNetV2([4, 8, 4], [24, 116, 232, 464, 1024], o);

registerModel(tv('shufflenet_v2_x0_5'), shufflenetV2x0_5);
registerModel(tv('shufflenet_v2_x1_0'), shufflenetV2x1_0);
