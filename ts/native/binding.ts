/**
 * The typed interface of the native addon and its loader. The addon is, in this order:
 * $MDMT_ADDON; <package root>/$MDMT_BUILD_DIR/Release/mdmt.node when MDMT_BUILD_DIR is set;
 * else what node-gyp-build picks: a local build (build/Release/mdmt.node, from npm install
 * in this repository or a from-source install) before the prebuilt addon shipped in the
 * package (prebuilds/linux-x64/mdmt.napi.glibc.node, chosen when platform, architecture and
 * libc match). Every call goes through a wrapper that turns native errors into MdmtError.
 */
import * as fs from 'fs';
import * as path from 'path';
import nodeGypBuild from 'node-gyp-build';
import { MdmtError } from '../errors';

/** The N-API version the addon is compiled for (NAPI_VERSION in CMakeLists.txt / binding.gyp). */
export const NAPI_VERSION = 8;

export type DType = 'float32' | 'int32' | 'uint8' | 'bfloat16' | 'float16';
/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, int32: 4, uint8: 1, bfloat16: 2, float16: 2 };
export type AttrValue = number | boolean | string | number[];
export type Attrs = Record<string, AttrValue | undefined>;

export interface NativeDeviceInfo {
  name: string;
  type: 'cpu' | 'cuda';
  index: number;
  available: boolean;
  reason?: string;
  description: string;
  props: Record<string, string>;
}

export interface NativeMemStats {
  liveTensors: number;
  liveBytes: number;
  peakBytes: number;
  cachedBytes: number;
  liveBuffers: number;
  deviceTotal: number;
  deviceFree: number;
}

/** What planCreate takes (ts/plan/executor.ts builds it from a planned Graph). */
export interface NativePlanSpec {
  device: string;
  arenaBytes: number;
  nscalars: number;
  /** kind: 0 input, 1 param, 2 const, 3 temp; tensor: the bound tensor id of params and consts */
  values: { kind: number; dtype: DType; shape: number[]; offset?: number; tensor?: number; name?: string }[];
  /** dynamic: [attribute, scalar index, ...] */
  steps: { op: string; inputs: number[]; outputs: number[]; attrs: Attrs; dynamic?: (string | number)[] }[];
  inputs: number[];
  outputs: number[];
  /** a plan whose arena this one shares (never run at the same time), grown when needed */
  shareArena?: number;
  /** replay as one CUDA graph (captured on the second run; CUDA plans only) */
  graph?: boolean;
}

export interface NativeAddon {
  alloc(shape: number[], dtype: DType, device: string): number;
  free(id: number): void;
  view(id: number, shape: number[]): number;
  upload(id: number, data: ArrayBufferView): void;
  download(id: number, out?: ArrayBufferView): Float32Array | Int32Array | Uint8Array | Uint16Array;
  /** the index of the first tensor holding a NaN or ±inf, -1 when none does (CPU float32 tensors only, read in place) */
  nonFinite(ids: number[]): number;
  run(op: string, inputs: number[], outputs: number[], attrs?: Attrs): void;
  devices(): NativeDeviceInfo[];
  memStats(device: string, resetPeak?: boolean): NativeMemStats;
  emptyCache(device: string): number;
  sync(device: string): void;
  ops(): { op: string; device: 'cpu' | 'cuda' }[];
  setThreads(n?: number): number;
  setSeed(seed: number): void;
  info(id: number): { shape: number[]; dtype: DType; device: string };
  cudaCompiled: boolean;
  planCreate(spec: NativePlanSpec): { id: number; inputs: number[]; outputs: number[]; arenaBytes: number };
  planRun(id: number, scalars: Float64Array): void;
  planFree(id: number): void;
  planProfile(id: number, on?: boolean): { op: string; shapes: string; ms: number }[];
  /** CUDA-graph launches so far; -1 for a plan that runs op by op */
  planGraphLaunches(id: number): number;
  /** claims `key` for this thread: false when a thread of this process holds it (released with the thread's environment) */
  claimRun(key: string): boolean;
  releaseRun(key: string): void;
}

/** The package root: the nearest directory above this file holding mdmt's package.json. */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const p = path.join(dir, 'package.json');
    if (fs.existsSync(p)) {
      try {
        if ((JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: unknown }).name === 'mdmt') return dir;
      } catch { /* keep looking */ }
    }
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

/** mdmt's version from its package.json ('0.0.0' where that cannot be read). */
export function packageVersion(): string {
  try {
    const v = (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown }).version;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export function addonPath(): string {
  if (process.env.MDMT_ADDON) return path.resolve(process.env.MDMT_ADDON);
  const root = packageRoot();
  if (process.env.MDMT_BUILD_DIR) return path.join(root, process.env.MDMT_BUILD_DIR, 'Release', 'mdmt.node');
  try {
    return nodeGypBuild.path(root);
  } catch {
    return path.join(root, 'build', 'Release', 'mdmt.node');
  }
}

let cached: NativeAddon | null = null;
let raw: Record<string, unknown> | null = null;

function wrap(raw: Record<string, unknown>): NativeAddon {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'function') {
      out[k] = v;
      continue;
    }
    const fn = v as (...a: unknown[]) => unknown;
    out[k] = (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (e) {
        throw MdmtError.fromNative(e);
      }
    };
  }
  return out as unknown as NativeAddon;
}

