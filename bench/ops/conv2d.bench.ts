/**
 * conv2d forward on the distinct conv shapes of ResNet-50 (torchvision v1.5: stride in the
 * 3×3), batch 8, 224² input: GFLOP/s of mdmt (CPU backend) against onnxruntime-node
 * running a one-node Conv ONNX model of the same shape (weights as initializers, so ORT
 * may pre-pack them), built in-process, all measured in the same run with the same
 * number of threads (the machine's cores). ORT runs twice per shape, with graph
 * optimisation 'all' and 'extended'; the faster is the peer.
 *
 * Usage
 *   npm run bench:conv2d                     (package.json: "bench:conv2d": "node scripts/bench.js ops/conv2d")
 *   npm run bench -- ops/conv2d              (the same through the generic runner)
 *   npx tsx bench/ops/conv2d.bench.ts [--quick] [--rounds=3] [--filter=<substring>] [--batch=8] [--size=224] [--ort-no-spin] [--append]
 *     --quick    one short round per shape (development)   --append  add the table to bench/RESULTS.md
 *   MDMT_ADDON=$PWD/build-<you>/Release/mdmt.node selects the addon; MDMT_NUM_THREADS the threads (both sides).
 * Each shape is also checked: mdmt's output against ORT's (max |Δ| printed).
 */
import Benchmark from 'benchmark';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import * as protobuf from 'protobufjs';
import { native } from '../../ts/native/binding';
import { conv2d } from '../../ts/ops/conv2d';
import { tensor, Tensor, tidy } from '../../ts/tensor';
import { BenchArgError, parseSettings } from '../lib/args';
import { geomean, gitCommit, loadAverage, median, printPreamble } from '../lib/report';

const args = process.argv.slice(2);
const cfg = parseSettings('bench/ops/conv2d', (a) => {
  const quick = a.flag('--quick');
  const c = {
    quick,
    append: a.flag('--append'),
    batch: a.int('--batch', 8, { min: 1 }),
    // below 32 the layer-4 shapes (7² at 224²) would have no pixels
    size: a.int('--size', 224, { min: 32 }),
    filter: a.str('--filter', ''),
    spin: !a.flag('--ort-no-spin'),
    rounds: a.int('--rounds', quick ? 1 : 3, { min: 1 }),
  };
  if (!resnet50Shapes(c.size).some((s) => s.name.includes(c.filter)))
    throw new BenchArgError(`--filter=${c.filter} matches no shape (shapes: ${resnet50Shapes(c.size).map((s) => `'${s.name}'`).join(', ')})`);
  return c;
});
const QUICK = cfg.quick, APPEND = cfg.append, BATCH = cfg.batch, SIZE = cfg.size, FILTER = cfg.filter, SPIN = cfg.spin, ROUNDS = cfg.rounds;
const THREADS = native().setThreads(); // the pool size (MDMT_NUM_THREADS or the machine's cores)

interface Shape { name: string; C: number; H: number; K: number; R: number; stride: number; pad: number; count: number }
// [name, C, H(=W) of the input, K, R(=S), stride, pad, occurrences in resnet50] at a 224² input
function resnet50Shapes(size: number): Shape[] {
  const s = size / 224;
  const row = (name: string, C: number, H: number, K: number, R: number, stride: number, count: number): Shape =>
    ({ name, C, H: Math.round(H * s), K, R, stride, pad: (R - 1) >> 1, count });
  return [
    row('stem 7x7/2 3->64', 3, 224, 64, 7, 2, 1),
    row('l1 1x1 64->64', 64, 56, 64, 1, 1, 1),
    row('l1 3x3 64->64', 64, 56, 64, 3, 1, 3),
    row('l1 1x1 64->256 (+ds)', 64, 56, 256, 1, 1, 4),
    row('l1 1x1 256->64', 256, 56, 64, 1, 1, 2),
    row('l2 1x1 256->128', 256, 56, 128, 1, 1, 1),
    row('l2 3x3/2 128->128', 128, 56, 128, 3, 2, 1),
    row('l2 1x1 128->512', 128, 28, 512, 1, 1, 4),
    row('l2 ds 1x1/2 256->512', 256, 56, 512, 1, 2, 1),
    row('l2 1x1 512->128', 512, 28, 128, 1, 1, 3),
    row('l2 3x3 128->128', 128, 28, 128, 3, 1, 3),
    row('l3 1x1 512->256', 512, 28, 256, 1, 1, 1),
    row('l3 3x3/2 256->256', 256, 28, 256, 3, 2, 1),
    row('l3 1x1 256->1024', 256, 14, 1024, 1, 1, 6),
    row('l3 ds 1x1/2 512->1024', 512, 28, 1024, 1, 2, 1),
    row('l3 1x1 1024->256', 1024, 14, 256, 1, 1, 5),
    row('l3 3x3 256->256', 256, 14, 256, 3, 1, 5),
    row('l4 1x1 1024->512', 1024, 14, 512, 1, 1, 1),
    row('l4 3x3/2 512->512', 512, 14, 512, 3, 2, 1),
    row('l4 1x1 512->2048', 512, 7, 2048, 1, 1, 3),
    row('l4 ds 1x1/2 1024->2048', 1024, 14, 2048, 1, 2, 1),
    row('l4 1x1 2048->512', 2048, 7, 512, 1, 1, 2),
    row('l4 3x3 512->512', 512, 7, 512, 3, 1, 2),
  ];
}
const outSize = (s: Shape) => Math.floor((s.H + 2 * s.pad - s.R) / s.stride) + 1;
const flops = (s: Shape) => 2 * BATCH * s.K * outSize(s) ** 2 * s.C * s.R * s.R;

