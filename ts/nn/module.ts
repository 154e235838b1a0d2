/**
 * Module: the base of layers and models, with PyTorch's naming. Parameters, buffers and
 * children are registered by name; `stateDict()` lists them in PyTorch's order (per
 * module: its parameters, then its buffers, then its children, depth first), so keys
 * equal a torchvision / timm `state_dict()` and weights load 1:1.
 *
 *   class Affine extends Module { constructor() { super(); this.registerParameter('weight', ones([3])); }
 *     forward(x: Tensor) { return mul(x, this.param('weight')); } }
 */
import { check, checkOptions, kindOf, MdmtError, show } from '../errors';
import { native } from '../native/binding';
import { markHostWritten, observingSteps, stepDepends, stepSets } from '../ops/op';
import { keep, normDevice, shapeStr, Tensor, toFloat32, TypedArray } from '../tensor';

export type StateDict = Map<string, Tensor>;

export interface LoadOptions {
  /** every key of the module must be present and no others (default true) */
  strict?: boolean;
  /** the caller named in errors (default 'loadStateDict'; loadWeightsFile passes predict's or export's name) */
  op?: string;
}

/** The first 6 items and how many in all: a backbone mismatch lists hundreds of keys, a line nobody reads. */
export function someOf(items: readonly string[], sep = ', '): string {
  return items.length <= 6 ? items.join(sep) : `${items.slice(0, 6).join(sep)}${sep}… (${items.length} in all)`;
}

/** `src`'s values in `dst`'s dtype: bfloat16/float16 decoded (their bits were loaded as values); int32 only from values that are integers in its range. */
function convertFor(op: string, key: string, src: Tensor, dst: Tensor): TypedArray {
  const data = src.toArray();
  if (src.dtype === dst.dtype) return data;
  if (dst.dtype === 'float32') return toFloat32(data, src.dtype);
  if (dst.dtype === 'int32') {
    // Int32Array.from wrapped without a word: 1e10 became 1410065408, NaN became 0, 2.5 became 2
    const f = toFloat32(data, src.dtype);
    const bad = f.findIndex((v) => !Number.isInteger(v) || v < -2147483648 || v > 2147483647);
    check(bad < 0, 'EDATA', op, () => `'${key}' must hold integers in int32 range (the module's tensor is int32), got ${f[bad]}${f.length > 1 ? ` at index ${bad}` : ''}`);
    return Int32Array.from(f);
  }
  throw new MdmtError('EDTYPE', op, `'${key}' is ${src.dtype}; the module's tensor is ${dst.dtype} (load ${dst.dtype} or float32 data)`);
}

/** A registered name: a string without '.' (a number was a raw TypeError from name.includes). */
function checkName(op: string, name: unknown): void {
  check(typeof name === 'string' && name !== '', 'EINVAL', op, () => `name must be a non-empty string, got ${kindOf(name)}`);
  check(!name.includes('.'), 'EINVAL', op, `name '${name}' may not contain '.'`);
}

export abstract class Module {
  private _training = true;
  /** Training mode (BatchNorm's batch statistics, dropout): a recorded step depends on the mode its modules read. */
  get training(): boolean {
    if (observingSteps()) stepDepends(this, 'training', () => this._training);
    return this._training;
  }
  set training(v: boolean) {
    this._training = v;
    if (observingSteps()) stepSets(this, 'training', () => (this._training = v));
  }
  private readonly _params = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _children = new Map<string, Module>();

  abstract forward(...args: unknown[]): unknown;

  // ---- registration ----
  /** Registers a trainable tensor (kept out of tidy scopes, requiresGrad = true); null = absent (bias=False). */
  registerParameter(name: string, t: Tensor | null): Tensor | null {
    checkName('registerParameter', name);
    this.checkUnused('registerParameter', name, this._params);
    // an array or a number was kept, and parameters() then handed it to the optimiser
    check(t === null || t instanceof Tensor, 'EINVAL', 'registerParameter', () => `'${name}' must be a Tensor or null, got ${kindOf(t)}`);
    if (t) {
      keep(t);
      t.requiresGrad = true;
    }
    this._params.set(name, t);
    return t;
  }
  registerBuffer(name: string, t: Tensor): Tensor {
    checkName('registerBuffer', name);
    this.checkUnused('registerBuffer', name, this._buffers);
    check(t instanceof Tensor, 'EINVAL', 'registerBuffer', () => `'${name}' must be a Tensor, got ${kindOf(t)}`);
    keep(t);
    this._buffers.set(name, t);
    return t;
  }
  registerModule<M extends Module>(name: string, m: M): M {
    checkName('registerModule', name);
    this.checkUnused('registerModule', name, this._children);
    check(m instanceof Module, 'EINVAL', 'registerModule', () => `'${name}' must be a Module, got ${kindOf(m)}`);
    this._children.set(name, m);
    return m;
  }

