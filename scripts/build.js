#!/usr/bin/env node
// Builds mdmt: the native addon (cmake-js from CMakeLists.txt; node-gyp + binding.gyp when
// CMake is missing or cmake-js fails) and the TypeScript (tsc -> dist/).
//   node scripts/build.js [--native-only | --ts-only]
// Environment: MDMT_CUDA=AUTO|ON|OFF (CUDA backend), MDMT_BUILD_DIR (default "build"),
// MDMT_SKIP_NATIVE=1 (TypeScript only).
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const args = new Set(process.argv.slice(2));
const buildDir = process.env.MDMT_BUILD_DIR || 'build';

function run(cmd, argv, opts = {}) {
  console.log(`[mdmt build] ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', ...opts });
  return r.status === 0;
}
function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}
function bin(pkg, rel) {
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`, { paths: [root] })), rel);
  } catch {
    return null;
  }
}

function buildNative() {
  if (process.env.MDMT_SKIP_NATIVE === '1') return true;
  const cuda = (process.env.MDMT_CUDA || 'AUTO').toUpperCase();
  const cmakeJs = bin('cmake-js', 'bin/cmake-js');
  if (has('cmake') && cmakeJs) {
    const ok = run(process.execPath, [cmakeJs, 'compile', '--out', buildDir, `--CDMDMT_CUDA=${cuda}`,
      ...(process.env.CMAKE_GENERATOR ? ['-G', process.env.CMAKE_GENERATOR] : [])]);
    if (ok) return true;
    if (cuda === 'ON') return false;
    console.warn('[mdmt build] cmake-js failed; falling back to node-gyp (CPU only)');
  } else {
    console.warn('[mdmt build] CMake not found; building the CPU-only addon with node-gyp');
  }
  const gyp = bin('node-gyp', 'bin/node-gyp.js');
  if (!gyp) {
    console.error('[mdmt build] node-gyp is not installed either: cannot build the native addon');
    return false;
  }
  // Offline: point node-gyp at the headers of the running Node.js instead of downloading.
  const nodedir = process.env.npm_config_nodedir || path.resolve(path.dirname(process.execPath), '..');
  const gypArgs = fs.existsSync(path.join(nodedir, 'include', 'node', 'node_api.h')) ? [`--nodedir=${nodedir}`] : [];
  const ok = run(process.execPath, [gyp, 'rebuild', ...gypArgs]);
  if (ok && buildDir !== 'build') {
    fs.mkdirSync(path.join(root, buildDir, 'Release'), { recursive: true });
    fs.copyFileSync(path.join(root, 'build/Release/mdmt.node'), path.join(root, buildDir, 'Release/mdmt.node'));
  }
  return ok;
}

function buildTs() {
  const tsc = bin('typescript', 'bin/tsc');
  if (!tsc) {
    console.error('[mdmt build] typescript is not installed: cannot compile ts/');
    return false;
  }
  return run(process.execPath, [tsc, '-p', 'tsconfig.json']);
}

let ok = true;
if (!args.has('--ts-only')) ok = buildNative() && ok;
if (ok && !args.has('--native-only')) ok = buildTs() && ok;
process.exit(ok ? 0 : 1);
