#!/usr/bin/env node
// npm run bench [-- <filter>]: compiles the TypeScript, then runs every benchmark file
// under bench/ (compiled to dist/bench) whose path matches the filter, one process each.
//   npm run bench                  list and run all CPU benchmarks
//   npm run bench -- ops/conv2d    the conv2d micro-benchmark against onnxruntime-node
// GPU benchmarks (bench/gpu) run only when a CUDA device is available.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const filter = process.argv[2] || '';
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (process.env.MDMT_SKIP_TSC !== '1' && spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' }).status !== 0) {
  console.error('[mdmt bench] TypeScript compilation failed');
  process.exit(1);
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
  .filter((f) => path.relative(path.join(root, 'dist', 'bench'), f).includes(filter))
  // GPU benchmarks run when asked for by name or when a CUDA device is available
  .filter((f) => filter.includes('gpu') || !/[\\/]gpu[\\/]/.test(f) || cudaAvailable());
function cudaAvailable() {
  try {
    const { native } = require(path.join(root, 'dist', 'ts', 'native', 'binding.js'));
    return native().devices().some((d) => d.type === 'cuda' && d.available);
  } catch {
    return false;
  }
}
if (!files.length) {
  console.error(`[mdmt bench] no benchmark matches '${filter}'`);
  process.exit(2);
}
let failed = 0;
for (const f of files) {
  console.log(`\n[mdmt bench] ${path.relative(root, f)}`);
  const r = spawnSync(process.execPath, [f], { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
