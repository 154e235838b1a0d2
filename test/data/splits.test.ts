import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readAIforCOVID, readBrixia } from '../../ts/data/readers';
import { DataRecord } from '../../ts/data/records';
import { afcStrata, bxStrata, locoFolds, makeSplits, readFold, readSplitFile, stratifiedFolds, Strata } from '../../ts/data/splits';
import { readCovidCxr } from '../../ts/data/readers';
import { sharedData, synthFixture, tmpDir } from './_fixture';

const ids = (rs: DataRecord[]) => rs.map((r) => r.id);
const count = (rs: DataRecord[], s: Strata) => rs.reduce((m, r) => m.set(s(r), (m.get(s(r)) ?? 0) + 1), new Map<string, number>());

async function data() {
  const { afcRoot, bxRoot } = await synthFixture();
  return { afc: (await readAIforCOVID(afcRoot)).records, bx: (await readBrixia(bxRoot)).records };
}

test('5-fold: disjoint parts, every record tested exactly once, 60/20/20, stratified within one per stratum', async () => {
  const { afc, bx } = await data();
  for (const [recs, strata] of [[afc, afcStrata], [bx, bxStrata]] as [DataRecord[], Strata][]) {
    const folds = stratifiedFolds(recs, { seed: 0, strata });
    assert.is(folds.length, 5);
    const tested = folds.flatMap((f) => ids(f.test)).sort();
    assert.equal(tested, ids(recs).sort(), 'each record is in exactly one test fold');
    const total = count(recs, strata);
    for (const f of folds) {
      const parts = [f.train, f.val, f.test].map(ids);
      const all = parts.flat();
      assert.is(new Set(all).size, all.length, 'train/val/test disjoint');
      assert.is(all.length, recs.length, 'and cover the data set');
      assert.ok(Math.abs(f.test.length - recs.length / 5) <= 1 && Math.abs(f.val.length - recs.length / 5) <= 1);
      const tc = count(f.test, strata);
      for (const [s, n] of total) assert.ok(Math.abs((tc.get(s) ?? 0) - n / 5) < 1, `stratum ${s}: ${tc.get(s) ?? 0} of ${n} in test`);
    }
  }
});

test('5-fold: class totals per chunk within one of their share, whatever the centres (issue: remainders piled up per centre)', () => {
  // six centres of uneven sizes and class mixes, drawn afresh: every centre × label stratum
  // leaves a remainder, and the remainders must go where the class is short
  let s = 12345;
  const rand = (n: number) => ((s = (s * 1103515245 + 12345) % 2147483648), s % n);
  for (let trial = 0; trial < 20; trial++) {
    const recs: DataRecord[] = [];
    for (const c of 'ABCDEF') {
      for (const label of [0, 1]) {
        const n = 3 + rand(120);
        for (let i = 0; i < n; i++) recs.push({ id: `t${trial}-${c}${label}-${i}`, task: 'AFC', source: 'aiforcovid', image: 'x.png', center: c, label, labelName: label ? 'SEVERE' : 'MILD', where: 'x' } as DataRecord);
      }
    }
    for (const k of [3, 5, 7]) {
      const folds = stratifiedFolds(recs, { seed: trial, strata: afcStrata, k });
      for (const label of [0, 1]) {
        const n = recs.filter((r) => r.label === label).length;
        const per = folds.map((f) => f.test.filter((r) => r.label === label).length);
        assert.ok(Math.max(...per) - Math.min(...per) <= 1, `trial ${trial}, k ${k}, label ${label}: ${per.join('/')} of ${n}`);
      }
      const sizes = folds.map((f) => f.test.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `trial ${trial}, k ${k}: chunk sizes ${sizes.join('/')}`);
    }
  }
});

test('LOCO: one fold per centre, the centre never in train/val, ~10 % validation stratified', async () => {
  const { afc } = await data();
  const folds = locoFolds(afc, { seed: 0 });
  const centres = [...new Set(afc.map((r) => r.center))].sort();
  assert.equal(folds.map((f) => f.name), centres);
  for (const f of folds) {
    assert.ok(f.test.every((r) => r.center === f.name));
    assert.ok([...f.train, ...f.val].every((r) => r.center !== f.name), `centre ${f.name} is not split`);
    const rest = afc.length - f.test.length;
    assert.is(f.train.length + f.val.length, rest);
    assert.is(f.val.length, Math.floor(rest * 0.1));
    assert.is(new Set([...ids(f.train), ...ids(f.val), ...ids(f.test)]).size, afc.length);
  }
});

