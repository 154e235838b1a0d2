#!/usr/bin/env node
// Builds mdmt: the native addon (cmake-js from CMakeLists.txt; node-gyp + binding.gyp when
// CMake is missing or cmake-js fails) and the TypeScript (tsc -> dist/).
//   node scripts/build.js [--native-only | --ts-only]
// Environment: MDMT_CUDA=AUTO|ON|OFF (CUDA backend; ON fails without nvcc), MDMT_BUILD_DIR
// (default "build"), MDMT_SKIP_NATIVE=1 (TypeScript only).
// Also a module: scripts/pack.js builds the prebuilt addon with buildNative().
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

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

// The cache entries a build directory was configured with (CMakeCache.txt), {} when none.
function cachedOptions(buildDir) {
  const out = {};
  try {
    for (const line of fs.readFileSync(path.join(root, buildDir, 'CMakeCache.txt'), 'utf8').split('\n')) {
      const m = /^(MDMT_[A-Z_]+):[A-Z]+=(.*)$/.exec(line);
      if (m) out[m[1]] = m[2];
    }
  } catch { /* not configured yet */ }
  return out;
}

// cmake-js: `compile` reuses a configured directory as is, so a change of MDMT_CUDA or
// MDMT_STATIC_CXX goes through `configure` (keeps the objects; cmake rebuilds what changed).
function cmakeBuild(cmakeJs, buildDir, defs) {
  const cached = cachedOptions(buildDir);
  const stale = Object.keys(cached).length === 0 || Object.entries(defs).some(([k, v]) => cached[k] !== v);
  const args = ['--out', buildDir, ...Object.entries(defs).map(([k, v]) => `--CD${k}=${v}`),
    ...(process.env.CMAKE_GENERATOR ? ['-G', process.env.CMAKE_GENERATOR] : [])];
  if (stale && !run(process.execPath, [cmakeJs, 'configure', ...args])) return false;
  return run(process.execPath, [cmakeJs, stale ? 'build' : 'compile', ...args]);
}

/** Builds build dir's Release/mdmt.node; cuda: AUTO|ON|OFF, staticCxx: link libstdc++ in. */
function buildNative({ cuda = 'AUTO', buildDir = 'build', staticCxx = false } = {}) {
  const cmakeJs = bin('cmake-js', 'bin/cmake-js');
  if (has('cmake') && cmakeJs) {
    if (cmakeBuild(cmakeJs, buildDir, { MDMT_CUDA: cuda, MDMT_STATIC_CXX: staticCxx ? 'ON' : 'OFF' })) return true;
    if (cuda === 'ON') return false;
    console.warn('[mdmt build] cmake-js failed; falling back to node-gyp (CPU only)');
  } else {
    if (cuda === 'ON') {
      console.error('[mdmt build] MDMT_CUDA=ON needs CMake and cmake-js (the node-gyp fallback builds no CUDA)');
      return false;
    }
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

function buildTs(project = 'tsconfig.json') {
  const tsc = bin('typescript', 'bin/tsc');
  if (!tsc) {
    console.error('[mdmt build] typescript is not installed: cannot compile ts/');
    return false;
  }
  return run(process.execPath, [tsc, '-p', project]);
}

module.exports = { buildNative, buildTs, root };

if (require.main === module) {
  const args = new Set(process.argv.slice(2));
  let ok = true;
  if (!args.has('--ts-only') && process.env.MDMT_SKIP_NATIVE !== '1')
    ok = buildNative({ cuda: (process.env.MDMT_CUDA || 'AUTO').toUpperCase(), buildDir: process.env.MDMT_BUILD_DIR || 'build' });
  if (ok && !args.has('--native-only')) ok = buildTs();
  process.exit(ok ? 0 : 1);
}
