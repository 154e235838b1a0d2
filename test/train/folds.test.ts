// What a run's folds must be before it trains: bxLocoFold one of the BRIXIA LOCO folds (it was
// accepted and recorded whatever its value), stl_bx's fold given by `fold` alone, and
// experiment() still giving stl_bx jobs their own fold; a trained task needs two classes in its
// training part.
import * as fs from 'fs';
import nodeFs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { DataRecord } from '../../ts/data/records';
import { MdmtError } from '../../ts/errors';
import { withFlags } from '../../ts/cli/options';
import { foldRange, resolveTrainConfig, type TrainConfigInput } from '../../ts/train/config';
import { checkFoldsLeft, ensureSplits, loadRecords, locoCentres, prepareFold } from '../../ts/train/data';
import { experiment } from '../../ts/train/experiment';
import { train } from '../../ts/train/train';
import { deviceAvailable } from '../helpers';
import { BACKBONE, tinyBase, tinyData, tmpDir } from './_fixture';

const on = deviceAvailable('train/folds');

const refused = (p: Promise<unknown>) => p.then(() => assert.unreachable() as never, (e: unknown) => e as MdmtError);

test('bxLocoFold is checked against the BRIXIA LOCO folds once the splits are known', async () => {
  if (!on) return;
  const base = await tinyBase();
  const dir = tmpDir('bxloco');
  for (const protocol of ['cv', 'loco'] as const) {
    const e = await refused(train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', protocol, outDir: path.join(dir, protocol), splitsDir: path.join(dir, 'splits'), bxLocoFold: 99 }));
    assert.instance(e, MdmtError);
    assert.is(e.code, 'ECONFIG', e.message);
    assert.match(e.message, /config\.bxLocoFold is 99 but there are 3 BRIXIA LOCO folds \(0\.\.2, .*BX\/loCo\)/);
    assert.not.ok(fs.existsSync(path.join(dir, protocol, 'log.jsonl')), 'nothing trained');
  }
  // a LOCO fold past the held-out centres: the range is known once the splits are
  const e = await refused(train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', protocol: 'loco', fold: 99, outDir: path.join(dir, 'loco99'), splitsDir: path.join(dir, 'splits') }));
  assert.is(e.code, 'ECONFIG', e.message);
  assert.match(e.message, /config\.fold 99 is out of range: this run has loco folds 0–\d+ \(.*AFC\/loCo\)$/);
});

test("stl_bx trains fold `fold`: bxLocoFold follows it, and another one given is refused", async () => {
  const ok = { backbone: BACKBONE, experiment: 'stl_bx' as const, outDir: tmpDir('stlbx'), data: { bx: '/nonexistent' } };
  assert.is(resolveTrainConfig({ ...ok, fold: 2 }).bxLocoFold, 2, 'config.json says which BRIXIA fold it trained');
  assert.is(resolveTrainConfig({ ...ok, experiment: 'stl_afc', fold: 2, data: { afc: '/x' } }).bxLocoFold, 0);
  const e = await refused(train({ ...ok, fold: 1, bxLocoFold: 0 }));
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, "config.bxLocoFold is 0 but experiment 'stl_bx' trains BRIXIA fold config.fold (1): the fold of stl_bx is `fold`");
  assert.not.ok(fs.existsSync(path.join(ok.outDir, 'config.json')), 'refused before anything is written');
});

test('a CV fold out of range is refused naming the folds the run has (and, from the CLI, the flags)', () => {
  const ok = { backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: tmpDir('fold-range'), data: { afc: '/nonexistent' } };
  const msg = (o: object) => {
    try {
      resolveTrainConfig({ ...ok, ...o });
    } catch (e) {
      assert.is((e as MdmtError).code, 'ECONFIG');
      return (e as MdmtError).message;
    }
    return assert.unreachable('accepted') as never;
  };
  assert.is(msg({ fold: 7 }), 'train: config.fold 7 is out of range: this run has folds 0–4 (5-fold CV, config.kFolds)');
  assert.is(msg({ fold: 3, kFolds: 3 }), 'train: config.fold 3 is out of range: this run has folds 0–2 (3-fold CV, config.kFolds)');
  assert.is(withFlags(msg({ fold: 7 })), 'train: config.fold (--fold) 7 is out of range: this run has folds 0–4 (5-fold CV, config.kFolds (--k-folds))');
  assert.is(foldRange(1, 'loco '), 'loco fold 0 only');
  assert.is(foldRange(0), 'no folds');
});

test('a sweep given bxLocoFold still trains its CV stl_bx jobs on their own folds', async () => {
  if (!on) return;
  const base = await tinyBase();
  const runs = path.join(tmpDir('sweep-bx'), 'runs');
  const out = await experiment({
    runsDir: runs, backbones: [BACKBONE], experiments: ['stl_bx'], protocols: ['cv'], folds: { cv: [1] },
    base: { ...base, bxLocoFold: 0, schedule: { maxEpochs: 1, warmupEpochs: 0 } },
  });
  assert.equal([out.trained, out.failed], [[`cv/${BACKBONE}/stl_bx/fold1`], []]);
  const cfg = JSON.parse(fs.readFileSync(path.join(runs, 'cv', BACKBONE, 'stl_bx', 'fold1', 'config.json'), 'utf8')) as { fold: number; bxLocoFold: number };
  assert.equal([cfg.fold, cfg.bxLocoFold], [1, 1]);
});

test('a trained task whose training part has one class is EDATA naming task, fold, part and class counts', () => {
  const dir = tmpDir('oneclass');
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: i % 2 ? 'A' : 'B', label: 0, labelName: 'MILD', where: 'x' });
  const cfg = resolveTrainConfig({ backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(dir, 'run'), data: { afc: '/d' }, kFolds: 3 });
  const recs = { afc: [...Array(30).keys()].map(rec), bx: [] };
  assert.throws(() => prepareFold(cfg, recs), (e: Error) => e instanceof MdmtError && e.code === 'EDATA' &&
    /AFC fold 0: the train part has fewer than 2 classes \(MILD 1\d, SEVERE 0\)/.test(e.message), 'all MILD');
  // two classes train
  const two = { afc: recs.afc.map((r, i) => (i % 3 ? r : { ...r, label: 1, labelName: 'SEVERE' })), bx: [] };
  assert.ok(prepareFold({ ...cfg, splitsDir: path.join(dir, 'splits2') }, two).afc!.train.length > 0);
});

