#!/usr/bin/env node
// npm test: compile the TypeScript (tsc, incremental) and run every test/**/*.test.ts
// (compiled to dist/test) with uvu in one process. Ends with the plain line
// "N passed, N failed, N skipped".
//   npm test                 all suites
//   npm test -- ops/conv2d   only files whose path matches the pattern
// MDMT_DEVICE=cuda runs the same suites on the GPU (suites print why they skip without one).
'use strict';
const { spawnSync, spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const { stripVTControlCharacters } = require('util');

const root = path.resolve(__dirname, '..');
const filter = process.argv[2] || '';

if (process.env.MDMT_SKIP_TSC !== '1') {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  console.log('[mdmt test] compiling TypeScript (tsc -p tsconfig.json)');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('[mdmt test] TypeScript compilation failed');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

const addon = process.env.MDMT_ADDON || path.join(root, process.env.MDMT_BUILD_DIR || 'build', 'Release', 'mdmt.node');
if (!fs.existsSync(addon)) {
  console.error(`[mdmt test] native addon missing (${addon}): run npm install`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const uvu = path.join(root, 'node_modules', 'uvu', 'bin.js');
const pattern = filter ? `${filter.replace(/[.+^${}()|[\]\\]/g, '\\$&')}.*\\.test\\.js$` : '\\.test\\.js$';
console.log(`[mdmt test] uvu dist/test ${pattern} (device: ${process.env.MDMT_DEVICE || 'cpu'})`);
const child = spawn(process.execPath, [uvu, 'dist/test', pattern], { cwd: root, env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-4000);
});
child.on('close', (code, signal) => {
  const plain = stripVTControlCharacters(tail);
  const num = (label) => {
    const m = plain.match(new RegExp(`${label}:\\s+(\\d+)`));
    return m ? Number(m[1]) : 0;
  };
  const total = num('Total'), passed = num('Passed'), skipped = num('Skipped');
  const failed = code === 0 ? total - passed - skipped : Math.max(1, total - passed - skipped);
  if (signal) console.error(`[mdmt test] test process killed by ${signal}`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