test('patient groups (covid-cxr follow-up films) never cross train/val/test', async () => {
  const dir = sharedData('covid-cxr', 'grouped splits');
  if (!dir) return;
  const recs = (await readCovidCxr(dir, { severity: null })).records;
  const groups = new Set(recs.map((r) => r.group));
  assert.ok(groups.size < recs.length, 'some patients have several images');
  const check = (f: { train: DataRecord[]; val: DataRecord[]; test: DataRecord[] }) => {
    const where = new Map<string, string>();
    for (const part of ['train', 'val', 'test'] as const)
      for (const r of f[part]) {
        assert.ok((where.get(r.group!) ?? part) === part, `${r.group} in ${where.get(r.group!)} and ${part}`);
        where.set(r.group!, part);
      }
  };
  const folds = stratifiedFolds(recs, { seed: 0, strata: afcStrata });
  folds.forEach(check);
  assert.equal(folds.flatMap((f) => ids(f.test)).sort(), ids(recs).sort());
  locoFolds(recs, { seed: 0 }).forEach(check);
});

test('split files: the authors\' format, identical for the same seed, different for another, readable back', async () => {
  const { afc, bx } = await data();
  const a = tmpDir('splitA'), b = tmpDir('splitB'), c = tmpDir('splitC');
  makeSplits(path.join(a, 'AFC'), afc, { seed: 3, strata: afcStrata });
  makeSplits(path.join(b, 'AFC'), [...afc].reverse(), { seed: 3, strata: afcStrata }); // input order does not matter
  makeSplits(path.join(c, 'AFC'), afc, { seed: 4, strata: afcStrata });
  makeSplits(path.join(a, 'BX'), bx, { seed: 3, strata: bxStrata });
  const list = (d: string): string[] => fs.readdirSync(d, { recursive: true }).map(String).filter((f) => f.endsWith('.txt') || f.endsWith('centers')).sort();
  const files = list(path.join(a, 'AFC'));
  assert.ok(files.includes(path.join('5', '0', 'train.txt')) && files.includes(path.join('loCo', 'centers')));
  let differs = false;
  for (const f of files) {
    const x = fs.readFileSync(path.join(a, 'AFC', f), 'utf8');
    assert.is(x, fs.readFileSync(path.join(b, 'AFC', f), 'utf8'), f);
    if (x !== fs.readFileSync(path.join(c, 'AFC', f), 'utf8')) differs = true;
  }
  assert.ok(differs, 'another seed gives other splits');
  const rows = readSplitFile(path.join(a, 'AFC', '5', '0', 'test.txt'));
  assert.is(fs.readFileSync(path.join(a, 'AFC', '5', '0', 'test.txt'), 'utf8').split('\n')[0], 'img label center');
  assert.ok(rows.every((r) => /^(MILD|SEVERE)$/.test(r.label) && /^[A-F]$/.test(r.center)));
  const bxRows = readSplitFile(path.join(a, 'BX', '5', '1', 'val.txt'));
  assert.ok(bxRows.every((r) => /^[0-3]{6}$/.test(r.label)), 'BX labels are six-digit scores');
  const fold = readFold(path.join(a, 'AFC', '5', '2'), afc);
  const direct = stratifiedFolds(afc, { seed: 3, strata: afcStrata })[2];
  assert.equal(ids(fold.test).sort(), ids(direct.test).sort());
  assert.throws(() => readFold(path.join(a, 'AFC', '5', '2'), afc.slice(0, 5)), /is not in the data set/);
  fs.writeFileSync(path.join(c, 'bad.txt'), 'image lab\nx y z\n');
  assert.throws(() => readSplitFile(path.join(c, 'bad.txt')), /bad\.txt: header is 'image lab'/);
});

test.run();
