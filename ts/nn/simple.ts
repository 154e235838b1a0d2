/**
 * Parameter-free modules and containers: activations, Dropout, pools, Flatten, Identity,
 * Sequential (children named "0", "1", ... as in PyTorch).
 */
import { check, checkOptions, show } from '../errors';
import { AVGPOOL_KEYS, avgpool2d, globalAvgpool, maxpool2d, poolParams } from '../ops/pool';
import { dropout } from '../ops/dropout';
import { hardswish, relu, relu6, sigmoid, silu } from '../ops/activations';
import { flatten } from '../ops/reshape';
import { Tensor } from '../tensor';
import { Module } from './module';

abstract class Fn extends Module {
  abstract override forward(x: Tensor): Tensor;
}
export class ReLU extends Fn { forward(x: Tensor) { return relu(x); } }
export class ReLU6 extends Fn { forward(x: Tensor) { return relu6(x); } }
export class SiLU extends Fn { forward(x: Tensor) { return silu(x); } }
export class Sigmoid extends Fn { forward(x: Tensor) { return sigmoid(x); } }
export class Hardswish extends Fn { forward(x: Tensor) { return hardswish(x); } }
export class Identity extends Fn { forward(x: Tensor) { return x; } }

export class Flatten extends Fn {
  constructor(readonly startDim = 1) {
    super();
    // Flatten('1') ran (compared as a number) and Flatten(1.5) ran as 1
    check(Number.isInteger(startDim) && startDim >= 0, 'EINVAL', 'Flatten', () => `'startDim' must be a non-negative integer, got ${show(startDim)}`);
  }
  forward(x: Tensor) { return flatten(x, this.startDim); }
}

/** Dropout with probability p (active in training mode only). */
export class Dropout extends Fn {
  constructor(readonly p = 0.5) {
    super();
    // Dropout('0.5') passed this range check (a string compared as a number) and failed at forward
    check(typeof p === 'number' && p >= 0 && p < 1, 'EINVAL', 'Dropout', () => `'p' must be a number in [0, 1), got ${show(p)}`);
  }
  forward(x: Tensor) { return dropout(x, this.p, this.training); }
  protected override extraRepr() { return `p=${this.p}`; }
}

type Pair = number | [number, number];
export class MaxPool2d extends Fn {
  constructor(readonly kernel: Pair, readonly o: { stride?: Pair; padding?: Pair; ceilMode?: boolean } = {}) {
    super();
    checkOptions('MaxPool2d', o, { stride: true, padding: true, ceilMode: true });
    poolParams('MaxPool2d', { kernel, ...o }); // MaxPool2d(0) failed only at its first forward
  }
  forward(x: Tensor) { return maxpool2d(x, { kernel: this.kernel, ...this.o }); }
}
export class AvgPool2d extends Fn {
  constructor(readonly kernel: Pair, readonly o: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {}) {
    super();
    checkOptions('AvgPool2d', o, { stride: true, padding: true, ceilMode: true, countIncludePad: true });
    poolParams('AvgPool2d', { kernel, ...o }, AVGPOOL_KEYS);
  }
  forward(x: Tensor) { return avgpool2d(x, { kernel: this.kernel, ...this.o }); }
}
/** AdaptiveAvgPool2d((1, 1)): N×C×H×W → N×C×1×1. */
export class GlobalAvgPool2d extends Fn {
  forward(x: Tensor) { return globalAvgpool(x); }
}

/** Runs its children in order; children are named "0", "1", ... unless given names. */
export class Sequential extends Module {
  constructor(...mods: (Module | [string, Module])[]) {
    super();
    mods.forEach((m, i) => {
      const [name, mod] = Array.isArray(m) ? m : [String(i), m];
      check(mod instanceof Module, 'EINVAL', 'Sequential', () => `argument ${i} must be a Module or a [name, Module] pair, got ${show(mod)}`);
      this.addNew('Sequential', name, mod);
    });
  }
  append(m: Module, name?: string): this {
    return this.addNew('Sequential.append', name ?? String(this.children().length), m);
  }
  /** A child under a name not taken: a repeated name replaced the earlier child, which then never ran. */
  private addNew(op: string, name: string, m: Module): this {
    check(!this.children().some(([n]) => n === name), 'EINVAL', op, () => `a child is already named '${name}' (it would be replaced)`);
    this.registerModule(name, m);
    return this;
  }
  get length(): number {
    return this.children().length;
  }
  /** The i-th child; a negative i counts from the end (at(-1) is the last), as Array.at and PyTorch's seq[-1]. */
  at<M extends Module = Module>(i: number): M {
    const kids = this.children();
    check(Number.isInteger(i), 'EINVAL', 'Sequential.at', () => `index must be an integer, got ${show(i)}`);
    const j = i < 0 ? kids.length + i : i;
    // past the end was a raw TypeError (reading [1] of undefined)
    check(j >= 0 && j < kids.length, 'EINVAL', 'Sequential.at', () => `index ${i} out of range for a Sequential of ${kids.length} module${kids.length === 1 ? '' : 's'}`);
    return kids[j][1] as M;
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const [, m] of this.children()) h = m.forward(h) as Tensor;
    return h;
  }
}
