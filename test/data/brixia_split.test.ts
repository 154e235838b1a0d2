// BRIXIA patients and centres (issue 15 §5): films of one `Subject` share a group, so no split
// separates a patient's films (CV and LOCO); LOCO centres are the manufacturer normalised as
// the authors' LoHo_validation.py does (upper-case, name variants merged) in their three
// groups, in their fold order; `--preset code` keeps the per-image split and the raw strings.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BX_CENTRE_GROUPS, brixiaCentre, readBrixia } from '../../ts/data/readers';
import type { DataRecord } from '../../ts/data/records';
import { bxStrata, locoFolds, stratifiedFolds } from '../../ts/data/splits';
import { CODE_PRESET } from '../../ts/train/config';
import { ensureSplits, locoCentres } from '../../ts/train/data';
import { rejects, tmpDir } from './_fixture';

// raw Manufacturer strings as DICOM headers write them, the authors' variants included
const RAW = ['SIEMENS', 'Agfa', 'AGFA-GEVAERT', 'Carestream Health', 'Villa Sistemi Medicali', 'KODAK', 'FUJIFILM Corporation', 'DIGITEC'];
const GROUP_OF: Record<string, string> = {
  SIEMENS: 'SIEMENS+KODAK', KODAK: 'SIEMENS+KODAK', Agfa: 'AGFA+FUJIFILM', 'AGFA-GEVAERT': 'AGFA+FUJIFILM', 'FUJIFILM Corporation': 'AGFA+FUJIFILM',
  'Carestream Health': 'CARESTREAM+VSM+DIGITEC', 'Villa Sistemi Medicali': 'CARESTREAM+VSM+DIGITEC', DIGITEC: 'CARESTREAM+VSM+DIGITEC',
};

/** A metadata_global_v2.csv of n films from n/2 subjects (two films each, sometimes on two manufacturers). */
function writeSheet(dir: string, n: number, extra: string[] = []): void {
  const lines = ['Filename;Subject;Manufacturer;BrixiaScore;BrixiaScoreGlobal'];
  for (let i = 0; i < n; i++) {
    const subject = 100 + Math.floor(i / 2);
    // the second film of every third subject comes from the next manufacturer
    const man = RAW[(Math.floor(i / 2) + (i % 2 && subject % 3 === 0 ? 1 : 0)) % RAW.length];
    const score = [i % 4, (i >> 2) % 4, 1, 0, (i >> 1) % 4, 2];
    lines.push(`${9000 + i}.dcm;${subject};${man};${parseInt(score.join(''), 10)};${score.reduce((a, b) => a + b, 0)}`);
  }
  fs.writeFileSync(path.join(dir, 'metadata_global_v2.csv'), [...lines, ...extra].join('\n') + '\n');
}

function noGroupCrosses(f: { train: DataRecord[]; val: DataRecord[]; test: DataRecord[] }, what: string): void {
  const where = new Map<string, string>();
  for (const part of ['train', 'val', 'test'] as const)
    for (const r of f[part]) {
      assert.is(where.get(r.group!) ?? part, part, `${what}: ${r.group} in ${where.get(r.group!)} and ${part}`);
      where.set(r.group!, part);
    }
}

test('brixiaCentre: the authors\' normalisation into their three groups; raw strings on request; unknown names refused', () => {
  for (const m of RAW) assert.is(brixiaCentre(m), GROUP_OF[m], m);
  assert.is(brixiaCentre(' fujifilm corporation '), 'AGFA+FUJIFILM', 'upper-cased and trimmed');
  assert.is(brixiaCentre('VSM'), 'CARESTREAM+VSM+DIGITEC', 'an already normalised name maps to itself');
  assert.is(brixiaCentre('Carestream Health', 'raw'), 'Carestream Health');
  assert.equal(BX_CENTRE_GROUPS.map((g) => g.name), ['SIEMENS+KODAK', 'AGFA+FUJIFILM', 'CARESTREAM+VSM+DIGITEC'], 'their fold order');
  assert.throws(() => brixiaCentre('Philips Medical Systems', 'groups', 'sheet row 7'), /sheet row 7: column 'Manufacturer' is 'Philips Medical Systems'.*bxCentres 'raw'/);
});

