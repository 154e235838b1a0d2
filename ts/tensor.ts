/**
 * Tensor: a handle (integer id) on memory owned by the native engine, plus shape, dtype
 * and device. Memory is freed explicitly: `t.dispose()`, or by `tidy(fn)`, which disposes
 * every tensor created inside `fn` except the ones it returns (and works across `await`).
 * The garbage collector never decides when device memory goes.
 *
 *   const y = tidy(() => relu(add(x, b)));   // the temporary add is freed, y survives
 */
import { AsyncLocalStorage } from 'async_hooks';
import * as os from 'os';
import { check, checkOptions, isList, kindOf, MdmtError, show } from './errors';
import { DType, DTYPE_BYTES, native } from './native/binding';

export type { DType } from './native/binding';
export type Device = string; // 'cpu' | 'cuda' | 'cuda:N'
export type TypedArray = Float32Array | Int32Array | Uint8Array | Uint16Array;

/** Normalises 'cuda' to 'cuda:0'; validates the name. */
export function normDevice(d: string): Device {
  if (d === 'cpu') return 'cpu';
  if (d === 'cuda') return 'cuda:0';
  if (/^cuda:\d{1,2}$/.test(d)) return d;
  throw new MdmtError('EDEVICE', 'device', `unknown device '${d}' (use cpu, cuda or cuda:N)`);
}

let defaultDevice: Device = envDevice();
/** $MDMT_DEVICE, checked: `MDMT_DEVICE=gpu` failed naming neither the variable nor where it was set. */
function envDevice(): Device {
  const v = process.env.MDMT_DEVICE;
  try {
    return normDevice(v || 'cpu');
  } catch {
    throw new MdmtError('EDEVICE', 'MDMT_DEVICE', `'${v}' is not a device: cpu, cuda or cuda:N (unset, cpu)`);
  }
}
/** The device new tensors go to when none is given ($MDMT_DEVICE, default cpu). */
export function getDefaultDevice(): Device {
  return defaultDevice;
}
export function setDefaultDevice(d: string): void {
  defaultDevice = normDevice(d);
}

// ---- scopes (tidy) ---------------------------------------------------------------------

class Scope {
  readonly tensors = new Set<Tensor>();
  constructor(readonly parent: Scope | undefined) {}
}
const scopeStore = new AsyncLocalStorage<Scope>();
let liveCount = 0;

function track(t: Tensor): void {
  liveCount++;
  const s = scopeStore.getStore();
  if (s) {
    s.tensors.add(t);
    t._scope = s;
  }
}

/**
 * The tensors in a tidy's result, at any depth (a depth cap of 4 disposed deeper ones silently),
 * in arrays, Maps, Sets and the own enumerable fields of any object (a Set or a class instance's
 * tensors were disposed silently); cycles are followed once.
 */
function collectTensors(v: unknown, out: Set<Tensor>, seen = new Set<object>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (v instanceof Tensor) {
    out.add(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const e of v) collectTensors(e, out, seen);
    return;
  }
  if (v instanceof Map || v instanceof Set) {
    for (const e of v.values()) collectTensors(e, out, seen);
    return;
  }
  // Plain objects and instances of the caller's classes alike: a tensor in a returned object's
  // own field is kept. Typed arrays and buffers hold numbers only (and may hold millions).
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || v instanceof Promise) return;
  for (const e of Object.values(v as Record<string, unknown>)) collectTensors(e, out, seen);
}

function closeScope(scope: Scope, result: unknown): void {
  const keepSet = new Set<Tensor>();
  collectTensors(result, keepSet);
  for (const t of scope.tensors) {
    if (keepSet.has(t)) {
      t._scope = scope.parent;
      scope.parent?.tensors.add(t);
    } else if (!t.disposed) {
      t._scope = undefined;
      t.dispose();
    }
  }
  scope.tensors.clear();
}

/**
 * Runs `fn` and disposes every tensor it created, except those in its result (a tensor, or
 * tensors held at any depth in arrays, Maps, Sets and objects' own fields), which move to the
 * enclosing scope.
 * `fn` may be async: the scope follows the async context, so concurrent tidies don't mix.
 *
 *   const loss = await tidy(async () => { const y = model.forward(x); return mse(y, t); });
 */
export function tidy<T>(fn: () => T): T {
  check(typeof fn === 'function', 'EINVAL', 'tidy', () => `needs a function to run, got ${kindOf(fn)}`);
  const scope = new Scope(scopeStore.getStore());
  let result: T;
  try {
    result = scopeStore.run(scope, fn);
  } catch (e) {
    closeScope(scope, undefined);
    throw e;
  }
  if (result && typeof (result as unknown as Promise<unknown>).then === 'function') {
    return (result as unknown as Promise<unknown>).then(
      (v) => {
        closeScope(scope, v);
        return v;
      },
      (e) => {
        closeScope(scope, undefined);
        throw e;
      },
    ) as unknown as T;
  }
  closeScope(scope, result);
  return result;
}