test('splits made with other settings are refused naming the settings that differ', () => {
  const dir = path.join(tmpDir('splitmeta'), 'splits');
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: i % 2 ? 'A' : 'B', label: i % 3 ? 0 : 1, labelName: i % 3 ? 'MILD' : 'SEVERE', where: 'x' });
  const recs = { afc: [...Array(30).keys()].map(rec), bx: [] };
  ensureSplits(dir, recs, { seed: 0, k: 3 });
  assert.throws(() => ensureSplits(dir, recs, { seed: 0, k: 4 }), (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' &&
    e.message.includes(`${path.join(dir, 'AFC')} holds splits of other data or settings (stored → now: kFolds (--k-folds) 3 → 4): use another splitsDir`), 'k');
  assert.throws(() => ensureSplits(dir, { afc: recs.afc.slice(1), bx: [] }, { seed: 1, k: 3 }),
    /stored → now: splitSeed \(--split-seed\) 0 → 1, records 30 → 29, the records' ids and labels\)/, 'seed and data');
  ensureSplits(dir, recs, { seed: 0, k: 3 });
});

test('a split folder of format version 2 is used as it is; new folders are version 3', () => {
  const dir = path.join(tmpDir('splitv2'), 'splits');
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: i % 2 ? 'A' : 'B', label: i % 3 ? 0 : 1, labelName: i % 3 ? 'MILD' : 'SEVERE', where: 'x' });
  const recs = { afc: [...Array(30).keys()].map(rec), bx: [] };
  ensureSplits(dir, recs, { seed: 0, k: 3 });
  const meta = path.join(dir, 'AFC', 'meta.json');
  const m = JSON.parse(fs.readFileSync(meta, 'utf8')) as { version: number };
  assert.is(m.version, 3);
  fs.writeFileSync(meta, JSON.stringify({ ...m, version: 2 }));
  assert.is(ensureSplits(dir, recs, { seed: 0, k: 3 }).afc, path.join(dir, 'AFC'), 'an older folder keeps serving its runs');
  fs.writeFileSync(meta, JSON.stringify({ ...m, version: 1 }));
  assert.throws(() => ensureSplits(dir, recs, { seed: 0, k: 3 }), /split format version 1 → 3/);
});

