// No runtime import cycle in ts/: every module's value imports, read from the TypeScript
// source, form a DAG (the tape below the ops, the registry below the model families below
// the zoo, ...). What counts is what runs: each file is transpiled as tsc would emit it, so
// `import type`, type-only specifiers and imports used only as types (which tsc drops) do
// not count, while re-exports, side-effect imports and any require() with a relative path
// (a lazy one inside a function included) do. A failure prints each cycle as a → b → a.
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../../ts/native/binding';

/** Relative module specifiers that the emitted JavaScript of `source` requires. */
function runtimeImports(file: string, source: string): string[] {
  const js = ts.transpileModule(source, {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'require'
      && n.arguments.length === 1 && ts.isStringLiteral(n.arguments[0]) && n.arguments[0].text.startsWith('.')) out.push(n.arguments[0].text);
    ts.forEachChild(n, visit);
  };
  visit(ts.createSourceFile(file + '.js', js, ts.ScriptTarget.ES2022, false, ts.ScriptKind.JS));
  return out;
}

/** The import graph of `files` (path → source), edges between files of the set only. */
function importGraph(files: Map<string, string>): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const [file, src] of files) {
    const deps = runtimeImports(file, src).map((spec) => {
      const base = path.join(path.dirname(file), spec);
      return [`${base}.ts`, path.join(base, 'index.ts')].find((c) => files.has(c));
    });
    g.set(file, [...new Set(deps.filter((d): d is string => d !== undefined))].sort());
  }
  return g;
}

/** One cycle per strongly connected component of more than one file (or a self-import), as a path a → … → a. */
function findCycles(g: Map<string, string[]>): string[][] {
  // Tarjan's algorithm, iterative over an explicit stack
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>(), stack: string[] = [];
  const sccs: string[][] = [];
  for (const root of [...g.keys()].sort()) {
    if (index.has(root)) continue;
    const work: [string, number][] = [[root, 0]];
    while (work.length) {
      const top = work[work.length - 1];
      const [v, i] = top;
      if (i === 0) { index.set(v, next); low.set(v, next++); stack.push(v); onStack.add(v); }
      const deps = g.get(v) ?? [];
      if (i < deps.length) {
        top[1]++;
        const w = deps[i];
        if (!index.has(w)) work.push([w, 0]);
        else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length) { const u = work[work.length - 1][0]; low.set(u, Math.min(low.get(u)!, low.get(v)!)); }
      if (low.get(v) === index.get(v)) {
        const scc: string[] = [];
        let w: string;
        do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== v);
        if (scc.length > 1 || (g.get(v) ?? []).includes(v)) sccs.push(scc);
      }
    }
  }
  // within each component, the shortest way back from its first file to itself
  return sccs.map((scc) => {
    const inScc = new Set(scc), start = [...scc].sort()[0];
    const prev = new Map<string, string>();
    const queue = [start];
    for (let k = 0; k < queue.length; k++) {
      for (const w of g.get(queue[k]) ?? []) {
        if (w === start) {
          const cyc = [start];
          for (let u = queue[k]; u !== start; u = prev.get(u)!) cyc.splice(1, 0, u);
          return [...cyc, start];
        }
        if (inScc.has(w) && !prev.has(w)) { prev.set(w, queue[k]); queue.push(w); }
      }
    }
    return [start, start];
  });
}

function sourcesUnder(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) files.set(p, fs.readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return files;
}

test('the cycle finder sees value imports, lazy requires and re-exports, and ignores type-only imports', () => {
  const files = new Map([
    ['/x/a.ts', "import { b } from './b';\nexport const a = () => b();"],
    ['/x/b.ts', "export function b() { const { c } = require('./sub') as { c: () => number }; return c(); }"],
    ['/x/sub/index.ts', "export * from '../a';\nexport const c = () => 1;"],
    ['/x/t.ts', "import type { a } from './a';\nimport { b } from './b';\nexport type T = typeof a;\nexport const t = b;"],
    ['/x/u.ts', "import { T } from './t';\nimport { type a } from './a';\nexport const u = (x: T): T => x;\nexport type A = typeof a;"],
  ]);
  const g = importGraph(files);
  assert.equal(g.get('/x/t.ts'), ['/x/b.ts'], '`import type` does not count');
  assert.equal(g.get('/x/u.ts'), [], 'an import used only as a type and a type-only specifier do not count');
  assert.equal(findCycles(g), [['/x/a.ts', '/x/b.ts', '/x/sub/index.ts', '/x/a.ts']]);
  files.set('/x/b.ts', 'export const b = () => 2;');
  assert.equal(findCycles(importGraph(files)), []);
});

test('no runtime import cycle in ts/', () => {
  const root = packageRoot();
  const files = sourcesUnder(path.join(root, 'ts'));
  assert.ok(files.size > 50, `read ${files.size} files under ts/`);
  const cycles = findCycles(importGraph(files)).map((c) => c.map((f) => path.relative(root, f)).join(' → '));
  assert.equal(cycles, [], `runtime import cycles:\n  ${cycles.join('\n  ')}`);
});

test.run();
