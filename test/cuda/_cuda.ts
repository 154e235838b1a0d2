/**
 * Shared by the CUDA suites: whether a CUDA device is usable (else a printed skip reason),
 * and runOp(), which runs one op through the raw addon on a device from host data, so the
 * same inputs go to the CPU and the CUDA backends and the outputs can be compared.
 */
import { native } from '../../ts/native/binding';
import { numel } from '../helpers';

export type DT = 'float32' | 'int32' | 'uint8' | 'bfloat16' | 'float16';

export interface HostTensor {
  shape: number[];
  dtype?: DT;
  data?: ArrayLike<number>; // initial contents (inputs, and in/out outputs); zeros when absent
}

/** MDMT_CUDA_TEST_DEVICE=cpu dry-runs the CUDA suites on the CPU (checks the cases themselves). */
export const CUDA_DEVICE = process.env.MDMT_CUDA_TEST_DEVICE || 'cuda:0';

/** Reason CUDA cannot be tested here, or null when it can. */
export function cudaSkipReason(): string | null {
  if (CUDA_DEVICE === 'cpu') return null;
  let devs;
  try {
    devs = native().devices();
  } catch (e) {
    return `addon not loadable: ${(e as Error).message}`;
  }
  const d = devs.find((x) => x.type === 'cuda' && x.available);
  if (d) return null;
  const any = devs.find((x) => x.type === 'cuda');
  return any?.reason ?? 'no CUDA device';
}

function typed(dtype: DT, n: number, data?: ArrayLike<number>): ArrayBufferView {
  switch (dtype) {
    case 'float32': return data ? Float32Array.from(data) : new Float32Array(n);
    case 'int32': return data ? Int32Array.from(data) : new Int32Array(n);
    case 'uint8': return data ? Uint8Array.from(data) : new Uint8Array(n);
    default: return data ? Uint16Array.from(data) : new Uint16Array(n);
  }
}

/** Allocates, uploads, runs `op` on `device`, downloads every output, frees everything. */
export function runOp(device: string, op: string, inputs: HostTensor[], outputs: HostTensor[],
  attrs: Record<string, unknown> = {}): number[][] {
  const n = native();
  const ids: number[] = [];
  try {
    const mk = (t: HostTensor) => {
      const dt = t.dtype ?? 'float32';
      const id = n.alloc(t.shape, dt, device);
      ids.push(id);
      if (numel(t.shape) > 0) n.upload(id, typed(dt, numel(t.shape), t.data));
      return id;
    };
    const ins = inputs.map(mk);
    const outs = outputs.map(mk);
    n.run(op, ins, outs, attrs as never);
    return outs.map((id) => Array.from(n.download(id) as ArrayLike<number>));
  } finally {
    for (const id of ids) n.free(id);
  }
}

/** Deterministic uniform data. */
export function rand(seed: number, count: number, lo = -1, hi = 1): number[] {
  let s = seed >>> 0 || 1;
  const out = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** Max |a−b| / (atol + rtol·|b|) over the arrays (≤ 1 passes); also the index of the worst. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): { ratio: number; at: number } {
  let ratio = 0, at = -1;
  if (a.length !== b.length) return { ratio: Infinity, at: -1 };
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) return { ratio: Infinity, at: i };
      continue;
    }
    const r = Math.abs(x - y) / (atol + rtol * Math.abs(y));
    if (r > ratio) { ratio = r; at = i; }
  }
  return { ratio, at };
}
