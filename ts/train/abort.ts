/**
 * Cancellation of train() and experiment() by an AbortSignal, as Node's own APIs take one
 * (`fs.promises.readFile(file, { signal })`): an aborted call rejects with an error whose
 * `name` is 'AbortError' (code 'ABORT_ERR') and whose `cause` is `signal.reason`.
 *
 *   const ac = new AbortController();
 *   const run = train(config, hooks, { signal: ac.signal });
 *   ac.abort();   // run rejects with AbortError once the current batch is done
 */
import { kindOf, MdmtError } from '../errors';

/** The error an aborted train() / experiment() rejects with (`name` 'AbortError', as Node's). */
export class AbortError extends Error {
  override name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Options of train() that are not settings of the run (never written to config.json). */
export interface TrainOptions {
  /** aborting it stops the run after the current batch: train() rejects with AbortError; the same call later resumes */
  signal?: AbortSignal;
}

/**
 * Throws EINVAL naming `where` when `signal` is given but is not an AbortSignal (what Node
 * checks: an object with `aborted`; experiment() also listens for its 'abort' event).
 */
export function checkSignal(op: string, signal: unknown, where: string, code: 'EINVAL' | 'ECONFIG' = 'EINVAL'): asserts signal is AbortSignal | undefined {
  if (signal === undefined) return;
  const s = signal as { aborted?: unknown; addEventListener?: unknown } | null;
  if (s === null || typeof s !== 'object' || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function')
    throw new MdmtError(code, op, `${where} must be an AbortSignal (new AbortController().signal), got ${kindOf(signal)}`);
}

/** Throws AbortError (cause: `signal.reason`) when `signal` is aborted; `what` says where it stopped. */
export function throwIfAborted(signal: AbortSignal | undefined, op: string, what: string): void {
  if (signal?.aborted) throw new AbortError(`${op}: aborted ${what}`, { cause: signal.reason });
}

/** Whether `e` is the AbortError of this (aborted) signal. */
export function isAbortOf(e: unknown, signal: AbortSignal | undefined): e is AbortError {
  return e instanceof AbortError && Boolean(signal?.aborted);
}

/** Waits `ms`, or less when `signal` is aborted meanwhile (then throws AbortError). */
export async function abortableSleep(ms: number, signal: AbortSignal | undefined, op: string, what: string): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
  throwIfAborted(signal, op, what);
}
