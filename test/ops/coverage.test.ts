/**
 * Every op × backend (DESIGN §7.6): each op named in ts/ops/names.ts must be registered on
 * the CPU, and on CUDA when the addon was built with it, unless an exclusion below names
 * the gap with a reason. An exclusion whose op has since been implemented is reported so
 * it can be removed. Also: ts/ops/names.ts = native/core/op_names.h, same order.
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native, packageRoot } from '../../ts/native/binding';
import { OP_NAMES } from '../../ts/ops/names';

/** (op → reason) gaps allowed on the CPU backend. The CPU is the reference: keep this empty. */
const CPU_EXCLUSIONS: Record<string, string> = {};

/** (op → reason) gaps allowed on the CUDA backend. */
const CUDA_EXCLUSIONS: Record<string, string> = {};

function parseOpNamesHeader(): string[] {
  const file = path.join(packageRoot(), 'native', 'core', 'op_names.h');
  const src = fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/.*$/gm, ' ');
  const body = src.slice(src.indexOf('#define MDMT_OP_NAMES(X)') + '#define MDMT_OP_NAMES(X)'.length);
  return [...body.matchAll(/\bX\(\s*([a-z0-9_]+)\s*\)/g)].map((m) => m[1]);
}

test('ts/ops/names.ts equals native/core/op_names.h (same ops, same order)', () => {
  const header = parseOpNamesHeader();
  assert.ok(header.length > 10, `parsed only ${header.length} names from op_names.h`);
  assert.equal([...OP_NAMES], header, 'ts/ops/names.ts and native/core/op_names.h differ');
  assert.is(new Set(header).size, header.length, 'an op is named twice');
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

test.run();
