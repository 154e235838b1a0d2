/**
 * The op families and every op × backend (DESIGN §7).
 *  - ts/ops/names.ts = native/core/op_names.h: the same ops in the same order under the same
 *    family comments.
 *  - Every named op is registered on the CPU, and on CUDA when the addon was built with it,
 *    unless an exclusion names the gap with a reason; nothing is registered unnamed.
 *  - One stem per family: each family F has ts/ops/F.ts, native/ops/F.{h,cc},
 *    native/cpu/F.cc, native/cuda/F.cc, test/ref/F.ts and test/ops/F.test.ts, unless an
 *    exclusion says where that part lives instead (those files must exist) and why.
 *  - Every file of native/ops, native/cpu, native/cuda and kernels belongs to a family (F.*,
 *    F_*.*, or a listed sub-stem) or is a listed helper with its reason, and every
 *    harness kernels/dev/X.cu is named after the kernel file kernels/X.cu it tests.
 *  - Every file of ts/ops is a family's (F.ts, F_*.ts, or F/*.ts where a family's file
 *    outgrew one) or a listed helper: no op gets a TypeScript file of its own.
 * An exclusion that is no longer needed is reported so it can be removed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native, packageRoot } from '../../ts/native/binding';
import { OP_FAMILIES, OP_FAMILY, OP_NAMES, OpFamily } from '../../ts/ops/names';

/** (op → reason) gaps allowed on the CPU backend. The CPU is the reference: keep this empty. */
const CPU_EXCLUSIONS: Record<string, string> = {};

/** (op → reason) gaps allowed on the CUDA backend. */
const CUDA_EXCLUSIONS: Record<string, string> = {
  winograd_weights: 'pre-transformed weights for the CPU Winograd kernel of conv2d_act (inference plans); cuDNN picks and transforms its own algorithms',
};

/** The files of a family, by part; {F} is the family. */
const PARTS = {
  ts: ['ts/ops/{F}.ts'],
  contract: ['native/ops/{F}.h', 'native/ops/{F}.cc'],
  cpu: ['native/cpu/{F}.cc'],
  cuda: ['native/cuda/{F}.cc'],
  ref: ['test/ref/{F}.ts'],
  test: ['test/ops/{F}.test.ts'],
} as const;
type Part = keyof typeof PARTS;

interface PartExclusion {
  why: string;
  instead: string[]; // the files that hold this part instead (checked to exist)
}
/** `family:part` → where that part lives instead, and why. */
const PART_EXCLUSIONS: Record<string, PartExclusion> = {
  'optim:ts': {
    why: 'the optimisers are stateful classes over all parameters (ts/optim), not tensor ops',
    instead: ['ts/optim/adam.ts', 'ts/optim/sgd.ts'],
  },
  'optim:test': {
    why: 'tested with the optimiser classes that own the ops (test/optim)',
    instead: ['test/optim/adam.test.ts', 'test/optim/sgd.test.ts'],
  },
};

/** Sub-stems of a family: files named S.* or S_*.* belong to it (F_*.* needs no entry). */
const SUB_STEMS: Record<string, OpFamily> = {
  depthwise: 'conv2d', // native/cpu/depthwise.cc, kernels/depthwise.cu: groups = C convolutions
};

