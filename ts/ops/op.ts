/**
 * The op runner: every op in ts/ops calls runOp (new outputs) or runOpInto (existing
 * outputs, for in-place state updates). Observers see every call (ONNX export tracing,
 * step recording, MDMT_DEBUG logging).
 */
import { check, isList, MdmtError, show } from '../errors';
import { Attrs, DType, native } from '../native/binding';
import { empty, shapeStr, Tensor } from '../tensor';
import { OpName } from './names';

export interface OutSpec {
  shape: readonly number[];
  dtype?: DType;
}

/**
 * Attributes that change from run to run of a recorded step (the learning rate, Adam's
 * bias corrections, a dropout seed drawn from the stream): a replay calls `values()` once
 * per run, in recording order, for fresh values of `keys` (it may advance the state the
 * eager call would have advanced, e.g. the dropout stream or Adam's step count).
 */
export interface DynamicAttrs {
  keys: readonly string[];
  values: () => number[];
  /**
   * Takes back what `values()` advanced, when the replay then fails (a kernel refused the batch:
   * a label out of range). The eager step failed before its update, so Adam's step count must
   * not move: ahead by one, every later bias correction differed from the eager run's.
   */
  undo?: () => void;
}

export interface OpCall {
  /** a native op, or 'reshape' (a view: no native op runs, but tracers must see it) */
  op: OpName | 'reshape';
  inputs: readonly Tensor[];
  outputs: readonly Tensor[];
  attrs: Attrs;
  /** true for runOpInto: the outputs existed before the call (state updated in place) */
  into?: boolean;
  dynamic?: DynamicAttrs;
}
export type OpObserver = (call: OpCall) => void;
const observers: OpObserver[] = [];
const effectObservers: ((fn: () => void) => void)[] = [];

/**
 * Declares a JavaScript-side state change a step makes besides its ops (a module's batch
 * counter): a recorder of the step calls `fn` again on every replay.
 */
export function stepEffect(fn: () => void): void {
  for (const f of effectObservers) f(fn);
}

/** Adds `fn` to `list`; returns a function that removes it. */
function subscribe<F>(list: F[], fn: F): () => void {
  list.push(fn);
  return () => {
    const i = list.indexOf(fn);
    if (i >= 0) list.splice(i, 1);
  };
}

/** What a step recorder is told of a JavaScript-side value: `read` gives it, or null when the step sets it. */
export type DependObserver = (owner: object, key: string, read: (() => unknown) | null) => void;
const dependObservers: DependObserver[] = [];

/** True while a step is recorded: the cheap test before calling stepDepends or stepSets. */
export function observingSteps(): boolean {
  return dependObservers.length > 0;
}

/**
 * Declares that what a step does depends on a JavaScript-side value (a module's training
 * mode, a parameter's requiresGrad) named by `owner` and `key`: a recorder keeps the value
 * `read()` gives the first time, and a replay where it differs records the step again (the
 * plan holds the ops the old value chose: BatchNorm's batch statistics, dropout, a gradient).
 */
export function stepDepends(owner: object, key: string, read: () => unknown): void {
  for (const f of dependObservers) f(owner, key, read);
}

/**
 * Declares that the step sets a value stepDepends tracks (model.eval() inside the step): its
 * later reads in the step do not depend on the value before it, and a replay sets it again.
 */
export function stepSets(owner: object, key: string, apply: () => void): void {
  for (const f of dependObservers) f(owner, key, null);
  stepEffect(apply);
}

/** Registers an observer of stepDepends and stepSets calls; returns a function that removes it. */
export function observeDepends(fn: DependObserver): () => void {
  return subscribe(dependObservers, fn);
}

/** Registers an observer of stepEffect calls; returns a function that removes it. */
export function observeEffects(fn: (effect: () => void) => void): () => void {
  return subscribe(effectObservers, fn);
}

/** Registers an observer of every op call; returns a function that removes it. */
export function observeOps(fn: OpObserver): () => void {
  return subscribe(observers, fn);
}

function checkInputs(op: string, inputs: readonly Tensor[], names?: readonly string[]): string {
  let device: string | null = null;
  inputs.forEach((t, i) => {
    const name = names?.[i] ?? `input ${i}`;
    check(t instanceof Tensor, 'EINVAL', op, () => `${name} must be a Tensor`);
    t.assertAlive(op, `input '${name}'`);
    if (device === null) device = t.device;
    else check(t.device === device, 'EDEVICE', op, () => `input '${name}' is on ${t.device}, expected ${device}`);
  });
  return device ?? 'cpu';
}

/** Tells the observers about a call that bypassed runOp (views). */
export function notifyObservers(call: OpCall): void {
  if (observers.length) for (const f of observers) f(call);
}

/** Runs `op` on `inputs`, allocating one output per spec on the inputs' device. */
export function runOp(op: OpName, inputs: readonly Tensor[], attrs: Attrs, outs: readonly OutSpec[], names?: readonly string[], dynamic?: DynamicAttrs): Tensor[] {
  const device = checkInputs(op, inputs, names);
  const outputs: Tensor[] = [];
  try {
    for (const o of outs) outputs.push(empty(o.shape, o.dtype ?? 'float32', device));
    native().run(op, inputs.map((t) => t.id), outputs.map((t) => t.id), attrs);
  } catch (e) {
    for (const t of outputs) t.dispose();
    throw e;
  }
  // observers get their own copy of the input list (callers may reuse theirs, e.g. DenseNet's features)
  if (observers.length) for (const f of observers) f({ op, inputs: [...inputs], outputs, attrs, dynamic });
  return outputs;
}

