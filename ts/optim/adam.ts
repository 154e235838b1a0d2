/**
 * Adam and AdamW with PyTorch's semantics (torch.optim.Adam / AdamW, non-amsgrad): one
 * native `adam` call updates every parameter that has a gradient. The step count is kept
 * per parameter (as PyTorch's state['step']), and the bias corrections 1 − βᵗ are computed
 * here and passed as attributes, so parameters that skipped steps stay exact.
 *
 *   const opt = new Adam(model.parameters(), { lr: 1e-3, weightDecay: 1e-4 });
 *   backward(loss); opt.step(); opt.zeroGrad();
 */
import { noGrad, zeroGrad } from '../autograd/tape';
import { check, checkOptions, show } from '../errors';
import { observingSteps, runOpInto, stepDepends } from '../ops/op';
import { Tensor } from '../tensor';
import { checkHyper, checkParams, checkState, loadInto, stateLike, withGrads } from './common';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** true: AdamW's decoupled decay p ← p·(1 − lr·wd); false: L2, g ← g + wd·p */
  decoupled?: boolean;
}

export interface AdamState {
  /** the largest per-parameter step count */
  step: number;
  /** per-parameter step counts */
  steps: number[];
  lr: number;
  /** first and second moments, one per parameter (the live state tensors: do not dispose) */
  m: Tensor[];
  v: Tensor[];
}

export class Adam {
  readonly params: Tensor[];
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  protected readonly name: string;
  private _lr: number;
  private readonly m: (Tensor | null)[];
  private readonly v: (Tensor | null)[];
  private readonly steps: number[];

  constructor(params: Iterable<Tensor>, o: AdamOptions = {}, name = 'Adam') {
    this.name = name;
    this.params = checkParams(name, params);
    checkOptions(name, o, { lr: true, betas: true, eps: true, weightDecay: true, decoupled: true });
    this._lr = checkHyper(name, 'lr', o.lr ?? 1e-3, 0);
    const betas = o.betas ?? [0.9, 0.999];
    check(Array.isArray(betas) && betas.length === 2, 'EINVAL', name, `'betas' must be a pair of numbers`);
    this.betas = [checkHyper(name, 'betas[0]', betas[0], 0, 1), checkHyper(name, 'betas[1]', betas[1], 0, 1)];
    check(this.betas[0] < 1 && this.betas[1] < 1, 'EINVAL', name, `'betas' must be in [0, 1), got ${show(betas)}`);
    this.eps = checkHyper(name, 'eps', o.eps ?? 1e-8, 0);
    this.weightDecay = checkHyper(name, 'weightDecay', o.weightDecay ?? 0, 0);
    check(o.decoupled === undefined || typeof o.decoupled === 'boolean', 'EINVAL', name, `'decoupled' must be a boolean`);
    this.decoupled = o.decoupled ?? false;
    this.m = this.params.map(() => null);
    this.v = this.params.map(() => null);
    this.steps = this.params.map(() => 0);
  }

  get lr(): number {
    return this._lr;
  }
  set lr(v: number) {
    this._lr = checkHyper(this.name, 'lr', v, 0);
  }

  /** One update of every parameter that has a gradient (parameters without one are skipped). */
  step(): void {
    const idx = withGrads(this.name, this.params);
    if (idx.length === 0) return;
    // a recorded step holds one update per step count: state loaded since with other counts
    // (a checkpoint's per-parameter steps) needs other groups, so the step records again
    if (observingSteps()) stepDepends(this, 'groups', () => idx.map((i) => this.steps[i] - this.steps[idx[0]]).join());
    // parameters that skipped steps have other bias corrections: one call per step count
    const groups = new Map<number, number[]>();
    for (const i of idx) {
      const t = this.steps[i] + 1;
      groups.set(t, [...(groups.get(t) ?? []), i]);
    }
    noGrad(() => {
      for (const [t, group] of groups) {
        for (const i of group) this.ensureState(i);
        const [b1, b2] = this.betas;
        runOpInto('adam', group.map((i) => this.params[i].grad!),
          [...group.map((i) => this.params[i]), ...group.map((i) => this.m[i]!), ...group.map((i) => this.v[i]!)], {
            lr: this._lr, beta1: b1, beta2: b2, eps: this.eps, weight_decay: this.weightDecay, decoupled: this.decoupled,
            bias_correction1: 1 - b1 ** t, bias_correction2: 1 - b2 ** t,
          }, { keys: ['lr', 'bias_correction1', 'bias_correction2'], values: () => this.replayScalars(group), undo: () => group.forEach((i) => this.steps[i]--) });
        for (const i of group) this.steps[i] = t;
      }
    });
  }