test('readBrixia: Subject groups and manufacturer groups by default; per image and raw strings as the code preset', async () => {
  const dir = tmpDir('bxsubj');
  writeSheet(dir, 48);
  const paper = await readBrixia(dir, { checkFiles: false, maskDir: null });
  assert.is(paper.records.length, 48);
  assert.ok(paper.records.every((r) => r.group === `subject ${100 + Math.floor((Number(r.id) - 9000) / 2)}`), 'group = Subject');
  assert.equal([...new Set(paper.records.map((r) => r.center))].sort(), ['AGFA+FUJIFILM', 'CARESTREAM+VSM+DIGITEC', 'SIEMENS+KODAK']);
  const code = await readBrixia(dir, { checkFiles: false, maskDir: null, groupBy: CODE_PRESET.data.bxGroupBy, centres: CODE_PRESET.data.bxCentres });
  assert.ok(code.records.every((r) => r.group === undefined), 'the authors split per image');
  assert.equal([...new Set(code.records.map((r) => r.center))].sort(), [...RAW].sort(), 'raw Manufacturer strings');
  // a sheet without Subject: every film alone
  fs.writeFileSync(path.join(dir, 'metadata_global_v2.csv'), 'Filename;Manufacturer;BrixiaScore;BrixiaScoreGlobal\n1.dcm;KODAK;1;1\n');
  assert.is((await readBrixia(dir, { checkFiles: false, maskDir: null })).records[0].group, undefined);
  // an unknown manufacturer names its row (skipped in skip mode)
  writeSheet(dir, 4, ['77.dcm;1;Philips;1;1']);
  const e = await rejects(() => readBrixia(dir, { checkFiles: false, maskDir: null }));
  assert.match(e.message, /metadata_global_v2\.csv row 6: column 'Manufacturer' is 'Philips'/);
  const skipped = await readBrixia(dir, { checkFiles: false, maskDir: null, onBadRecord: 'skip' });
  assert.is(skipped.records.length, 4);
  assert.match(skipped.skipped[0].error, /Philips/);
});

test('splits keep a subject\'s films together (CV and LOCO, also across manufacturers); LOCO folds in the authors\' order', async () => {
  const dir = tmpDir('bxsplit');
  writeSheet(dir, 120);
  const recs = (await readBrixia(dir, { checkFiles: false, maskDir: null })).records;
  const spanning = new Set(recs.filter((r) => recs.some((o) => o.group === r.group && o.center !== r.center)).map((r) => r.group));
  assert.ok(spanning.size >= 5, `${spanning.size} subjects were filmed on machines of two groups`);
  const cv = stratifiedFolds(recs, { seed: 0, strata: bxStrata });
  cv.forEach((f, i) => noGroupCrosses(f, `CV fold ${i}`));
  assert.equal(cv.flatMap((f) => f.test.map((r) => r.id)).sort(), recs.map((r) => r.id).sort(), 'every film tested once');
  const loco = locoFolds(recs, { seed: 0, strata: bxStrata });
  loco.forEach((f) => noGroupCrosses(f, `LOCO ${f.name}`));
  for (const f of loco) for (const g of spanning) {
    const inTest = f.test.some((r) => r.group === g);
    assert.ok(!inTest || f.test.filter((r) => r.group === g).length === 2, `${g}: both films in the test set of ${f.name} or neither`);
  }
  const splits = tmpDir('bxsplitdir');
  const dirs = ensureSplits(splits, { afc: [], bx: recs }, { seed: 0, k: 5 });
  assert.equal(locoCentres(dirs.bx!), BX_CENTRE_GROUPS.map((g) => g.name), 'BRIXIA LOCO fold i = the authors\' group i');
  // the raw strings (code preset) make one fold per string, by name, and a per-image split
  const raw = (await readBrixia(dir, { checkFiles: false, maskDir: null, groupBy: 'image', centres: 'raw' })).records;
  const rawDirs = ensureSplits(tmpDir('bxsplitraw'), { afc: [], bx: raw }, { seed: 0, k: 5 });
  assert.equal(locoCentres(rawDirs.bx!), [...RAW].sort());
});

test.run();