test('split files that cannot be written (a full disk) leave no half-written folder and name it; a damaged meta.json is named', () => {
  const dir = path.join(tmpDir('splitfail'), 'splits');
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: i % 2 ? 'A' : 'B', label: i % 3 ? 0 : 1, labelName: i % 3 ? 'MILD' : 'SEVERE', where: 'x' });
  const recs = { afc: [...Array(30).keys()].map(rec), bx: [] };
  const real = nodeFs.writeFileSync;
  let calls = 0;
  (nodeFs as unknown as { writeFileSync: unknown }).writeFileSync = (...a: Parameters<typeof real>) => {
    if (++calls === 4) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return real(...a);
  };
  try {
    // was the bare 'ENOSPC: no space left on device, write', and a .AFC.tmp-* folder kept for good
    assert.throws(() => ensureSplits(dir, recs, { seed: 0, k: 3 }), (e: Error) => e instanceof MdmtError && e.code === 'EIO' &&
      e.message.includes(`cannot write the split files of AFC in ${dir}: ENOSPC`));
  } finally {
    (nodeFs as unknown as { writeFileSync: unknown }).writeFileSync = real;
  }
  assert.equal(fs.readdirSync(dir), [], 'no temporary folder left');
  ensureSplits(dir, recs, { seed: 0, k: 3 });
  const meta = path.join(dir, 'AFC', 'meta.json');
  fs.writeFileSync(meta, '{"version": 2, "se');
  assert.throws(() => ensureSplits(dir, recs, { seed: 0, k: 3 }), (e: Error) => e instanceof MdmtError && e.message.includes(meta), 'was a bare JSON error');
});

test('a test part of one class is said (a warning through the log), not refused', () => {
  const dir = tmpDir('oneclass-test');
  const sev = (i: number) => (i === 1 || i === 3 ? 1 : 0); // two SEVERE records of one centre: some fold tests none
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: i % 2 ? 'A' : 'B', label: sev(i), labelName: sev(i) ? 'SEVERE' : 'MILD', where: 'x' });
  const recs = { afc: [...Array(30).keys()].map(rec), bx: [] };
  let warned = 0;
  for (const fold of [0, 1, 2]) {
    const cfg = resolveTrainConfig({ backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(dir, `run${fold}`), splitsDir: path.join(dir, 'splits'), data: { afc: '/d' }, kFolds: 3, fold });
    const logs: string[] = [];
    let f: ReturnType<typeof prepareFold>;
    try {
      f = prepareFold(cfg, recs, (m) => logs.push(m));
    } catch (e) {
      assert.match((e as Error).message, 'the train part has fewer than 2 classes', `fold ${fold}`);
      continue;
    }
    const severe = f.afc!.test.filter((r) => r.label === 1).length;
    if (severe) assert.equal(logs, [], `fold ${fold}: two classes in its test part`);
    else {
      warned++;
      assert.equal(logs, [`warning: AFC fold ${fold}: the test part holds one class only (MILD ${f.afc!.test.length}, SEVERE 0): its F1 and G-mean say little (a model answering that class always scores ACC 100, GM 0)`]);
    }
  }
  assert.ok(warned >= 1, 'some fold has a test part without SEVERE');
});

