/**
 * MdmtError: every failure mdmt reports, from TypeScript validation or from native code,
 * carries a stable `code`, the `op` (or function) that failed and a message naming the
 * problem (argument, file, shape).
 */
export type MdmtErrorCode =
  | 'EINVAL' | 'ESHAPE' | 'EDTYPE' | 'EDEVICE' | 'EDISPOSED' | 'ENOMEM' | 'ENOTIMPL'
  | 'ECUDA' | 'ECUDNN' | 'ECUBLAS' | 'EINTERNAL' | 'ENOADDON' | 'EIO' | 'EDATA' | 'ECONFIG' | 'EPLAN'
  | 'EDIVERGED' | 'EBUSY';

export class MdmtError extends Error {
  override name = 'MdmtError';
  readonly code: MdmtErrorCode;
  readonly op: string;
  readonly detail: string;
  /** native source location, when the error was raised in C++ */
  readonly nativeFile?: string;
  readonly nativeLine?: number;

  constructor(code: MdmtErrorCode, op: string, detail: string, extra: { nativeFile?: string; nativeLine?: number } = {}) {
    super(op ? `${op}: ${detail}` : detail);
    this.code = code;
    this.op = op;
    this.detail = detail;
    this.nativeFile = extra.nativeFile;
    this.nativeLine = extra.nativeLine;
  }

  /** Converts an error thrown by the addon (a plain Error with code/op/detail) into an MdmtError. */
  static fromNative(e: unknown): unknown {
    if (e instanceof MdmtError) return e;
    const o = e as { name?: string; code?: string; op?: string; detail?: string; message?: string; nativeFile?: string; nativeLine?: number };
    if (o?.name === 'MdmtError') {
      return new MdmtError((o.code ?? 'EINTERNAL') as MdmtErrorCode, o.op ?? '', o.detail ?? o.message ?? '', {
        nativeFile: o.nativeFile, nativeLine: o.nativeLine,
      });
    }
    return e;
  }
}

/**
 * Array.isArray for argument checks: unlike it, this keeps a `readonly number[]` argument
 * typed as one (Array.isArray narrows it to any[]).
 */
export function isList(v: unknown): v is readonly unknown[] {
  return Array.isArray(v);
}

/** A plain object (a config section, a parsed JSON object): not null, not an array. */
export function isPlain(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Throws MdmtError(code, op, detail) when `cond` is false. */
export function check(cond: unknown, code: MdmtErrorCode, op: string, detail: string | (() => string)): asserts cond {
  if (!cond) throw new MdmtError(code, op, typeof detail === 'function' ? detail() : detail);
}

/**
 * The first `n` items of a list in a message, then how many more: 'a, b and 3 more', or with
 * `sep` '; ' (items that hold commas) 'a; b; and 3 more'.
 */
export function fewOf(items: readonly string[], n: number, sep = ', '): string {
  return items.length > n ? `${items.slice(0, n).join(sep)}${sep === ', ' ? '' : sep.trimEnd()} and ${items.length - n} more` : items.join(sep);
}

/**
 * A value as an error message shows it: JSON, except that NaN and ±Infinity stay themselves
 * (JSON.stringify prints them as null, which hides the bug) and undefined is 'undefined'.
 *
 *   show(NaN) === 'NaN';  show([1, Infinity]) === '[1,Infinity]';  show('a') === '"a"'
 */
export function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  // bytes are named, not spelt out: a 5 MB Buffer (an upload handed over as the image) made a 10 MB message
  if (binary(v)) return binaryName(v);
  const inst = instanceName(v);
  if (inst) return inst;
  const s = JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    const own = this[k]; // before toJSON: a Buffer's toJSON gives { type, data: [...] }
    const name = binary(own) ? binaryName(own) : instanceName(own);
    return name ? `\u0000${name}\u0000` : typeof x === 'number' && !Number.isFinite(x) ? `\u0000${x}\u0000` : typeof x === 'bigint' ? String(x) : x;
  });
  // JSON has no text for a function or a symbol
  const t = s === undefined ? String(v as symbol | (() => unknown)) : s.replace(/"\\u0000([^"]*)\\u0000"/g, '$1');
  return t.length <= SHOW_MAX ? t : `${t.slice(0, SHOW_MAX)}… (${t.length} characters)`;
}

