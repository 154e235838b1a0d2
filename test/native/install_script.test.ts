/**
 * scripts/install.js, npm's install script: in this repository it builds everything; in an
 * installed package it takes the prebuilt addon only when that loads in a fresh Node.js
 * process (an older glibc fails only at load time), and otherwise builds from source, saying
 * why. Exercised on scratch package directories; nothing is built here.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addonPath, packageRoot } from '../../ts/native/binding';

interface Choice { action: 'dev' | 'prebuilt' | 'source'; file?: string; reason: string }
// eslint-disable-next-line @typescript-eslint/no-require-imports -- scripts/install.js is npm's plain CommonJS install script, outside ts/ and dist/
const { choose } = require(path.join(packageRoot(), 'scripts', 'install.js')) as { choose: (dir: string, env?: NodeJS.ProcessEnv) => Choice };

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-install-'));
const tuple = `${process.platform}-${process.arch}`;

/** A scratch installed package (no ts/ sources) with `prebuild` as its prebuilt addon. */
function pkg(name: string, prebuild?: Buffer | string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'mdmt' }));
  if (prebuild !== undefined) {
    fs.mkdirSync(path.join(dir, 'prebuilds', tuple), { recursive: true });
    const out = path.join(dir, 'prebuilds', tuple, 'mdmt.napi.glibc.node');
    if (typeof prebuild === 'string') fs.copyFileSync(prebuild, out);
    else fs.writeFileSync(out, prebuild);
  }
  return dir;
}

test('in the repository: build everything (native + TypeScript)', () => {
  assert.is(choose(packageRoot()).action, 'dev');
});

test('installed, a prebuilt addon that loads here: use it, compile nothing', () => {
  const c = choose(pkg('good', addonPath()), {});
  assert.is(c.action, 'prebuilt', c.reason);
  assert.match(c.file ?? '', `prebuilds${path.sep}${tuple}${path.sep}mdmt.napi.glibc.node`);
});

test('installed, a prebuilt addon that does not load (say, an older glibc): build from source, saying why', () => {
  const c = choose(pkg('broken', Buffer.from('not an ELF shared object')), {});
  assert.is(c.action, 'source');
  assert.match(c.reason, /^the prebuilt addon does not load here: .*(invalid ELF header|file too short)/);
});

test('installed, no prebuilt addon for this platform, or a build from source asked for', () => {
  assert.equal(choose(pkg('none'), {}), { action: 'source', reason: `no prebuilt addon for ${tuple}` });
  assert.is(choose(pkg('good2', addonPath()), { MDMT_BUILD_FROM_SOURCE: '1' }).action, 'source');
  assert.is(choose(pkg('good3', addonPath()), { npm_config_build_from_source: 'true' }).action, 'source');
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
