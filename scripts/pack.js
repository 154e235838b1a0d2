#!/usr/bin/env node
// npm's prepack: what goes into the tarball besides the sources.
//  1. dist/ts: the library compiled with tsconfig.build.json (ts/ only: no tests, no
//     benchmarks, no source maps), from a clean dist/ts so no stale file ships.
//  2. prebuilds/<platform>-<arch>/mdmt.napi.<libc>.node: the prebuilt addon, with the CUDA
//     kernels compiled in (so nvcc must be here) and libstdc++ linked in. It is built in the
//     usual build directory, so after `npm install` this is a relink, not a rebuild.
//     MDMT_PREBUILD_CPU_ONLY=1 accepts a machine without nvcc (a CPU-only prebuilt addon).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const { buildNative, buildTs, root } = require('./build');

function fail(msg) {
  console.error(`[mdmt pack] ${msg}`);
  process.exit(1);
}

fs.rmSync(path.join(root, 'dist', 'ts'), { recursive: true, force: true });
fs.rmSync(path.join(root, 'dist', '.tsbuildinfo'), { force: true });  // the dev build's incremental state describes dist/ts
if (!buildTs('tsconfig.build.json')) fail('TypeScript compilation failed');

const cpuOnly = process.env.MDMT_PREBUILD_CPU_ONLY === '1';
const buildDir = process.env.MDMT_BUILD_DIR || 'build';
if (!buildNative({ cuda: cpuOnly ? 'AUTO' : 'ON', buildDir, staticCxx: true })) {
  fail(cpuOnly ? 'the native build failed'
    : 'the prebuilt addon must carry the CUDA kernels and nvcc (or the CUDA runtime) is missing or the CUDA build failed; ' +
      'set MDMT_PREBUILD_CPU_ONLY=1 to pack a CPU-only prebuilt addon');
}

const libc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';
const outDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const out = path.join(outDir, `mdmt.napi.${libc}.node`);
fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });
fs.copyFileSync(path.join(root, buildDir, 'Release', 'mdmt.node'), out);

const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(out)}).cudaCompiled))`], { encoding: 'utf8' });
if (probe.status !== 0) fail(`the prebuilt addon does not load: ${probe.stderr}`);
if (probe.stdout !== 'true' && !cpuOnly) fail('the prebuilt addon has no CUDA backend compiled in');
console.log(`[mdmt pack] ${path.relative(root, out)}: ${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB, CUDA backend ${probe.stdout === 'true' ? 'compiled in' : 'absent (CPU-only)'}`);