/** Files that belong to no family, with what they are. */
const HELPERS: Record<string, string> = {
  'native/ops/spec.h': 'what every family contract includes: the layer described',
  'native/cpu/backend.cc': 'CPU memory: the caching allocator, device info',
  'native/cpu/cpu_features.cc': 'CPU model and instruction sets',
  'native/cpu/cpu_features.h': 'CPU model and instruction sets',
  'native/cpu/gemm.cc': 'the SGEMM under conv2d and linear',
  'native/cpu/gemm.h': 'the SGEMM under conv2d and linear',
  'native/cpu/gemm_kernels.h': 'the SGEMM\'s micro-kernels and packing, per ISA',
  'native/cpu/vmath.cc': 'vectorised exp / sigmoid / SiLU and the activation epilogues of the CPU kernels',
  'native/cpu/vmath.h': 'vectorised exp / sigmoid / SiLU and the activation epilogues of the CPU kernels',
  'native/cpu/parallel.cc': 'the thread pool every CPU kernel runs on',
  'native/cpu/parallel.h': 'the thread pool every CPU kernel runs on',
  'native/cpu/broadcast.h': 'the broadcast walker of the elementwise CPU kernels',
  'native/cpu/scratch.h': 'the 64-byte-aligned grow-only scratch buffers of the GEMM and the convolutions',
  'native/cpu/vec.h': 'the GCC vector types and unaligned loads / stores of the kernels written once and compiled per ISA',
  'native/cuda/backend.cc': 'CUDA devices, streams, library handles, the caching allocator',
  'native/cuda/common.h': 'what every CUDA op file includes: device context, status checks',
  'kernels/kernels.h': 'the launchers of every kernel file, for host code',
  'kernels/common.cuh': 'device helpers shared by the kernel files',
  'kernels/philox.h': 'the Philox generator shared by the CPU and CUDA dropout',
  'kernels/dev/common.h': 'timing and checking helpers of the harnesses',
  'native/cuda/lowp.h': 'the bf16 / NHWC forms of the CUDA ops a plan\'s precision and layout passes use, and their registration',
  'native/cuda/lowp.cc': 'the bf16 / NHWC forms of the CUDA ops a plan\'s precision and layout passes use',
  'native/cuda/capture.h': 'what CUDA ops do while a plan is captured into a CUDA graph',
  'native/cuda/graph.cc': 'a step plan replayed as one CUDA graph (native/core/plan_replay.h)',
  'kernels/mixed.h': 'the launchers of the bf16, NHWC and capturable kernels, for host code',
  'kernels/lowp.cuh': 'device helpers of the kernels that store bf16: conversions, 16-byte vectors',
};

/** Files of ts/ops that belong to no family, with what they are. */
const TS_HELPERS: Record<string, string> = {
  'ts/ops/op.ts': 'the op runner every family calls, its observers and the argument checks',
  'ts/ops/names.ts': 'every op with its family (= native/core/op_names.h)',
  'ts/ops/all.ts': 'the `ops` namespace of the public API',
  'ts/ops/reshape.ts': 'reshape and flatten: views, no native op runs',
};

const root = packageRoot();
const exists = (rel: string) => fs.existsSync(path.join(root, rel));
const files = (dir: string) =>
  fs.readdirSync(path.join(root, dir), { withFileTypes: true }).filter((e) => e.isFile()).map((e) => `${dir}/${e.name}`);

/** [name, family] in the header's order; a comment naming a family starts its group. */
function parseOpNamesHeader(): [string, string][] {
  const src = fs.readFileSync(path.join(root, 'native', 'core', 'op_names.h'), 'utf8');
  const body = src.slice(src.indexOf('#define MDMT_OP_NAMES(X)') + '#define MDMT_OP_NAMES(X)'.length);
  const out: [string, string][] = [];
  let family = '';
  for (const m of body.matchAll(/\/\*\s*([a-z0-9_]+)\s*\*\/|\bX\(\s*([a-z0-9_]+)\s*\)/g)) {
    if (m[1] !== undefined) family = m[1];
    else out.push([m[2], family]);
  }
  return out;
}

test('ts/ops/names.ts equals native/core/op_names.h (same ops, order and families)', () => {
  const header = parseOpNamesHeader();
  assert.ok(header.length > 10, `parsed only ${header.length} names from op_names.h`);
  assert.equal(OP_NAMES.map((op) => [op, OP_FAMILY[op]]), header, 'ts/ops/names.ts and native/core/op_names.h differ');
  assert.is(new Set(header.map(([n]) => n)).size, header.length, 'an op is named twice');
  const order = header.map(([, f]) => f).filter((f, i, a) => i === 0 || a[i - 1] !== f);
  assert.equal(order, [...OP_FAMILIES], 'the ops of a family must stand together');
});

test('every registered op is a named op', () => {
  const named = new Set<string>(OP_NAMES);
  const unknown = native().ops().filter((o) => !named.has(o.op));
  assert.equal(unknown, [], `registered but not named in names.ts / op_names.h: ${JSON.stringify(unknown)}`);
});

function gaps(device: 'cpu' | 'cuda', exclusions: Record<string, string>): void {
  const have = new Set(native().ops().filter((o) => o.device === device).map((o) => o.op));
  for (const [op, why] of Object.entries(exclusions)) {
    assert.ok((OP_NAMES as readonly string[]).includes(op), `${device} exclusion names an unknown op '${op}'`);
    assert.ok(typeof why === 'string' && why.trim().length >= 10, `${device} exclusion of '${op}' needs a reason`);
  }
  const missing = OP_NAMES.filter((op) => !have.has(op) && !(op in exclusions));
  assert.equal(missing, [], `ops missing on ${device} with no exclusion: ${missing.join(', ')}`);
  const stale = Object.keys(exclusions).filter((op) => have.has(op));
  if (stale.length) console.log(`  [note] ${device} implements ${stale.join(', ')} now: remove the exclusion(s) in test/ops/coverage.test.ts`);
  const excused = OP_NAMES.filter((op) => !have.has(op));
  if (excused.length) console.log(`  [note] ${device} gaps excused: ${excused.map((op) => `${op} (${exclusions[op]})`).join('; ')}`);
}