  /**
   * Refuses `name` when a parameter, buffer or submodule of another kind has it (PyTorch raises
   * KeyError): a buffer named as a parameter replaced it in stateDict(), whose keys are one Map,
   * and a submodule's keys ('w.weight') sat beside a parameter 'w'. Re-registering the same
   * kind replaces, as in PyTorch.
   */
  private checkUnused(op: string, name: string, own: Map<string, unknown>): void {
    const kinds: [string, Map<string, unknown>][] = [['parameter', this._params], ['buffer', this._buffers], ['submodule', this._children]];
    for (const [kind, map] of kinds)
      check(map === own || !map.has(name), 'EINVAL', op, () => `'${name}' is already a ${kind} of this ${this.constructor.name}`);
  }

  // ---- access ----
  param(name: string): Tensor {
    const t = this._params.get(name);
    if (!t) throw new MdmtError('EINVAL', this.constructor.name, `no parameter '${name}'`);
    return t;
  }
  paramOrNull(name: string): Tensor | null {
    return this._params.get(name) ?? null;
  }
  buffer(name: string): Tensor {
    const t = this._buffers.get(name);
    if (!t) throw new MdmtError('EINVAL', this.constructor.name, `no buffer '${name}'`);
    return t;
  }
  child<M extends Module = Module>(name: string): M {
    const m = this._children.get(name);
    if (!m) throw new MdmtError('EINVAL', this.constructor.name, `no submodule '${name}'`);
    return m as M;
  }
  children(): [string, Module][] {
    return [...this._children.entries()];
  }
  /** Replaces (or removes, with null) a child: used to strip classifiers. */
  setChild(name: string, m: Module | null): void {
    const old = this._children.get(name);
    if (old && old !== m) old.dispose();
    if (m) this._children.set(name, m);
    else this._children.delete(name);
  }