/** Takes a tensor out of scope tracking so that no tidy disposes it; returns it. */
export function keep<T extends Tensor>(t: T): T {
  // keep([a, b]) or keep({ w }) returned its argument untouched, and the tidy then disposed a and b
  check(t instanceof Tensor, 'EINVAL', 'keep', () => `takes one Tensor, got ${kindOf(t)}${Array.isArray(t) ? ': keep each (or return them from the tidy)' : ''}`);
  if (t._scope) {
    t._scope.tensors.delete(t);
    t._scope = undefined;
  }
  return t;
}

/** Live tensor count (JS handles) and native memory per device. */
export function memory(device?: string): { liveTensors: number; devices: Record<string, ReturnType<ReturnType<typeof native>['memStats']>> } {
  const n = native();
  const devs = devicesOf(device);
  const devices: Record<string, ReturnType<typeof n.memStats>> = {};
  for (const d of devs) devices[d] = n.memStats(d);
  return { liveTensors: liveCount, devices };
}

/**
 * Gives the freed buffers the allocators keep for reuse (`memory().devices[d].cachedBytes`)
 * back to the system, on `device` or on every device; returns the bytes given back. Live
 * tensors are untouched. For a long-lived process after a burst of unusual shapes (a server
 * that ran many batch sizes): the cache refills as buffers are freed again.
 *
 * @example emptyCache(); // memory().devices.cpu.cachedBytes is now 0
 */
export function emptyCache(device?: string): number {
  const n = native();
  return devicesOf(device).reduce((sum, d) => sum + n.emptyCache(d), 0);
}

/** `device` normalised, or every device: the CPU and each available CUDA device. */
function devicesOf(device?: string): string[] {
  const n = native();
  return device ? [normDevice(device)] : ['cpu', ...(n.cudaCompiled ? n.devices().filter((d) => d.type === 'cuda' && d.available).map((d) => d.name) : [])];
}

/** Number of live (not disposed) tensors created through this module. */
export function liveTensorCount(): number {
  return liveCount;
}

// ---- the Tensor class ----------------------------------------------------------------

let hostReadGuard: (() => void) | undefined;
/**
 * @internal The plan recorder's check on host reads (toArray, item, to) while it records a
 * step: a value read there is baked into the plan and replayed for every later input. Returns
 * the guard it replaces.
 */
export function setHostReadGuard(g: (() => void) | undefined): (() => void) | undefined {
  const prev = hostReadGuard;
  hostReadGuard = g;
  return prev;
}

/** Autograd record of the op that produced a tensor (see ts/autograd/tape.ts). */
export interface GradNode {
  op: string;
  inputs: (Tensor | null)[];
  outputs: Tensor[];
  vjp: (grads: (Tensor | null)[]) => (Tensor | null | undefined)[];
  id: number;
}

/** Host copies from this size on are checked against the memory available (one read of /proc/meminfo). */
const HOST_COPY_CHECK_BYTES = 256 * 2 ** 20;

export class Tensor {
  /** native handle */
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  private _requiresGrad = false;
  grad: Tensor | null = null;
  /** set on outputs of recorded ops */
  node: GradNode | null = null;
  /** optional name (parameters carry their state_dict key) */
  name?: string;
  private _disposed = false;
  /** @internal */
  _scope: Scope | undefined;