/**
 * A class instance's name in a message: its own one-line toString() (a Tensor: 'Tensor([2],
 * float32, cpu)'), else its kind ('a Linear', 'a Map'). JSON spelt out a Tensor's private
 * fields ({"id":4,"shape":[1],...,"_scope":...}) and showed a Map as {}. Plain objects,
 * arrays and dates are left to JSON.
 */
function instanceName(v: unknown): string | undefined {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Date) return undefined;
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === null || proto === Object.prototype) return undefined;
  const own = v as { toString(): string };
  const text = own.toString !== Object.prototype.toString ? own.toString() : '';
  return text && !text.includes('\n') && text.length <= 120 ? text : kindOf(v);
}

/** The longest a value is shown in a message; the rest is counted. */
export const SHOW_MAX = 300;
const binary = (v: unknown): v is ArrayBufferView | ArrayBuffer => ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
/** 'Uint8Array(5000000)', a short one with its values: 'Float32Array [1,NaN]' */
function binaryName(v: ArrayBufferView | ArrayBuffer): string {
  if (v instanceof ArrayBuffer || !('length' in v)) return `${v.constructor.name}(${v.byteLength} bytes)`;
  const a = v as unknown as ArrayLike<number | bigint>;
  return a.length <= 8 ? `${v.constructor.name} [${Array.from(a, String).join(',')}]` : `${v.constructor.name}(${a.length})`;
}

/** Valid keys of an options object or a config: `true` for a leaf, a nested tree for an object-valued setting. */
export interface KeyTree { [key: string]: true | KeyTree }

/** Levenshtein distance (insert, delete, substitute: 1 each); the strings are short key names. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** Every dotted path of a tree (nested objects and their leaves). */
function paths(tree: KeyTree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([k, v]) => [prefix + k, ...(v === true ? [] : paths(v, `${prefix}${k}.`))]);
}

// 'batch_size', 'Batch-Size' and 'batchSize' are the same name
const norm = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');

/**
 * The valid key nearest to an unknown one: an alias, a path anywhere in `root` whose last part
 * is the key (spelled any way), else the closest key of its own level (`level`, whose paths
 * start with `prefix`) within a third of the key's length (at least 2 edits), else a key of
 * that level that starts with it ('clas' for classIndex). A near spelling on another level
 * is no suggestion: `augment.foo` is not a misspelt `fold`.
 */
export function nearestKey(key: string, root: KeyTree, aliases: Record<string, string> = {}, level: KeyTree = root, prefix = ''): string | undefined {
  const k = norm(key);
  const alias = Object.entries(aliases).find(([a]) => norm(a) === k);
  if (alias) return alias[1];
  const same = paths(root).find((p) => norm(p.slice(p.lastIndexOf('.') + 1)) === k || norm(p) === k);
  if (same) return same;
  let best: string | undefined;
  // at most a third of the key's letters wrong (2 for short keys), and never all but one: a
  // 3-letter key is 2 edits from most 3-letter names ('foo' was "did you mean log?")
  let bestD = Math.min(Math.max(2, Math.floor(k.length / 3)) + 1, k.length - 1);
  for (const p of Object.keys(level)) {
    const d = distance(k, norm(p));
    if (d < bestD) [best, bestD] = [prefix + p, d];
  }
  // else a cut-short name: 'clas' for classIndex
  const start = best || k.length < 3 ? undefined : Object.keys(level).find((p) => norm(p).startsWith(k));
  return best ?? (start && prefix + start);
}