/** Runs `op` writing into existing tensors (optimisers, running statistics, fill). */
export function runOpInto(op: OpName, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: Attrs, dynamic?: DynamicAttrs): void {
  checkInputs(op, [...inputs, ...outputs]);
  native().run(op, inputs.map((t) => t.id), outputs.map((t) => t.id), attrs);
  if (observers.length) for (const f of observers) f({ op, inputs: [...inputs], outputs: [...outputs], attrs, into: true, dynamic });
  markWritten(outputs);
  // a recorded step (a compiled training step) writes them again on every replay
  if (effectObservers.length) {
    const outs = [...outputs];
    stepEffect(() => markWritten(outs));
  }
}

// ---- write versions ----------------------------------------------------------------------
// Whatever keeps a copy derived from a tensor's values (an inference plan's folded BatchNorm,
// its Winograd-transformed weights) compares the tensor's write version to know the copy is
// stale. Every in-place write counts: runOpInto (optimisers, running statistics, fill_, and
// their replays in recorded steps) and the host uploads into existing tensors
// (Module.loadStateDict, the nn/init initialisers), which call markWritten themselves.
const versions = new WeakMap<Tensor, number>();

/** How many in-place writes `t` has had (0 for a tensor never written after it was made). */
export function writeVersion(t: Tensor): number {
  return versions.get(t) ?? 0;
}

/** Counts one in-place write of each tensor. */
export function markWritten(ts: readonly Tensor[]): void {
  for (const t of ts) versions.set(t, (versions.get(t) ?? 0) + 1);
}

const hostWriteObservers: ((ts: readonly Tensor[], what: string) => void)[] = [];

/**
 * Counts one in-place write of each tensor from the host (an initialiser, weights loaded),
 * called before the upload: a step recorder refuses one into a tensor that existed before the
 * step (its plan replays ops, not uploads: the write would happen on the first call only).
 */
export function markHostWritten(ts: readonly Tensor[], what: string): void {
  for (const f of hostWriteObservers) f(ts, what);
  markWritten(ts);
}

/** Registers an observer of markHostWritten calls; returns a function that removes it. */
export function observeHostWrites(fn: (ts: readonly Tensor[], what: string) => void): () => void {
  return subscribe(hostWriteObservers, fn);
}

// ---- validation helpers shared by the op files -----------------------------------------

export interface TensorRule {
  dtype?: DType | readonly DType[];
  ndim?: number | readonly number[];
}

/** Validates one argument: a live Tensor with the given dtype / rank. */
export function checkArg(op: string, name: string, t: unknown, rule: TensorRule = {}): Tensor {
  if (!(t instanceof Tensor)) throw new MdmtError('EINVAL', op, `'${name}' must be a Tensor, got ${describe(t)}`);
  t.assertAlive(op, `'${name}'`);
  if (rule.dtype !== undefined) {
    const ok = Array.isArray(rule.dtype) ? rule.dtype.includes(t.dtype) : rule.dtype === t.dtype;
    check(ok, 'EDTYPE', op, () => `'${name}' must be ${[rule.dtype].flat().join(' or ')}, got ${t.dtype}`);
  }
  if (rule.ndim !== undefined) {
    const ok = Array.isArray(rule.ndim) ? rule.ndim.includes(t.ndim) : rule.ndim === t.ndim;
    check(ok, 'ESHAPE', op, () => `'${name}' must have ${[rule.ndim].flat().join(' or ')} dims, got shape ${shapeStr(t.shape)}`);
  }
  return t;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Tensor) return v.toString();
  return typeof v;
}

/** Reads an int or [int, int] attribute as a pair of non-negative (or positive) integers. */
export function pair(op: string, name: string, v: number | readonly number[] | undefined, def: number, min = 0): [number, number] {
  // null (or any non-list) was spread: a raw TypeError 'v is not iterable'
  const p: unknown[] = v === undefined ? [def, def] : typeof v === 'number' ? [v, v] : isList(v) ? [...v] : [v];
  check(p.length === 2 && p.every((x) => Number.isInteger(x) && (x as number) >= min), 'EINVAL', op,
    () => `'${name}' must be an integer >= ${min} or a pair of them, got ${show(v)}`);
  return [p[0] as number, p[1] as number];
}

/** Normalises a possibly negative axis for a tensor of `ndim` dims. */
export function normAxis(op: string, axis: unknown, ndim: number): number {
  check(Number.isInteger(axis) && (axis as number) >= -ndim && (axis as number) < ndim, 'EINVAL', op,
    () => `'axis' must be an integer in [${-ndim}, ${ndim}), got ${show(axis)}`);
  return (axis as number) < 0 ? (axis as number) + ndim : (axis as number);
}

export function checkNumber(op: string, name: string, v: unknown, lo = -Infinity, hi = Infinity): number {
  // "a number in [-Infinity, Infinity], got Infinity" contradicted itself: the bounds shown are the finite ones
  const range = () => lo === -Infinity && hi === Infinity ? 'a finite number' : hi === Infinity ? `a finite number >= ${lo}`
    : lo === -Infinity ? `a finite number <= ${hi}` : `a number in [${lo}, ${hi}]`;
  check(typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi, 'EINVAL', op, () => `'${name}' must be ${range()}, got ${show(v)}`);
  return v as number;
}