/**
 * The environment variables the addon reads when it loads, checked first: the native code
 * took MDMT_NUM_THREADS=abc, 0 or -3 for "all cores" and MDMT_CPU_ISA=foo for "best", silently
 * (and MDMT_SPIN_US=abc as 0, MDMT_TF32=no as allowed).
 */
export function checkNativeEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, ok, what] of NATIVE_ENV) {
    const v = env[name];
    if (v !== undefined && v !== '' && !ok(v)) throw new MdmtError('ECONFIG', name, `'${v}' ${what}`);
  }
}

/** A decimal integer in [lo, hi] (surrounding blanks allowed, as the native atoi/atol read it). */
const intIn = (lo: number, hi: number) => (v: string) => /^\d+$/.test(v.trim()) && Number(v) >= lo && Number(v) <= hi;

/** Each variable, whether a value is one it takes, and what it is otherwise (the message). */
const NATIVE_ENV: [string, (v: string) => boolean, string][] = [
  ['MDMT_NUM_THREADS', intIn(1, 1024), 'is not a thread count: an integer in 1..1024 (unset, all cores)'],
  ['MDMT_CPU_ISA', (v) => ['generic', 'avx2', 'avx512'].includes(v), 'is not a CPU kernel cap: generic, avx2 or avx512 (unset, the best the CPU supports)'],
  // the native code read MDMT_SPIN_US=abc as 0 (sleep at once) and MDMT_TF32=no as "allowed"
  ['MDMT_SPIN_US', intIn(0, 100000), 'is not a spin time: microseconds, an integer in 0..100000 (unset, 100)'],
  ['MDMT_TF32', (v) => ['0', '1', 'false', 'true'].includes(v), 'is not 0 or 1 (unset, TF32 allowed)'],
  // strtoull read '8G' as 8 bytes (every large tensor refused) and 'abc' as unset
  ['MDMT_MAX_ALLOC_BYTES', intIn(1, Number.MAX_SAFE_INTEGER), 'is not a byte count: a positive integer of bytes (unset, the memory available)'],
  // strtoll read MDMT_CPU_CACHE_BYTES=8G as 8 bytes and 'abc' as 0: the buffer cache silently off
  ['MDMT_CPU_CACHE_BYTES', intIn(0, Number.MAX_SAFE_INTEGER), 'is not a byte count: an integer of bytes, 0 for none (unset, an eighth of memory, at most 4 GiB)'],
  // the switches below are on only for exactly '1' ('own'): MDMT_DETERMINISTIC=true or yes left
  // every cuDNN algorithm allowed, silently, in a run meant to be bit-reproducible
  ['MDMT_DETERMINISTIC', (v) => v === '0' || v === '1', 'is not 0 or 1 (unset, any cuDNN convolution algorithm)'],
  ['MDMT_CUDA_GRAPH', (v) => v === '0' || v === '1', 'is not 0 or 1 (unset, compiled steps replayed without CUDA graphs)'],
  ['MDMT_OP_PREPARED', (v) => v === '0' || v === '1', 'is not 0 or 1 (unset, ops run directly)'],
  ['MDMT_CUDA_CONV', (v) => v === 'own', "is not 'own' (unset, cuDNN's depthwise convolutions)"],
  ['MDMT_DEBUG', (v) => v === '0' || v === '1', 'is not 0 or 1 (unset, no op log and no stacks)'],
];

/** The loaded addon (loaded on first use). Throws MdmtError(ENOADDON) when it is not built. */
export function native(): NativeAddon {
  if (cached) return cached;
  checkNativeEnv();
  const p = addonPath();
  if (!fs.existsSync(p)) {
    throw new MdmtError('ENOADDON', 'mdmt', `no native addon for ${process.platform}-${process.arch} (looked for ${p} and ` +
      `${path.join(packageRoot(), 'prebuilds')}): run npm install (npm rebuild mdmt in a project using mdmt)`);
  }
  if (Number(process.versions.napi) < NAPI_VERSION) {
    throw new MdmtError('ENOADDON', 'mdmt', `Node.js ${process.version} offers N-API ${process.versions.napi}; mdmt needs N-API ${NAPI_VERSION} (Node.js 18 or newer)`);
  }
  try {
    // a compiled addon at a path known only at run time: require is how Node loads it
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    raw = require(p) as Record<string, unknown>;
    cached = wrap(raw);
  } catch (e) {
    throw new MdmtError('ENOADDON', 'mdmt', `cannot load the native addon ${p}: ${(e as Error).message}`);
  }
  return cached;
}

/** The raw addon without the error wrapper (for the fuzz test). */
export function rawNative(): Record<string, unknown> {
  native();
  return raw!;
}