// ---- a one-node Conv ONNX model, encoded with protobufjs from the onnx.proto field numbers ----
const onnxRoot = protobuf.Root.fromJSON({
  nested: {
    ModelProto: { fields: { irVersion: { type: 'int64', id: 1 }, producerName: { type: 'string', id: 2 }, graph: { type: 'GraphProto', id: 7 }, opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 } } },
    OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
    GraphProto: { fields: { node: { rule: 'repeated', type: 'NodeProto', id: 1 }, name: { type: 'string', id: 2 }, initializer: { rule: 'repeated', type: 'TensorProto', id: 5 }, input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 }, output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 } } },
    NodeProto: { fields: { input: { rule: 'repeated', type: 'string', id: 1 }, output: { rule: 'repeated', type: 'string', id: 2 }, name: { type: 'string', id: 3 }, opType: { type: 'string', id: 4 }, attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 } } },
    AttributeProto: { fields: { name: { type: 'string', id: 1 }, i: { type: 'int64', id: 3 }, ints: { rule: 'repeated', type: 'int64', id: 8 }, type: { type: 'int32', id: 20 } } },
    TensorProto: { fields: { dims: { rule: 'repeated', type: 'int64', id: 1 }, dataType: { type: 'int32', id: 2 }, name: { type: 'string', id: 8 }, rawData: { type: 'bytes', id: 9 } } },
    ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
    TypeProto: { fields: { tensorType: { type: 'TypeTensor', id: 1 } } },
    TypeTensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
    TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
    Dimension: { fields: { dimValue: { type: 'int64', id: 1 } } },
  },
});
const FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7;
function convModel(s: Shape, w: Float32Array): Uint8Array {
  const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const ints = (name: string, v: number[]) => ({ name, ints: v, type: ATTR_INTS });
  const Model = onnxRoot.lookupType('ModelProto');
  const msg = Model.fromObject({
    irVersion: 8, producerName: 'mdmt-bench', opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'conv',
      node: [{ input: ['X', 'W'], output: ['Y'], name: 'conv', opType: 'Conv', attribute: [
        ints('kernel_shape', [s.R, s.R]), ints('strides', [s.stride, s.stride]), ints('pads', [s.pad, s.pad, s.pad, s.pad]),
        ints('dilations', [1, 1]), { name: 'group', i: 1, type: ATTR_INT }] }],
      initializer: [{ dims: [s.K, s.C, s.R, s.R], dataType: FLOAT, name: 'W', rawData: new Uint8Array(w.buffer, w.byteOffset, w.byteLength) }],
      input: [vi('X', [BATCH, s.C, s.H, s.H])],
      output: [vi('Y', [BATCH, s.K, outSize(s), outSize(s)])],
    },
  });
  return Model.encode(msg).finish();
}

function cpuDescription(): string {
  const model = os.cpus()[0]?.model ?? 'unknown CPU';
  let fam = '';
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const f = info.match(/cpu family\s*:\s*(\d+)/)?.[1], m = info.match(/^model\s*:\s*(\d+)/m)?.[1];
    if (f) fam = ` (family ${f}, model ${m})`;
  } catch { /* not Linux */ }
  const isa = native().devices().find((d) => d.name === 'cpu')?.props.isa ?? '?';
  return `${model}${fam}, ${os.cpus().length} logical cores, mdmt ${THREADS} threads, ${isa}`;
}

const runSuite = (suite: Benchmark.Suite) => new Promise<void>((res) => suite.on('complete', () => res()).run({ async: true }));