  /** leaf tensors with requiresGrad receive `.grad` from backward(); only floating tensors can (as PyTorch) */
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    check(typeof v === 'boolean', 'EINVAL', 'requiresGrad', () => `must be a boolean, got ${show(v)}`);
    // an int32 or uint8 tensor has no gradient: backward() would have nothing to give it
    check(!v || this.dtype === 'float32' || this.dtype === 'bfloat16' || this.dtype === 'float16', 'EDTYPE', 'requiresGrad',
      () => `only floating tensors can require gradients, this one is ${this.dtype}`);
    this._requiresGrad = v;
  }

  /** @internal use the creation functions */
  constructor(id: number, shape: readonly number[], dtype: DType, device: Device, tracked = true) {
    this.id = id;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.device = device;
    if (tracked) track(this);
    else liveCount++;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get disposed(): boolean {
    return this._disposed;
  }

  /** Frees the native memory now. Safe to call twice. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    liveCount--;
    if (this._scope) {
      this._scope.tensors.delete(this);
      this._scope = undefined;
    }
    // The node stays: the graph still runs through a disposed intermediate (its vjp may need
    // only shapes), and a vjp that needs the freed values throws EDISPOSED. Dropping it cut the
    // graph there, so backward() silently gave partial gradients or none.
    native().free(this.id);
  }

  /** Throws a named error if the tensor has been disposed. */
  assertAlive(op: string, name = 'tensor'): this {
    if (this._disposed) throw new MdmtError('EDISPOSED', op, `${name} has been disposed (shape ${shapeStr(this.shape)})`);
    return this;
  }

  /** Copies the data to a new typed array on the host. */
  toArray(): TypedArray {
    this.assertAlive('toArray');
    hostReadGuard?.();
    // a copy the host cannot hold aborted the process inside V8 (FATAL ERROR: v8::ArrayBuffer::New
    // Allocation failed), no JS error to catch: a large one is measured against the memory available
    const bytes = this.size * DTYPE_BYTES[this.dtype];
    if (bytes >= HOST_COPY_CHECK_BYTES && this.size <= 0xffffffff) {
      const room = os.freemem();
      check(bytes <= room, 'ENOMEM', 'toArray', () => `copying tensor ${shapeStr(this.shape)} (${this.dtype}, ${this.size} elements, ${bytes} bytes) to the host needs more memory than is available (${room} bytes)`);
    }
    return native().download(this.id);
  }

  /** The value of a one-element tensor. */
  item(): number {
    check(this.size === 1, 'EINVAL', 'item', () => `tensor has ${this.size} elements, item() needs 1`);
    return this.toArray()[0];
  }

  /** A copy on another device (or this tensor's data copied if already there). */
  to(device: string): Tensor {
    this.assertAlive('to');
    const d = normDevice(device);
    // read first: a refused read (EPLAN while a step records, ENOMEM) left the new tensor alive outside a tidy
    const data = this.size > 0 ? this.toArray() : null;
    const t = empty(this.shape, this.dtype, d);
    try {
      if (data) native().upload(t.id, data);
    } catch (e) {
      t.dispose();
      throw e;
    }
    return t;
  }

  toString(): string {
    return `Tensor(${shapeStr(this.shape)}, ${this.dtype}, ${this.device}${this._disposed ? ', disposed' : ''})`;
  }
}

export function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

// ---- creation ------------------------------------------------------------------------

const TENSOR_KEYS = { dtype: true, device: true } as const;

export interface TensorOptions {
  dtype?: DType;
  device?: string;
}

function checkShape(op: string, shape: readonly number[]): number[] {
  check(isList(shape), 'EINVAL', op, 'shape must be an array of non-negative integers');
  for (const [i, d] of shape.entries())
    check(Number.isInteger(d) && d >= 0, 'ESHAPE', op, () => `shape[${i}] must be a non-negative integer, got ${show(d)}`);
  return [...shape];
}

/** An uninitialised tensor (internal building block of ops). */
export function empty(shape: readonly number[], dtype: DType = 'float32', device: string = defaultDevice): Tensor {
  const s = checkShape('empty', shape);
  const dev = normDevice(device);
  const id = native().alloc(s, dtype, dev);
  return new Tensor(id, s, dtype, dev);
}

const arrayTypes: Record<string, new (n: number | ArrayLike<number>) => TypedArray> = {
  float32: Float32Array, int32: Int32Array, uint8: Uint8Array, bfloat16: Uint16Array, float16: Uint16Array,
};

/** Integer dtypes' ranges (bfloat16/float16 data is given as raw 16-bit patterns). */
const INT_RANGE: Partial<Record<string, [number, number]>> = {
  int32: [-2147483648, 2147483647], uint8: [0, 255], bfloat16: [0, 65535], float16: [0, 65535],
};

/**
 * Refuses a fill value the dtype cannot hold: 300 was stored as 44 in uint8, -1 as 255, and
 * Infinity as -2147483648 in int32. A fraction is truncated toward zero, as the fill op's
 * contract says (docs/ops.md) and as PyTorch's full() does.
 */
export function checkFillValue(op: string, value: unknown, dtype: string): void {
  // a fill value is a number even for bfloat16/float16 (converted natively), not a bit pattern
  const range = dtype === 'int32' || dtype === 'uint8' ? INT_RANGE[dtype] : undefined;
  // NaN was refused natively, as op 'fill' when full() was called
  if (typeof value !== 'number' || Number.isNaN(value) || (range && !(Number.isFinite(value) && Math.trunc(value) >= range[0] && Math.trunc(value) <= range[1])))
    throw new MdmtError('EINVAL', op, `value ${show(value)} is not ${range ? `a number ${dtype} can hold ([${range[0]}, ${range[1]}])` : 'a number or ±Infinity'}`);
}

