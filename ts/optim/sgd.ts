/**
 * SGD with momentum, dampening, Nesterov and L2 weight decay, PyTorch's semantics
 * (torch.optim.SGD): one native `sgd` call per step (two on the step that creates the
 * momentum buffers of some parameters but not others).
 *
 *   const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, nesterov: true });
 */
import { noGrad, zeroGrad } from '../autograd/tape';
import { check, checkOptions } from '../errors';
import { DynamicAttrs, observingSteps, runOpInto, stepDepends } from '../ops/op';
import { Tensor } from '../tensor';
import { checkHyper, checkParams, checkState, loadInto, stateLike, withGrads } from './common';

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export interface SGDState {
  lr: number;
  /** momentum buffers (null where none exists yet, or momentum = 0); live tensors */
  buf: (Tensor | null)[];
}

const OP = 'SGD';

export class SGD {
  readonly params: Tensor[];
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private _lr: number;
  private readonly buf: (Tensor | null)[];

  constructor(params: Iterable<Tensor>, o: SGDOptions = {}) {
    this.params = checkParams(OP, params);
    checkOptions(OP, o, { lr: true, momentum: true, dampening: true, weightDecay: true, nesterov: true });
    this._lr = checkHyper(OP, 'lr', o.lr ?? 1e-3, 0);
    this.momentum = checkHyper(OP, 'momentum', o.momentum ?? 0, 0);
    this.dampening = checkHyper(OP, 'dampening', o.dampening ?? 0, 0, 1);
    this.weightDecay = checkHyper(OP, 'weightDecay', o.weightDecay ?? 0, 0);
    check(o.nesterov === undefined || typeof o.nesterov === 'boolean', 'EINVAL', OP, `'nesterov' must be a boolean`);
    this.nesterov = o.nesterov ?? false;
    check(!this.nesterov || (this.momentum > 0 && this.dampening === 0), 'EINVAL', OP,
      'nesterov momentum requires a momentum and zero dampening');
    this.buf = this.params.map(() => null);
  }

  get lr(): number {
    return this._lr;
  }
  set lr(v: number) {
    this._lr = checkHyper(OP, 'lr', v, 0);
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    const idx = withGrads(OP, this.params);
    if (idx.length === 0) return;
    const attrs = { lr: this._lr, momentum: this.momentum, dampening: this.dampening, weight_decay: this.weightDecay, nesterov: this.nesterov };
    // a recorded step (compileStep) reads the lr of each run; the step that creates momentum
    // buffers (first_step) is a one-off, so a replay once they exist records the step again
    const lr: DynamicAttrs = { keys: ['lr'], values: () => [this._lr] };
    if (observingSteps()) stepDepends(this, 'fresh', () => idx.map((i) => this.buf[i] === null).join());
    noGrad(() => {
      if (this.momentum === 0) {
        runOpInto('sgd', idx.map((i) => this.params[i].grad!), idx.map((i) => this.params[i]), { ...attrs, first_step: false }, lr);
        return;
      }
      // a new buffer starts as the gradient itself (first_step), as PyTorch's clone
      const fresh = idx.filter((i) => this.buf[i] === null);
      const running = idx.filter((i) => this.buf[i] !== null);
      for (const [first, group] of [[true, fresh], [false, running]] as [boolean, number[]][]) {
        if (!group.length) continue;
        for (const i of group) if (!this.buf[i]) this.buf[i] = stateLike(this.params[i], false);
        runOpInto('sgd', group.map((i) => this.params[i].grad!),
          [...group.map((i) => this.params[i]), ...group.map((i) => this.buf[i]!)], { ...attrs, first_step: first }, lr);
      }
    });
  }

  zeroGrad(): void {
    zeroGrad(this.params);
  }

  stateDict(): SGDState {
    return { lr: this._lr, buf: [...this.buf] };
  }

  loadStateDict(s: SGDState): void {
    check(s !== null && typeof s === 'object' && Array.isArray(s.buf) && s.buf.length === this.params.length, 'EINVAL', OP,
      `state must hold a buffer (or null) for each of the ${this.params.length} parameters`);
    const lr = checkHyper(OP, 'lr', s.lr, 0);
    // every buffer checked before any is made or loaded: a failure left a new buffer never written
    const bufs = s.buf.map((b, i) => (b === null ? null : checkState(OP, `buf[${i}]`, b, this.params[i].shape)));
    noGrad(() => {
      bufs.forEach((b, i) => {
        if (b === null) {
          this.buf[i]?.dispose();
          this.buf[i] = null;
          return;
        }
        if (!this.buf[i]) this.buf[i] = stateLike(this.params[i], false);
        loadInto(this.buf[i]!, b);
      });
    });
    this._lr = lr;
  }

  dispose(): void {
    this.buf.forEach((t, i) => { t?.dispose(); this.buf[i] = null; });
  }
}