async function main() {
  const shapes = resnet50Shapes(SIZE).filter((s) => s.name.includes(FILTER));
  const bopts = QUICK ? { minSamples: 5, maxTime: 0.5, initCount: 1 } : { minSamples: 8, maxTime: 1, initCount: 1 };
  printPreamble(THREADS);
  console.log(`conv2d forward, resnet50 shapes, batch ${BATCH}, ${SIZE}² input; ${cpuDescription()}; ORT ${ort.env.versions?.common ?? ''} intraOpNumThreads=${THREADS}`);
  const rows: { s: Shape; mdmt: number; ort: number; mdmtMed: number; ortMed: number; ortAll: number; ortExt: number; peer: string; diff: number }[] = [];
  const ortOptions = {
    intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: 'sequential' as const,
    ...(SPIN ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  };
  for (const s of shapes) {
    const xs = [BATCH, s.C, s.H, s.H];
    const xd = Float32Array.from({ length: xs.reduce((a, b) => a * b, 1) }, () => Math.random() * 2 - 1);
    const wd = Float32Array.from({ length: s.K * s.C * s.R * s.R }, () => (Math.random() * 2 - 1) / Math.sqrt(s.C * s.R * s.R));
    const x: Tensor = tensor(xd, xs), w: Tensor = tensor(wd, [s.K, s.C, s.R, s.R]);
    // Two ORT configurations: 'all' (its NCHWc direct kernels, with the NCHW<->NCHWc
    // reorders a one-node model has to pay on every run) and 'extended' (NCHW im2col +
    // MLAS SGEMM, no reorders). The peer is the faster of the two, per shape.
    const model = convModel(s, wd);
    const sessions = {
      all: await ort.InferenceSession.create(model, { ...ortOptions, graphOptimizationLevel: 'all' }),
      extended: await ort.InferenceSession.create(model, { ...ortOptions, graphOptimizationLevel: 'extended' }),
    };
    const feeds = { X: new ort.Tensor('float32', xd, xs) };
    // ORT writes into a pre-allocated output (no per-run allocation or copy), mdmt allocates
    const ys = [BATCH, s.K, outSize(s), outSize(s)];
    const fetches = { Y: new ort.Tensor('float32', new Float32Array(ys.reduce((a, b) => a * b, 1)), ys) };
    // correctness of this very comparison: same input, same weights
    const ref = (await sessions.all.run(feeds, fetches)).Y.data as Float32Array;
    const pre = fetches.Y.data as Float32Array; // ORT fills it (and returns a new view of it)
    if (pre[0] !== ref[0] || pre[pre.length - 1] !== ref[ref.length - 1]) throw new Error('onnxruntime-node ignored the pre-allocated output');
    const got = tidy(() => conv2d(x, w, null, { stride: s.stride, padding: s.pad }).toArray());
    let diff = 0;
    for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(ref[i] - got[i]));
    const convOpts = { stride: s.stride, padding: s.pad };
    // Rounds alternate mdmt and ORT so all see the same background load (the machine is
    // shared); every sample of every round is kept. best = the fastest sample (what the
    // code can do when it gets the cores), median = typical under the load of the run.
    const samples = { mdmt: [] as number[], all: [] as number[], extended: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const suite = new Benchmark.Suite();
      suite.add('mdmt', () => conv2d(x, w, null, convOpts).dispose(), bopts);
      for (const k of ['all', 'extended'] as const)
        suite.add(k, { defer: true, fn: (d: { resolve(): void }) => sessions[k].run(feeds, fetches).then(() => d.resolve()), ...bopts });
      await runSuite(suite);
      const [bm, ba, be] = [0, 1, 2].map((i) => (suite as unknown as Record<number, Benchmark>)[i]);
      samples.mdmt.push(...(bm.stats.sample as number[]));
      samples.all.push(...(ba.stats.sample as number[]));
      samples.extended.push(...(be.stats.sample as number[]));
    }
    const gf = (t: number) => flops(s) / t / 1e9;
    const peer = Math.min(...samples.all) <= Math.min(...samples.extended) ? 'all' : 'extended';
    const r = {
      s, diff, peer,
      mdmt: gf(Math.min(...samples.mdmt)), ort: gf(Math.min(...samples[peer])),
      mdmtMed: gf(median(samples.mdmt)), ortMed: gf(Math.min(median(samples.all), median(samples.extended))),
      ortAll: gf(Math.min(...samples.all)), ortExt: gf(Math.min(...samples.extended)),
    };
    rows.push(r);
    console.log(`${s.name.padEnd(26)} best: mdmt ${r.mdmt.toFixed(1).padStart(6)} ort ${r.ort.toFixed(1).padStart(6)} (${peer}; all ${r.ortAll.toFixed(0)}, extended ${r.ortExt.toFixed(0)}) ratio ${(r.mdmt / r.ort).toFixed(2)} | median: mdmt ${r.mdmtMed.toFixed(1).padStart(6)} ort ${r.ortMed.toFixed(1).padStart(6)} ratio ${(r.mdmtMed / r.ortMed).toFixed(2)} | max|Δ| ${diff.toExponential(1)}`);
    x.dispose();
    w.dispose();
    await sessions.all.release();
    await sessions.extended.release();
  }
  const geo = (k: 'best' | 'median') => geomean(rows.map((r) => (k === 'best' ? r.mdmt / r.ort : r.mdmtMed / r.ortMed)));
  // whole-network conv time: every shape weighted by how often resnet50 runs it (best samples)
  const tM = rows.reduce((a, r) => a + (r.s.count * flops(r.s)) / (r.mdmt * 1e9), 0);
  const tO = rows.reduce((a, r) => a + (r.s.count * flops(r.s)) / (r.ort * 1e9), 0);
  console.log(`geometric mean ratio mdmt/ort: best ${geo('best').toFixed(2)}, median ${geo('median').toFixed(2)}; resnet50 conv forward (each shape × its count, best samples): mdmt ${(tM * 1e3).toFixed(0)} ms, ort ${(tO * 1e3).toFixed(0)} ms`);
  const table = [
    '| shape (C→K @ H²) | × in net | mdmt best | ORT best (all / extended) | ratio best | mdmt median | ORT median | ratio median |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.s.name} @ ${r.s.H}² | ${r.s.count} | ${r.mdmt.toFixed(1)} | ${r.ort.toFixed(1)} (${r.ortAll.toFixed(0)} / ${r.ortExt.toFixed(0)}) | ${(r.mdmt / r.ort).toFixed(2)} | ${r.mdmtMed.toFixed(1)} | ${r.ortMed.toFixed(1)} | ${(r.mdmtMed / r.ortMed).toFixed(2)} |`),
    `| **geometric mean** | | | | **${geo('best').toFixed(2)}** | | | **${geo('median').toFixed(2)}** |`,
  ];
  const load = ` Load average at the end: ${loadAverage()} (on ${os.cpus().length} cores).`;
  console.log(`\n${table.join('\n')}\n${load.trim()}`);
  if (!APPEND) return;
  const lines = [
    '',
    `### ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${gitCommit()}`,
    `Device: ${cpuDescription()}; onnxruntime-node ${ort.env.versions?.common ?? ''}, intraOpNumThreads=${THREADS}${SPIN ? '' : ', allow_spinning=0'}; the ORT figure is the faster of graph optimisation 'all' (NCHWc kernels + per-run NCHW<->NCHWc reorders, which a whole network would amortise) and 'extended' (NCHW im2col + SGEMM).`,
    `Command: \`${['npx tsx bench/ops/conv2d.bench.ts', ...args].join(' ')}\`${process.env.MDMT_ADDON ? ` with MDMT_ADDON=${path.relative(process.cwd(), process.env.MDMT_ADDON)}` : ''}. Batch ${BATCH}, ${SIZE}² input, forward only, no bias, fp32; mdmt = eager \`conv2d()\` (allocates its output each call), ORT = \`session.run\` into a pre-allocated output. ${ROUNDS} alternating rounds of benchmark.js per shape; best = fastest sample, median = median sample.${load}`,
    '',
    ...table,
    '',
    `GFLOP/s (2·N·K·P·Q·C·R·S per call). ResNet-50's convs at batch ${BATCH} (each shape × its count, best samples): mdmt ${(tM * 1e3).toFixed(0)} ms, ORT ${(tO * 1e3).toFixed(0)} ms.`,
  ];
  const file = path.join(__dirname, '..', 'RESULTS.md').replace(`${path.sep}dist${path.sep}`, path.sep);
  let text = fs.readFileSync(file, 'utf8');
  const head = '## CPU conv2d (issue 3)';
  if (!text.includes(head)) text = `${text.trimEnd()}\n\n${head}\n`;
  // append at the end of this section (before the next "## " heading, if any)
  const start = text.indexOf(head) + head.length;
  const next = text.indexOf('\n## ', start);
  const at = next < 0 ? text.length : next;
  text = `${text.slice(0, at).trimEnd()}\n${lines.join('\n')}\n${next < 0 ? '' : '\n'}${text.slice(at).replace(/^\n+/, '')}`;
  fs.writeFileSync(file, text);
  console.log(`appended to ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
