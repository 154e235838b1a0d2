#!/usr/bin/env node
// npm's install script.
//  - In a checkout of the repository (ts/ sources present): build everything, the native
//    addon and the TypeScript (scripts/build.js), as `npm run build`.
//  - In an installed package: never compile TypeScript (dist/ ships compiled). Use the
//    prebuilt addon (prebuilds/<platform>-<arch>/) when it loads on this machine — tried in a
//    child process, because an older glibc or libstdc++ fails only at load time — else build
//    the addon from source (cmake-js, node-gyp fallback; needs a C++17 compiler).
//    `npm install --build-from-source` (or MDMT_BUILD_FROM_SOURCE=1) skips the prebuilt addon.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');

/** The prebuilt addon node-gyp-build would pick for this platform, or null. */
function prebuildFor(dir) {
  let nodeGypBuild;
  try {
    nodeGypBuild = require('node-gyp-build');
  } catch {
    return null;
  }
  try {
    const p = nodeGypBuild.path(dir);  // a build/Release it prefers (npm rebuild) is no prebuilt addon
    return p.split(path.sep).includes('prebuilds') ? p : null;
  } catch {
    return null;
  }
}

/** null when `file` loads in a fresh Node.js process, else the loader's first error line. */
function loadError(file) {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)})`], { encoding: 'utf8' });
  if (r.status === 0) return null;
  const lines = `${r.stderr || ''}${r.error ? r.error.message : ''}`.split('\n').map((l) => l.trim());
  return lines.find((l) => /Error|error/.test(l)) || lines.find(Boolean) || `exit code ${r.status}`;
}

/** What to do here: { action: 'dev' | 'prebuilt' | 'source', file?, reason }. */
function choose(dir = root, env = process.env) {
  if (fs.existsSync(path.join(dir, 'ts', 'index.ts'))) return { action: 'dev', reason: 'a checkout of the repository' };
  if (env.MDMT_BUILD_FROM_SOURCE === '1' || env.npm_config_build_from_source === 'true')
    return { action: 'source', reason: 'build from source requested' };
  const file = prebuildFor(dir);
  if (!file) return { action: 'source', reason: `no prebuilt addon for ${process.platform}-${process.arch}` };
  const err = loadError(file);
  if (err) return { action: 'source', file, reason: `the prebuilt addon does not load here: ${err}` };
  return { action: 'prebuilt', file, reason: 'it loads on this machine' };
}

module.exports = { choose, loadError, prebuildFor };

if (require.main === module) {
  const c = choose();
  const build = path.join(__dirname, 'build.js');
  let ok = true;
  if (c.action === 'dev') {
    ok = spawnSync(process.execPath, [build], { cwd: root, stdio: 'inherit' }).status === 0;
  } else if (c.action === 'prebuilt') {
    console.log(`[mdmt install] using the prebuilt addon ${path.relative(root, c.file)} (${c.reason})`);
  } else {
    console.log(`[mdmt install] building the native addon from source: ${c.reason}`);
    ok = spawnSync(process.execPath, [build, '--native-only'], { cwd: root, stdio: 'inherit' }).status === 0;
    if (!ok) {
      console.error('[mdmt install] the build from source failed: it needs a C++17 compiler (g++ or clang++) and CMake ' +
        '(or Python 3 for the node-gyp fallback). With nvcc on PATH the CUDA backend is built too.');
    }
  }
  process.exit(ok ? 0 : 1);
}