  /** A recorded step's replay of one group's update: the next step count, as step() would advance it. */
  private replayScalars(group: number[]): number[] {
    const t = this.steps[group[0]] + 1;
    check(group.every((i) => this.steps[i] === t - 1 && this.m[i] !== null), 'EPLAN', this.name,
      'the parameters of a recorded step no longer share one step count (state loaded or disposed since): record the step again');
    for (const i of group) this.steps[i] = t;
    const [b1, b2] = this.betas;
    return [this._lr, 1 - b1 ** t, 1 - b2 ** t];
  }

  /** Disposes and clears every parameter's gradient. */
  zeroGrad(): void {
    zeroGrad(this.params);
  }

  /** The optimiser state (moments created as zeros where a parameter has none yet). */
  stateDict(): AdamState {
    this.params.forEach((_, i) => this.ensureState(i));
    return { step: Math.max(0, ...this.steps), steps: [...this.steps], lr: this._lr, m: this.m as Tensor[], v: this.v as Tensor[] };
  }

  /** Restores a state from stateDict() (values are copied; `s` stays the caller's). */
  loadStateDict(s: { step: number; steps?: number[]; lr: number; m: Tensor[]; v: Tensor[] }): void {
    const n = this.params.length;
    check(s !== null && typeof s === 'object', 'EINVAL', this.name, 'loadStateDict needs a state object');
    check(Array.isArray(s.m) && s.m.length === n && Array.isArray(s.v) && s.v.length === n, 'EINVAL', this.name,
      `state must hold m and v for each of the ${n} parameters`);
    const steps = s.steps ?? this.params.map(() => s.step);
    check(Array.isArray(steps) && steps.length === n && steps.every((k) => Number.isInteger(k) && k >= 0), 'EINVAL', this.name,
      `state 'steps' must be ${n} non-negative integers`);
    const lr = checkHyper(this.name, 'lr', s.lr, 0);
    // every entry checked before any is loaded: a failure halfway left the first moments replaced
    const m = this.params.map((p, i) => checkState(this.name, `m[${i}]`, s.m[i], p.shape));
    const v = this.params.map((p, i) => checkState(this.name, `v[${i}]`, s.v[i], p.shape));
    noGrad(() => {
      for (let i = 0; i < n; i++) {
        this.ensureState(i);
        loadInto(this.m[i]!, m[i]!);
        loadInto(this.v[i]!, v[i]!);
      }
    });
    steps.forEach((k, i) => (this.steps[i] = k));
    this._lr = lr;
  }

  /** Frees the optimiser state (the parameters stay). */
  dispose(): void {
    for (const a of [this.m, this.v]) a.forEach((t, i) => { t?.dispose(); a[i] = null; });
    this.steps.fill(0);
  }

  private ensureState(i: number): void {
    if (!this.m[i]) this.m[i] = stateLike(this.params[i], true);
    if (!this.v[i]) this.v[i] = stateLike(this.params[i], true);
  }
}

/** AdamW (torch.optim.AdamW): Adam with decoupled weight decay, default weightDecay 1e-2. */
export class AdamW extends Adam {
  constructor(params: Iterable<Tensor>, opts: Omit<AdamOptions, 'decoupled'> = {}) {
    // `decoupled: false` was overwritten by the spread below: an AdamW asked to be Adam stayed AdamW
    check(opts === null || typeof opts !== 'object' || !('decoupled' in opts), 'EINVAL', 'AdamW',
      `'decoupled' is not an option of AdamW (always decoupled): for L2 weight decay use Adam`);
    super(params, { ...opts, weightDecay: opts?.weightDecay ?? 1e-2, decoupled: true }, 'AdamW');
  }
}