/**
 * Throws ECONFIG for the first key of `obj` (recursively, where the tree nests) that `tree`
 * does not list; the message names `where`, the key's path and the nearest valid key.
 *
 *   checkKeys({ lr: 0.01 }, TRAIN_CONFIG_KEYS, { op: 'train', where: 'config', aliases });
 *   // MdmtError: train: config: unknown key 'lr' (it would be ignored); did you mean optim.lr?
 */
export function checkKeys(obj: unknown, tree: KeyTree, o: { op: string; where: string; aliases?: Record<string, string>; root?: KeyTree; prefix?: string }): void {
  if (!isPlain(obj)) return;
  const root = o.root ?? tree;
  const prefix = o.prefix ?? '';
  for (const [k, v] of Object.entries(obj)) {
    const sub = tree[k];
    if (sub === undefined) {
      const near = nearestKey(k, root, o.aliases, tree, prefix);
      // nothing close: still name the nearest key of this level, and list them all
      const here = Object.keys(tree);
      const far = here.map((h) => [h, distance(norm(k), norm(h))] as const).sort((a, b) => a[1] - b[1])[0]?.[0];
      const hint = near ? `; did you mean ${near}?` : far ? `; nearest is ${prefix}${far} (valid here: ${here.join(', ')})` : '';
      throw new MdmtError('ECONFIG', o.op, `${o.where}: unknown key '${prefix}${k}' (it would be ignored)${hint}`);
    }
    if (sub !== true && isPlain(v)) checkKeys(v, sub, { ...o, root, prefix: `${prefix}${k}.` });
  }
}

/**
 * The options check of a public function: EINVAL when `opts` is not an object (undefined and
 * null are no options), or has a key that `known` does not list, naming the function, the key
 * and the nearest valid option, because an ignored option is a setting silently left at its
 * default (`conv2d(x, w, null, { paddin: 1 })` did not pad). Cheap enough for an op called per
 * layer per step: a loop over the few keys given, no allocation unless it throws.
 *
 *   checkOptions('conv2d', { paddin: 1 }, { stride: true, padding: true });
 *   // MdmtError: conv2d: unknown option 'paddin' (it would be ignored); did you mean padding?; options: stride, padding
 */
export function checkOptions(op: string, opts: unknown, known: Readonly<Record<string, true>>, where = 'options', code: 'EINVAL' | 'ECONFIG' = 'EINVAL'): void {
  if (opts === undefined) return;
  // null too: the callers read opts.x next (a TypeError), and Conv2d's own check refused it
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new MdmtError(code, op, `${where} must be an object, got ${show(opts)}`);
  // own keys only (a library that adds an enumerable Object.prototype member must not fail every
  // call), without the array Object.keys would allocate on this per-op path
  for (const k in opts) {
    if (!Object.prototype.hasOwnProperty.call(opts, k) || Object.prototype.hasOwnProperty.call(known, k)) continue;
    const near = nearestKey(k, known);
    const [name, list] = where === 'options' ? ['option', 'options'] : [`${where} key`, 'valid'];
    throw new MdmtError(code, op, `unknown ${name} '${k}' (it would be ignored)${near ? `; did you mean ${near}?` : ''}; ${list}: ${Object.keys(known).join(', ')}`);
  }
}

/** What a wrong argument is, for a message: its value when it is a primitive, else its kind ('an array', 'a Map', 'an Object'). */
export function kindOf(v: unknown): string {
  if (v === null || typeof v !== 'object') return typeof v === 'function' ? 'a function' : show(v);
  const name = Array.isArray(v) ? 'array' : (v.constructor as { name?: string } | undefined)?.name || 'object';
  return `${/^[aeiouAEIOU]/.test(name) ? 'an' : 'a'} ${name}`;
}

/**
 * Refuses (EINVAL, naming `op`) a file argument that is not a non-empty string: fs takes a
 * number as an open file descriptor (0 is stdin), and writes or reads it without a word.
 */
export function checkPath(op: string, file: unknown, what = 'a path'): asserts file is string {
  check(typeof file === 'string' && file !== '', 'EINVAL', op, () => `file must be ${what}, got ${kindOf(file)}`);
}
