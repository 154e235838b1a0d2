#!/usr/bin/env node
// Size check (CI runs it): prints the lines of each source folder, and fails when a source
// file under ts/, native/ or kernels/ has more than LIMIT lines. Files past ~400 lines are
// listed as the next ones to split (STYLE: files under ~400 lines, functions on one screen).
//   node scripts/sizes.js
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const LIMIT = 500;
const SOFT = 400;
/** Folders whose files the limit applies to. */
const CHECKED = ['ts', 'native', 'kernels'];
/** Folders that are only counted. */
const COUNTED = ['test', 'bench', 'scripts'];
const SOURCE = /\.(ts|js|mjs|cc|cpp|h|hpp|cu|cuh|py)$/;

// Files allowed over the limit while they are being split. An entry whose file is back
// under the limit, or gone, fails the check too: the list only shrinks, and is meant to be
// empty (issue 11's native half split native/cpu/conv2d.cc and native/addon.cc).
const ALLOWED_OVER = new Map([]);

function lines(file) {
  const text = fs.readFileSync(file, 'utf8');
  if (text.length === 0) return 0;
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return text.endsWith('\n') ? n : n + 1;
}

function walk(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (SOURCE.test(e.name)) out.push({ file: path.relative(root, p).split(path.sep).join('/'), lines: lines(p) });
  }
  return out;
}

const files = [...CHECKED, ...COUNTED].filter((d) => fs.existsSync(path.join(root, d))).flatMap((d) => walk(path.join(root, d), []));

// lines per folder (each file counts in its own folder only)
const folders = new Map();
for (const f of files) {
  const dir = path.posix.dirname(f.file);
  const s = folders.get(dir) ?? { lines: 0, files: 0, largest: f };
  s.lines += f.lines;
  s.files++;
  if (f.lines > s.largest.lines) s.largest = f;
  folders.set(dir, s);
}
console.log('lines  files  folder                 largest file');
for (const [dir, s] of [...folders].sort((a, b) => a[0].localeCompare(b[0])))
  console.log(`${String(s.lines).padStart(5)}  ${String(s.files).padStart(5)}  ${dir.padEnd(22)} ${path.posix.basename(s.largest.file)} (${s.largest.lines})`);
const total = (d) => files.filter((f) => f.file.startsWith(`${d}/`)).reduce((a, f) => a + f.lines, 0);
console.log([...CHECKED, ...COUNTED].map((d) => `${d}/ ${total(d)}`).join(', '));

const checked = files.filter((f) => CHECKED.some((d) => f.file.startsWith(`${d}/`)));
const soft = checked.filter((f) => f.lines > SOFT && f.lines <= LIMIT);
if (soft.length) console.log(`over ~${SOFT} lines (split next): ${soft.map((f) => `${f.file} ${f.lines}`).join(', ')}`);

const problems = [];
for (const f of checked) {
  if (f.lines <= LIMIT) continue;
  if (ALLOWED_OVER.has(f.file)) console.log(`allowed for now: ${f.file} ${f.lines} lines (${ALLOWED_OVER.get(f.file)})`);
  else problems.push(`${f.file} has ${f.lines} lines (limit ${LIMIT}): split it`);
}
for (const file of ALLOWED_OVER.keys()) {
  const f = checked.find((x) => x.file === file);
  if (!f || f.lines <= LIMIT) problems.push(`${file} is ${f ? `down to ${f.lines} lines` : 'gone'}: remove it from ALLOWED_OVER in scripts/sizes.js`);
}
if (problems.length) {
  for (const p of problems) console.error(`[sizes] ${p}`);
  process.exit(1);
}
console.log(`[sizes] every source file in ${CHECKED.map((d) => `${d}/`).join(', ')} is within ${LIMIT} lines${ALLOWED_OVER.size ? ` (${ALLOWED_OVER.size} allowed over, being split)` : ''}`);