  /** Pre-order walk: [prefix, module] for this module and every descendant. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this._children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }
  /**
   * Each parameter once, under its first name (PyTorch's remove_duplicate): a module used
   * twice (tied weights) listed its parameters twice, which optimisers refuse and numParams()
   * counted twice. stateDict() keeps every key, as PyTorch's state_dict does.
   */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [p, m] of this.namedModules(prefix))
      for (const [n, t] of m._params) {
        if (!t || seen.has(t)) continue;
        seen.add(t);
        out.push([p ? `${p}.${n}` : n, t]);
      }
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules(prefix)) for (const [n, t] of m._buffers) out.push([p ? `${p}.${n}` : n, t]);
    return out;
  }
  /** Number of trainable scalars. */
  numParams(): number {
    return this.parameters().reduce((a, t) => a + t.size, 0);
  }

  /** Hook for modules whose buffers mirror host state (BatchNorm's num_batches_tracked). */
  protected syncBuffers(): void {}
  protected afterLoad(): void {}

  /** Parameters and buffers in PyTorch state_dict order. The tensors are the module's own (not copies). */
  stateDict(prefix = ''): StateDict {
    const sd: StateDict = new Map();
    this.syncBuffers();
    for (const [n, t] of this._params) if (t) sd.set(prefix + n, t);
    for (const [n, t] of this._buffers) sd.set(prefix + n, t);
    for (const [n, c] of this._children) for (const [k, t] of c.stateDict(`${prefix}${n}.`)) sd.set(k, t);
    return sd;
  }

  /**
   * The tensors of stateDict() in its order, without names and without syncing host-mirrored
   * buffers (one native upload per BatchNorm): cheap enough for a check on every plan run.
   */
  stateTensors(out: Tensor[] = []): Tensor[] {
    for (const t of this._params.values()) if (t) out.push(t);
    for (const t of this._buffers.values()) out.push(t);
    for (const c of this._children.values()) c.stateTensors(out);
    return out;
  }

  /**
   * Copies values into the module's tensors. Strict mode fails listing every missing,
   * unexpected and mis-shaped key; non-strict loads the matching keys and returns the rest.
   */
  loadStateDict(src: Map<string, Tensor> | Record<string, Tensor>, opts: LoadOptions = {}): { missing: string[]; unexpected: string[] } {
    checkOptions('loadStateDict', opts, { strict: true, op: true });
    const op = opts.op ?? 'loadStateDict';
    const strict = opts.strict ?? true;
    check(typeof strict === 'boolean', 'EINVAL', op, () => `'strict' must be a boolean, got ${show(strict)}`);
    check(src !== null && typeof src === 'object', 'EINVAL', op, () => `needs a Map (or object) of name -> Tensor, got ${kindOf(src)}`);
    const entries = src instanceof Map ? src : new Map(Object.entries(src));
    const own = this.stateDict();
    // every value checked before any is written: a disposed one half-way left the model half loaded
    for (const [k, s] of entries) {
      check(s instanceof Tensor, 'EINVAL', op, () => `'${k}' must be a Tensor, got ${kindOf(s)}`);
      if (own.has(k)) s.assertAlive(op, `'${k}'`);
    }
    const missing = [...own.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !own.has(k));
    const misShaped: string[] = [];
    for (const [k, t] of own) {
      const s = entries.get(k);
      if (!s) continue;
      const sameShape = s.shape.length === t.shape.length && s.shape.every((d, i) => d === t.shape[i]);
      // PyTorch stores num_batches_tracked as a 0-d int64; accept any single-element tensor
      const scalarOk = k.endsWith('num_batches_tracked') && s.size === 1;
      if (!sameShape && !scalarOk) misShaped.push(`${k}: expected ${shapeStr(t.shape)}, got ${shapeStr(s.shape)}`);
    }
    const problems: string[] = [];
    if (misShaped.length) problems.push(`mis-shaped: ${someOf(misShaped, '; ')}`);
    if (strict && missing.length) problems.push(`missing: ${someOf(missing)}`);
    if (strict && unexpected.length) problems.push(`unexpected: ${someOf(unexpected)}`);
    // most keys missing or unexpected: the weights are of another architecture, which says more than a list
    if (strict && missing.length > own.size / 2 && unexpected.length > entries.size / 2)
      problems.unshift(`${missing.length} of the model's ${own.size} keys are missing and ${unexpected.length} of ${entries.size} unexpected: weights of another architecture?`);
    if (problems.length) throw new MdmtError('ESHAPE', op, problems.join(' | '));
    // every conversion (which can refuse a value) done before any tensor is written: a refused
    // one half-way left the model half loaded. Same-dtype copies are read as they are written.
    const converted = new Map<string, TypedArray>();
    for (const [k, t] of own) {
      const s = entries.get(k);
      if (s && s.dtype !== t.dtype) converted.set(k, convertFor(op, k, s, t));
    }
    const n = native();
    for (const [k, t] of own) {
      const s = entries.get(k);
      if (!s) continue;
      const values = converted.get(k) ?? s.toArray();
      markHostWritten([t], op);
      n.upload(t.id, values);
    }
    for (const [, m] of this.namedModules()) m.afterLoad();
    return { missing, unexpected };
  }

  train(mode = true): this {
    // train('false') or train(0) set a mode BatchNorm and dropout read as truthy or falsy
    check(typeof mode === 'boolean', 'EINVAL', 'train', () => `mode must be a boolean, got ${show(mode)}`);
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter and buffer of this module and its children. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const t of m._params.values()) {
        t?.grad?.dispose();
        t?.dispose();
      }
      for (const t of m._buffers.values()) t.dispose();
    }
  }

  /**
   * Moves parameters and buffers to `device` (new tensors replace the old ones); those already
   * there stay. The name is normalised first: a model on 'cuda:0' compared unequal to 'cuda',
   * so a second to('cuda') replaced every tensor, and an optimiser built in between held
   * disposed parameters.
   */
  to(device: string): this {
    device = normDevice(device);
    for (const [, m] of this.namedModules()) {
      for (const [n, t] of m._params) {
        if (!t || t.device === device) continue;
        const u = keep(t.to(device));
        u.requiresGrad = t.requiresGrad;
        u.name = t.name;
        t.grad?.dispose();
        t.dispose();
        m._params.set(n, u);
      }
      for (const [n, t] of m._buffers) {
        if (t.device === device) continue;
        const u = keep(t.to(device));
        t.dispose();
        m._buffers.set(n, u);
      }
    }
    return this;
  }

  /** One line per module: name, type and its extra description. */
  toString(): string {
    return this.namedModules()
      .map(([n, m]) => `${'  '.repeat(n ? n.split('.').length : 0)}${n || '(root)'}: ${m.constructor.name}${m.extraRepr() ? `(${m.extraRepr()})` : ''}`)
      .join('\n');
  }
  protected extraRepr(): string {
    return '';
  }
}