test('cpu: every op is implemented (or excluded with a reason)', () => {
  gaps('cpu', CPU_EXCLUSIONS);
});

test('cuda: every op is implemented (or excluded with a reason)', () => {
  if (!native().cudaCompiled) {
    const why = native().devices().find((d) => d.type === 'cuda')?.reason ?? 'mdmt was built without CUDA';
    console.log(`  [skip] cuda coverage: ${why}`);
    return;
  }
  gaps('cuda', CUDA_EXCLUSIONS);
});

test('one stem per family: each family has its TypeScript, contract, CPU, CUDA, reference and test files', () => {
  const problems: string[] = [];
  for (const key of Object.keys(PART_EXCLUSIONS)) {
    const [family, part] = key.split(':');
    if (!(OP_FAMILIES as readonly string[]).includes(family) || !(part in PARTS)) problems.push(`exclusion '${key}' names no family part`);
  }
  for (const family of OP_FAMILIES) {
    for (const part of Object.keys(PARTS) as Part[]) {
      const want = PARTS[part].map((p) => p.replace('{F}', family));
      const ex = PART_EXCLUSIONS[`${family}:${part}`];
      if (!ex) {
        for (const f of want) if (!exists(f)) problems.push(`${family}: ${f} is missing`);
        continue;
      }
      if (ex.why.trim().length < 10) problems.push(`${family}:${part}: the exclusion needs a reason`);
      for (const f of ex.instead) if (!exists(f)) problems.push(`${family}:${part}: ${f} (named instead) is missing`);
      if (want.every(exists)) console.log(`  [note] ${want.join(', ')} exist now: remove the exclusion '${family}:${part}' in test/ops/coverage.test.ts`);
    }
  }
  assert.equal(problems, [], problems.join('\n'));
});

test('every native and kernel file belongs to a family or is a listed helper', () => {
  const stems = [...OP_FAMILIES, ...Object.keys(SUB_STEMS)];
  const stem = (f: string) => path.basename(f).replace(/\.[a-z]+$/, '');
  const ofFamily = (f: string) => stems.some((s) => stem(f) === s || stem(f).startsWith(`${s}_`));
  const all = ['native/ops', 'native/cpu', 'native/cuda', 'kernels', 'kernels/dev'].flatMap(files);
  const stray = all.filter((f) => !ofFamily(f) && !(f in HELPERS));
  assert.equal(stray, [], `files that carry no family's stem (rename them, or list them in SUB_STEMS / HELPERS): ${stray.join(', ')}`);
  for (const f of Object.keys(HELPERS)) assert.ok(exists(f), `${f} is listed but missing`);
  for (const s of Object.keys(SUB_STEMS)) assert.ok(all.some((f) => stem(f) === s || stem(f).startsWith(`${s}_`)), `sub-stem ${s} names no file`);
  for (const f of files('kernels/dev').filter((g) => g.endsWith('.cu')))
    assert.ok(exists(`kernels/${path.basename(f)}`), `harness ${f} must be named after the kernel file it tests (kernels/${path.basename(f)} is missing)`);
});

test('every file of ts/ops belongs to a family or is a listed helper', () => {
  const families = OP_FAMILIES as readonly string[];
  const entries = fs.readdirSync(path.join(root, 'ts', 'ops'), { withFileTypes: true });
  const stray: string[] = [];
  for (const e of entries) {
    const rel = `ts/ops/${e.name}`;
    if (e.isDirectory()) {
      if (!families.includes(e.name)) stray.push(`${rel}/ (a folder must be named after its family)`);
      continue;
    }
    const stem = e.name.replace(/\.ts$/, '');
    if (rel in TS_HELPERS || families.some((f) => stem === f || stem.startsWith(`${f}_`))) continue;
    stray.push(rel);
  }
  assert.equal(stray, [], `files of ts/ops that carry no family's stem (move them into their family's file, or list them in TS_HELPERS): ${stray.join(', ')}`);
  for (const f of Object.keys(TS_HELPERS)) assert.ok(exists(f), `${f} is listed but missing`);
});

test.run();
