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
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? `\u0000${x}\u0000` : typeof x === 'bigint' ? String(x) : x));
  // JSON has no text for a function or a symbol
  return s === undefined ? String(v as symbol | (() => unknown)) : s.replace(/"\\u0000(NaN|-?Infinity)\\u0000"/g, '$1');
}