/**
 * Host data converted to the dtype's array. A typed array conversion would turn NaN into 0,
 * truncate 1.5 to 1, wrap 300 to 44 (uint8) and a string into NaN, silently: each is an error.
 */
function convert(data: ArrayLike<number>, Ctor: new (n: number | ArrayLike<number>) => TypedArray, dtype: string): TypedArray {
  const range = INT_RANGE[dtype];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number')
      throw new MdmtError('EINVAL', 'tensor', `data[${i}] is ${show(v)}, not a number`);
    if (range && !(Number.isInteger(v) && v >= range[0] && v <= range[1]))
      throw new MdmtError('EINVAL', 'tensor', `data[${i}] is ${show(v)}, which ${dtype} cannot hold (${dtype === 'bfloat16' || dtype === 'float16'
        ? `${dtype} data is given as raw 16-bit storage patterns, integers in [0, 65535]` : `integers in [${range[0]}, ${range[1]}]`})`);
  }
  return new Ctor(data);
}

/** An IEEE half-precision (float16) storage pattern as a number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/**
 * Host data of a `dtype` tensor as float32 values: bfloat16 and float16 storage patterns
 * decoded (Float32Array.from would read the bits 0x3f80 of 1.0 as 16256), integers converted.
 */
export function toFloat32(data: TypedArray, dtype: DType): Float32Array {
  if (dtype === 'float16') return Float32Array.from(data, halfToFloat);
  if (dtype === 'bfloat16') return new Float32Array(Uint32Array.from(data, (b) => b << 16).buffer);
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/**
 * float64 values as float32, refusing a finite value beyond float32's range (it would become
 * ±Infinity): `fail(value, index)` makes the error. Infinity and NaN stay themselves.
 */
export function narrowToFloat32(values: ArrayLike<number>, fail: (value: number, index: number) => Error): Float32Array {
  const o = Float32Array.from(values);
  for (let i = 0; i < o.length; i++) if (Math.abs(o[i]) === Infinity && Number.isFinite(values[i])) throw fail(values[i], i);
  return o;
}

/**
 * A tensor from host data. `data` is a typed array of the dtype or any array of numbers
 * (converted).
 *
 *   const x = tensor([1, 2, 3, 4], [2, 2]);
 */
export function tensor(data: ArrayLike<number> | TypedArray, shape: readonly number[], opts: TensorOptions = {}): Tensor {
  checkOptions('tensor', opts, TENSOR_KEYS);
  const dtype = opts.dtype ?? (data instanceof Int32Array ? 'int32' : data instanceof Uint8Array ? 'uint8' : 'float32');
  const s = checkShape('tensor', shape);
  const n = s.reduce((a, b) => a * b, 1);
  check(data && typeof data.length === 'number', 'EINVAL', 'tensor', 'data must be an array or typed array');
  check(data.length === n, 'ESHAPE', 'tensor', () => `data has ${data.length} elements but shape ${shapeStr(s)} needs ${n}`);
  const Ctor = arrayTypes[dtype];
  check(Ctor !== undefined, 'EDTYPE', 'tensor', () => `unknown dtype '${dtype}'`);
  const arr = data instanceof Ctor ? (data as TypedArray) : convert(data, Ctor, dtype);
  const t = empty(s, dtype, opts.device ?? defaultDevice);
  if (n > 0) {
    try {
      native().upload(t.id, arr);
    } catch (e) {
      t.dispose();
      throw e;
    }
  }
  return t;
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  return filled('full', shape, value, opts);
}
export function zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return filled('zeros', shape, 0, opts);
}
export function ones(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return filled('ones', shape, 1, opts);
}
/** full / zeros / ones, whose errors name the function called. */
function filled(op: string, shape: readonly number[], value: number, opts: TensorOptions): Tensor {
  checkOptions(op, opts, TENSOR_KEYS);
  checkFillValue(op, value, opts.dtype ?? 'float32');
  const t = empty(shape, opts.dtype ?? 'float32', opts.device ?? defaultDevice);
  try {
    if (t.size > 0) native().run('fill', [], [t.id], { value });
  } catch (e) {
    t.dispose(); // a fill the device refuses (bfloat16 on the CPU) left the tensor allocated and live
    throw e;
  }
  return t;
}
export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, { dtype: t.dtype, device: t.device });
}

/** Creates an untracked tensor: not owned by any tidy scope (parameters, optimiser state). */
export function persistent(t: Tensor): Tensor {
  return keep(t);
}