test('checkFoldsLeft: unreadable images left out may not take a class from the train part or empty a part', () => {
  const dir = tmpDir('left');
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: i % 2 ? 'A' : 'B', label: i % 3 ? 0 : 1, labelName: i % 3 ? 'MILD' : 'SEVERE', where: 'x' });
  const cfg = resolveTrainConfig({ backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(dir, 'run'), data: { afc: '/d' }, kFolds: 3 });
  const f = prepareFold(cfg, { afc: [...Array(30).keys()].map(rec), bx: [] });
  const out = (part: 'train' | 'val' | 'test', keep: (r: DataRecord) => boolean) => f.afc![part].filter((r) => !keep(r)).map((r) => ({ task: 'AFC' as const, part, id: r.id }));
  checkFoldsLeft(f, out('train', (r) => r.id !== f.afc!.train[0].id)); // one image less: fine
  assert.throws(() => checkFoldsLeft(f, out('train', (r) => r.label === 0)), (e: Error) => e instanceof MdmtError && e.code === 'EDATA' &&
    /AFC fold 0: the train part has fewer than 2 classes \(MILD \d+, SEVERE 0, once \d+ unreadable images? (was|were) left out\)/.test(e.message), 'every SEVERE training image left out');
  assert.throws(() => checkFoldsLeft(f, out('val', () => false)), /AFC fold 0 has an empty val set \(once \d+ unreadable images were left out\)/, 'the whole val part left out');
});

test('a data set from one centre splits for CV; only a LOCO run is refused, naming the task and its centre', async () => {
  // every run failed, CV included, with a bare "locoFolds: leave-one-centre-out needs at least 2 centres, got 1":
  // the split files of both protocols are written at once, and a BRIXIA of one manufacturer group stopped stl_afc too
  const d = await tinyData();
  const recs = await loadRecords({ afc: d.afc, bx: d.bx });
  const one = { afc: recs.afc.map((r) => ({ ...r, center: 'A' })), bx: recs.bx.map((r) => ({ ...r, center: 'AGFA+FUJIFILM' })) };
  const dir = tmpDir('one-centre');
  const init = { stlAfc: path.join(dir, 'a.safetensors'), stlBx: path.join(dir, 'b.safetensors') };
  const cfg = (o: Partial<TrainConfigInput>) => resolveTrainConfig({ backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(dir, 'run'), splitsDir: path.join(dir, 'splits'), data: { afc: d.afc, bx: d.bx }, kFolds: 3, ...o });
  for (const experiment of ['stl_afc', 'stl_bx'] as const) assert.ok(prepareFold(cfg({ experiment }), one)[experiment === 'stl_afc' ? 'afc' : 'bx']!.train.length > 0, `${experiment} cv`);
  assert.ok(prepareFold(cfg({ experiment: 'mdmt', init }), one).bx!.train.length > 0, 'mdmt cv');
  const cases = [['stl_afc', 'AFC', "'A'"], ['stl_bx', 'BX', "'AGFA\\+FUJIFILM'"], ['mdmt', 'AFC', "'A'"]] as const;
  for (const [experiment, task, centre] of cases) {
    assert.throws(() => prepareFold(cfg({ experiment, protocol: 'loco', ...(experiment === 'mdmt' ? { init } : {}) }), one), (e: Error) => e instanceof MdmtError && e.code === 'EDATA' &&
      new RegExp(`leave-one-centre-out needs at least 2 centres, but every ${task} record comes from one \\(${centre}\\).*protocol 'cv'`).test(e.message), `${experiment} loco: ${task}`);
  }
  // τ1 from one centre, τ2 from three: a LOCO mdmt run names τ1, a LOCO stl_bx run trains
  const afcOnly = { afc: one.afc, bx: recs.bx };
  const dir2 = path.join(dir, 'splits2');
  assert.ok(prepareFold(cfg({ experiment: 'stl_bx', protocol: 'loco', splitsDir: dir2 }), afcOnly).bx!.test.length > 0);
  assert.throws(() => prepareFold(cfg({ experiment: 'mdmt', protocol: 'loco', init, splitsDir: dir2 }), afcOnly), /every AFC record comes from one \('A'\)/);
  // tasks split together (films with both labels, as covid-cxr) hold out τ1's centres: a LOCO stl_bx run names τ1's one centre
  const joint = { afc: one.afc, bx: one.afc.map((r, i) => ({ ...r, task: 'BX' as const, center: `host${i % 3}`, label: i % 4, labelName: String(i % 4), global: [2, 6, 10, 15][i % 4] })) };
  assert.throws(() => prepareFold(cfg({ experiment: 'stl_bx', protocol: 'loco', splitsDir: path.join(dir, 'splits3') }), joint),
    (e: Error) => e instanceof MdmtError && e.code === 'EDATA' && /every AFC record comes from one \('A'\)/.test(e.message), 'joint');
});

