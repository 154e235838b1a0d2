// Tasks that share films or patients (covid-cxr: one film carries a τ1 and a τ2 label) are
// split once by patient and both tasks' parts derive from it (issue 15 §3): in every CV and
// LOCO fold, no test film or test patient of either task is in either task's train or val
// part of the same fold; data sets without shared films (AIforCOVID + BRIXIA) keep their own
// splits. Checked on a linked data set the test writes and on ../shared/data/covid-cxr.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readCovidCxr } from '../../ts/data/readers';
import type { DataRecord } from '../../ts/data/records';
import { linkRecords, readFold, type Fold } from '../../ts/data/splits';
import { ensureSplits, foldCount, locoCentres, type TaskRecords } from '../../ts/train/data';
import * as path from 'path';
import { linkedData } from './_linked';
import { sharedData, synthFixture, tmpDir } from './_fixture';
import { readAIforCOVID, readBrixia } from '../../ts/data/readers';

const tasks = (records: DataRecord[]): TaskRecords => ({ afc: records.filter((r) => r.task === 'AFC'), bx: records.filter((r) => r.task === 'BX') });

/** Fold i of τ1 and fold i of τ2 together: the test films (ids) or patients found in a train or val part. */
function leaks(afc: Fold, bx: Fold): string[] {
  const seen = [...afc.train, ...afc.val, ...bx.train, ...bx.val];
  const films = new Set(seen.map((r) => r.id)), patients = new Set(seen.map((r) => r.group));
  return [...afc.test, ...bx.test].filter((r) => films.has(r.id) || patients.has(r.group)).map((r) => `${r.task} ${r.id} (${r.group})`);
}

/** Every leak of every CV and LOCO fold pair (τ1 fold i with τ2 fold i). */
function allLeaks(dirs: { afc?: string; bx?: string }, recs: TaskRecords, k: number, what: string): string[] {
  const out: string[] = [];
  for (const [protocol, sub] of [['cv', String(k)], ['loco', 'loCo']] as const) {
    const n = foldCount(dirs.afc!, protocol, k);
    assert.is(foldCount(dirs.bx!, protocol, k), n, `${what} ${protocol}: one τ2 fold per τ1 fold`);
    for (let i = 0; i < n; i++) {
      const a = readFold(path.join(dirs.afc!, sub, String(i)), recs.afc), b = readFold(path.join(dirs.bx!, sub, String(i)), recs.bx);
      out.push(...leaks(a, b).map((l) => `${what} ${protocol} fold ${i}: test ${l} is trained or validated on`));
    }
  }
  return out;
}

test('linkRecords: a film labelled for both tasks, and a patient\'s films, are one group', async () => {
  const dir = await linkedData(tmpDir('linked-a'), 30);
  const { records } = await readCovidCxr(dir);
  const { records: linked, shared } = linkRecords(records);
  assert.ok(shared > 3, `${shared} patients hold films of both tasks`);
  const byId = new Map<string, Set<string>>();
  for (const r of linked) byId.set(r.id, (byId.get(r.id) ?? new Set()).add(r.group!));
  assert.ok([...byId.values()].every((g) => g.size === 1), 'the τ1 and τ2 records of a film share a group');
  assert.equal(linkRecords([...records].reverse()).records.map((r) => r.group).reverse(), linked.map((r) => r.group), 'independent of input order');
  const { afcRoot, bxRoot } = await synthFixture();
  const separate = [...(await readAIforCOVID(afcRoot)).records, ...(await readBrixia(bxRoot)).records];
  assert.is(linkRecords(separate).shared, 0, 'AIforCOVID and BRIXIA share nothing');
});

test('joint split of a linked data set: both tasks from one patient split, every fold leak-free, LOCO over τ1 centres', async () => {
  const dir = await linkedData(tmpDir('linked-b'), 60);
  const recs = tasks((await readCovidCxr(dir)).records);
  const dirs = ensureSplits(tmpDir('linked-splits'), recs, { seed: 0, k: 3 });
  assert.ok(dirs.joint, 'shared films make a joint split');
  assert.equal(allLeaks(dirs, recs, 3, 'linked'), []);
  const cvTested = [0, 1, 2].flatMap((i) => readFold(path.join(dirs.afc!, '3', String(i)), recs.afc).test.map((r) => r.id)).sort();
  assert.equal(cvTested, recs.afc.map((r) => r.id).sort(), 'every τ1 film tested once in CV');
  assert.equal(locoCentres(dirs.afc!), ['a.example', 'b.example', 'c.example']);
  assert.equal(locoCentres(dirs.bx!), locoCentres(dirs.afc!), 'τ2 LOCO fold i holds out τ1 centre i');
  const c = readFold(path.join(dirs.bx!, 'loCo', '2'), recs.bx);
  assert.is(c.test.length, 0, 'c.example has no τ2 films: an empty τ2 test set');
  assert.is(c.train.length + c.val.length, recs.bx.length);
  // the same data split as two unrelated sets would leak: the reason for the joint split
  const apart = ensureSplits(tmpDir('linked-apart'), { afc: recs.afc, bx: [] }, { seed: 0, k: 3 });
  const apartBx = ensureSplits(tmpDir('linked-apart-bx'), { afc: [], bx: recs.bx }, { seed: 0, k: 3 });
  const cvOnly = [0, 1, 2].flatMap((i) => leaks(readFold(path.join(apart.afc!, '3', String(i)), recs.afc), readFold(path.join(apartBx.bx!, '3', String(i)), recs.bx)));
  assert.ok(cvOnly.length > 0, 'splitting the tasks apart leaks test patients across tasks');
});

test('covid-cxr: the shared subset is split jointly and no fold leaks across tasks', async () => {
  const dir = sharedData('covid-cxr', 'covid-cxr joint split');
  if (!dir) return;
  const recs = tasks((await readCovidCxr(dir, { onBadRecord: 'skip' })).records);
  const dirs = ensureSplits(tmpDir('cxr-splits'), recs, { seed: 0, k: 5 });
  assert.ok(dirs.joint);
  assert.equal(allLeaks(dirs, recs, 5, 'covid-cxr'), []);
});

test.run();
