#!/usr/bin/env node
// npm run bench [-- <filter>] [-- <options>]: compiles the TypeScript (unless MDMT_SKIP_TSC=1),
// then runs every benchmark file under bench/ (compiled to dist/bench) whose path matches the
// filter, one process each, with every further argument forwarded to each of them.
//   npm run bench                                   run every benchmark
//   npm run bench -- ops/conv2d --quick             the conv2d micro-benchmark, one short round
//   npm run bench:gpu -- --mode compiled --precision bf16 --graph
// A benchmark refuses a bad or unknown option with exit status 2, and so does this script a
// variable mdmt refuses (MDMT_NUM_THREADS=abc). A GPU benchmark (bench/gpu)
// without a usable CUDA device prints why and exits 3 ("nothing measured"): the status of
// this script when asked for it by name (a filter containing 'gpu'); in any other run it is
// reported as skipped and does not fail the run. One benchmark run: its exit status; several:
// 2 when every one that failed refused its options or variables (bench:train runs two, which
// both refuse a bad option: that was status 1), else 1 when any failed.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const NOTHING_MEASURED = 3; // bench/gpu/step.ts without a usable CUDA device
const argv = process.argv.slice(2);
// the first argument is the filter unless it is an option (`npm run bench -- --quick`)
const filter = argv.length && !argv[0].startsWith('-') ? argv[0] : '';
const forwarded = filter ? argv.slice(1) : argv;
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (process.env.MDMT_SKIP_TSC !== '1' && spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' }).status !== 0) {
  console.error('[mdmt bench] TypeScript compilation failed');
  process.exit(1);
}
// A variable mdmt refuses as it loads (MDMT_NUM_THREADS=abc, MDMT_DEVICE=gpu) is said once, in one
// line with status 2, as a bad option is: each benchmark printed it as an uncaught stack, exit 1.
try {
  require(path.join(root, 'dist', 'ts', 'tensor.js')); // $MDMT_DEVICE, read as it loads
  require(path.join(root, 'dist', 'ts', 'native', 'binding.js')).checkNativeEnv();
} catch (e) {
  if (!e || e.name !== 'MdmtError') throw e;
  console.error(`[mdmt bench] ${e.message}`);
  process.exit(2);
}
function walk(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.js') && !e.name.endsWith('.d.js') ? [p] : [];
  });
}
const files = walk(path.join(root, 'dist', 'bench'))
  .filter((f) => !/[\\/](lib|common|util)[\\/]|helpers?\.js$/.test(f))
  .filter((f) => path.relative(path.join(root, 'dist', 'bench'), f).includes(filter));
if (!files.length) {
  console.error(`[mdmt bench] no benchmark matches '${filter}'`);
  process.exit(2);
}
const gpuAskedFor = filter.includes('gpu');
let failed = 0, refused = 0, last = 0;
for (const f of files) {
  const name = path.relative(root, f);
  console.log(`\n[mdmt bench] ${name}${forwarded.length ? ` ${forwarded.join(' ')}` : ''}`);
  const r = spawnSync(process.execPath, [f, ...forwarded], { cwd: root, stdio: 'inherit', env: process.env });
  last = r.status ?? 1;
  if (last === NOTHING_MEASURED && !gpuAskedFor && /[\\/]gpu[\\/]/.test(f)) {
    console.log(`[mdmt bench] ${name}: skipped (no usable CUDA device; reason above)`);
    last = 0;
  } else if (last !== 0) {
    failed++;
    if (last === 2) refused++;
  }
}
process.exit(files.length === 1 ? last : failed ? (refused === failed ? 2 : 1) : 0);