test('a sweep on a BRIXIA of one centre trains its CV jobs and refuses LOCO before anything trains', async () => {
  if (!on) return;
  const base = await tinyBase();
  const root = tmpDir('one-centre-sweep');
  const bx = path.join(root, 'BRIXIA');
  fs.cpSync((await tinyData()).bx, bx, { recursive: true });
  const csv = path.join(bx, 'metadata_global_v2.csv');
  const lines = fs.readFileSync(csv, 'utf8').split('\n');
  const m = lines[0].split(';').indexOf('Manufacturer');
  fs.writeFileSync(csv, lines.map((l, i) => (i === 0 || !l ? l : l.split(';').map((c, j) => (j === m ? 'AGFA' : c)).join(';'))).join('\n'));
  const sweep = { backbones: [BACKBONE], experiments: ['stl_bx' as const], base: { ...base, data: { bx }, schedule: { maxEpochs: 1, warmupEpochs: 0 } } };
  const out = await experiment({ ...sweep, runsDir: path.join(root, 'cv'), protocols: ['cv'], folds: { cv: [0] } });
  assert.equal([out.trained, out.failed], [[`cv/${BACKBONE}/stl_bx/fold0`], []]);
  const e = await refused(experiment({ ...sweep, runsDir: path.join(root, 'both') }));
  assert.is(e.code, 'EDATA', e.message);
  assert.match(e.message, /leave-one-centre-out needs at least 2 centres, but every BX record comes from one \('AGFA\+FUJIFILM'\).*protocols \['cv'\]/);
  assert.not.ok(fs.existsSync(path.join(root, 'both', 'cv')), 'nothing trained');
});

test('LOCO fold names stay with their folds when a centre holds a line break (Alt+Enter in a sheet cell)', () => {
  // loCo/centers has a line per fold: 'Centro\nB' took two lines, and every later fold was named
  // after the centre before it (fold 3 tested centre D and was reported as 'B')
  const dir = tmpDir('centre-newline');
  const names = ['A', 'C', 'Centro\nB', 'D', 'E\r\nF', 'G'];
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: names[i % 6], label: i % 3 ? 0 : 1, labelName: i % 3 ? 'MILD' : 'SEVERE', where: 'x' });
  const recs = { afc: [...Array(60).keys()].map(rec), bx: [] };
  const afc = ensureSplits(path.join(dir, 'splits'), recs, { seed: 0, k: 3 }).afc!;
  assert.equal(locoCentres(afc), [...names].sort());
  for (let fold = 0; fold < 6; fold++) {
    const cfg = resolveTrainConfig({ backbone: BACKBONE, experiment: 'stl_afc', protocol: 'loco', fold, outDir: path.join(dir, `run${fold}`), splitsDir: path.join(dir, 'splits'), data: { afc: '/d' }, kFolds: 3 });
    const f = prepareFold(cfg, recs);
    assert.equal([...new Set(f.afc!.test.map((r) => r.center))], [f.name], `fold ${fold} is named after the centre it tests`);
  }
});

test.run();
