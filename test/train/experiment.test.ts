// The sweep plan: backbones × experiments × folds in an order where every STL job comes
// before the FT and MDMT jobs that start from it; FT depends on STL τ2 of the same fold,
// MDMT on STL τ1 and STL τ2 of the same fold; under LOCO every centre pairs with BRIXIA fold
// bxLocoFold; FT / MDMT alone pull in the STL jobs they need; bad folds are refused.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { resolveTrainConfig } from '../../ts/train/config';
import { experiment, planJobs, validateSweep, type ExperimentConfig } from '../../ts/train/experiment';
import { BACKBONE, tinyData, tmpDir } from './_fixture';
import { sweepConfig } from './_sweep';
import { deviceAvailable } from '../helpers';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('train/experiment');

const base = (o: Partial<ExperimentConfig> = {}): ExperimentConfig => ({ runsDir: '/tmp/plan', backbones: ['a', 'b'], base: { data: {} }, ...o });

test('every STL job precedes the jobs that need it; dependencies are the same fold', () => {
  const jobs = planJobs(base(), { cv: 5, loco: 6, bxLoco: 3 }, 0);
  const at = new Map(jobs.map((j, i) => [j.key, i]));
  assert.is(jobs.length, 2 * (5 * 4 + 6 * 3 + 1), 'CV: 4 experiments × 5 folds; LOCO: 3 × 6 folds + one STL τ2 fold, per backbone');
  assert.is(new Set(jobs.map((j) => j.key)).size, jobs.length, 'no duplicate jobs');
  for (const j of jobs) {
    for (const d of Object.values(j.deps)) assert.ok(at.get(d!)! < at.get(j.key)!, `${d} before ${j.key}`);
    if (j.experiment === 'ft') assert.equal(j.deps, { stlBx: `${j.protocol}/${j.backbone}/stl_bx/fold${j.protocol === 'cv' ? j.fold : 0}` });
    if (j.experiment === 'mdmt') {
      assert.is(j.deps.stlAfc, `${j.protocol}/${j.backbone}/stl_afc/fold${j.fold}`);
      assert.is(j.deps.stlBx, `${j.protocol}/${j.backbone}/stl_bx/fold${j.protocol === 'cv' ? j.fold : 0}`);
    }
    if (j.experiment.startsWith('stl')) assert.equal(j.deps, {});
  }
  const lastStl = Math.max(...jobs.map((j, i) => (j.experiment.startsWith('stl') ? i : -1)));
  const firstLater = jobs.findIndex((j) => !j.experiment.startsWith('stl'));
  assert.ok(lastStl < firstLater, 'all STL jobs first');
  assert.ok(jobs[0].dir.endsWith('/tmp/plan/cv/a/stl_afc/fold0'));
});

test('LOCO pairs every centre with BRIXIA fold bxLocoFold', () => {
  const jobs = planJobs(base({ protocols: ['loco'], backbones: ['a'], experiments: ['mdmt'] }), { cv: 5, loco: 4, bxLoco: 3 }, 2);
  assert.equal(jobs.map((j) => j.key), [
    'loco/a/stl_afc/fold0', 'loco/a/stl_bx/fold2', 'loco/a/stl_afc/fold1', 'loco/a/stl_afc/fold2', 'loco/a/stl_afc/fold3',
    'loco/a/mdmt/fold0', 'loco/a/mdmt/fold1', 'loco/a/mdmt/fold2', 'loco/a/mdmt/fold3',
  ], 'MDMT alone pulls in its STL jobs');
});

test('tasks split together: LOCO FT and MDMT start from STL τ2 of the same held-out centre', () => {
  const jobs = planJobs(base({ protocols: ['loco'], backbones: ['a'], experiments: ['ft', 'mdmt'] }), { cv: 5, loco: 3, bxLoco: 3, joint: true }, 0);
  for (const j of jobs.filter((x) => !x.experiment.startsWith('stl'))) assert.is(j.deps.stlBx, `loco/a/stl_bx/fold${j.fold}`, j.key);
  assert.not.throws(() => planJobs(base({ protocols: ['loco'] }), { cv: 5, loco: 6, bxLoco: 6, joint: true }, 9), 'bxLocoFold plays no part');
});

test('fold selection, limits and errors', () => {
  const j = planJobs(base({ protocols: ['cv'], backbones: ['a'], experiments: ['stl_afc'], folds: { cv: [3, 1] }, foldLimit: 1 }), { cv: 5, loco: 6, bxLoco: 3 }, 0);
  assert.equal(j.map((x) => x.key), ['cv/a/stl_afc/fold3']);
  assert.throws(() => planJobs(base({ folds: { cv: [5] } }), { cv: 5, loco: 6, bxLoco: 3 }, 0), /cv fold 5 is out of range: this sweep has cv folds 0–4$/, 'the valid folds named');
  assert.throws(() => planJobs(base({ protocols: ['loco'], folds: { loco: [9] } }), { cv: 5, loco: 6, bxLoco: 3 }, 0), /loco fold 9 is out of range: this sweep has loco folds 0–5$/);
  assert.throws(() => planJobs(base({ protocols: ['loco'] }), { cv: 5, loco: 6, bxLoco: 3 }, 3), /bxLocoFold 3/);
  assert.throws(() => planJobs(base({ protocols: ['cv'], experiments: ['stl_afc'] }), { cv: 5, loco: 6, bxLoco: 3 }, 3), /bxLocoFold 3 is out of range: the BRIXIA splits have LOCO folds 0–2$/, 'as train() refuses it');
  assert.throws(() => planJobs(base({ experiments: ['stl'] as never }), { cv: 5, loco: 6, bxLoco: 3 }, 0), /unknown experiment 'stl'/);
  assert.throws(() => planJobs(base({ backbones: [] }), { cv: 5, loco: 6, bxLoco: 3 }, 0), /no backbones/);
});

test('folds are given per protocol and foldLimit keeps at least one: anything else is ECONFIG before data are read', () => {
  const sweep = (o: object) => ({ runsDir: '/nonexistent/runs', backbones: [BACKBONE], base: {}, ...o }) as ExperimentConfig;
  const cases: [object, string][] = [
    [{ folds: [0] }, 'config.folds must be { cv?: number[], loco?: number[] } (the fold indexes of each protocol), got [0]'],
    [{ folds: [-1] }, 'config.folds must be { cv?: number[], loco?: number[] }'],
    [{ folds: { cv: [-1] } }, 'config.folds.cv must be a non-empty array of fold indexes (integers ≥ 0), got [-1]'],
    [{ folds: { loco: 2 } }, 'config.folds.loco must be a non-empty array of fold indexes (integers ≥ 0), got 2'],
    [{ folds: { cv: [] } }, 'config.folds.cv must be a non-empty array'],
    [{ folds: { cv: [1, 1] } }, 'config.folds.cv names a fold twice: [1,1]'],
    [{ foldLimit: 0 }, 'config.foldLimit must be an integer ≥ 1, got 0'],
    [{ foldLimit: 1.5 }, 'config.foldLimit must be an integer ≥ 1, got 1.5'],
    [{ protocols: ['cv'], folds: { loco: [0] } }, `config.folds.loco is given but protocols is ["cv"]: add 'loco' to protocols or drop folds.loco`],
  ];
  for (const [o, msg] of cases)
    assert.throws(() => validateSweep(sweep(o)), (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' && e.message.includes(`experiment: ${msg}`), JSON.stringify(o));
  validateSweep(sweep({ folds: { cv: [0, 2], loco: undefined }, foldLimit: 1 }));
  validateSweep(sweep({ protocols: ['loco'], folds: { loco: [1] } }));
});

test('the sweep\'s own settings of another type are ECONFIG naming them (a TypeError, letter-by-letter names, the working directory, a wait that never ended)', () => {
  const sweep = (o: object) => ({ runsDir: '/nonexistent/runs', backbones: [BACKBONE], base: {}, ...o }) as ExperimentConfig;
  const cases: [object, string][] = [
    [{ experiments: [] }, 'config.experiments must be a non-empty array of names, got []'],
    [{ protocols: [] }, 'config.protocols must be a non-empty array of names, got []'],
    [{ protocols: 'cv' }, 'config.protocols must be a non-empty array of names (write ["cv"]), got "cv"'],
    [{ backbones: BACKBONE }, `config.backbones must be a non-empty array of names (write ["${BACKBONE}"]), got "${BACKBONE}"`],
    [{ backbones: [] }, 'config.backbones must be a non-empty array of names, got []'],
    [{ runsDir: '' }, 'config.runsDir must be a directory path, got ""'],
    [{ runsDir: 5 }, 'config.runsDir must be a directory path, got 5'],
    [{ base: null }, 'config.base must be an object of train() settings (data, imageSize, ...), got null'],
    [{ log: 5 }, 'config.log must be a function, got 5'],
    [{ hooksFor: {} }, 'config.hooksFor must be a function, got {}'],
    [{ waitForOthers: 'no' }, 'config.waitForOthers must be true or false, got "no"'],
    [{ pollMs: 'x' }, 'config.pollMs must be a number of milliseconds > 0, got "x"'],
    [{ pollMs: -5 }, 'config.pollMs must be a number of milliseconds > 0, got -5'],
  ];
  for (const [o, msg] of cases)
    assert.throws(() => validateSweep(sweep(o)), (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' && e.message === `experiment: ${msg}`, JSON.stringify(o));
  validateSweep(sweep({ experiments: ['stl_afc'], protocols: ['cv'], log: () => {}, hooksFor: () => ({}), waitForOthers: false, pollMs: 50 }));
});

test('a failing job is recorded, the sweep goes on, the jobs that need it wait', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = path.join(tmpDir('fail'), 'runs');
  const bad = path.join(runs, 'cv', BACKBONE, 'stl_bx', 'fold0');
  fs.mkdirSync(bad, { recursive: true });
  fs.writeFileSync(path.join(bad, 'checkpoint.safetensors'), 'not a checkpoint'); // a corrupt checkpoint
  const sweep = { ...sweepConfig(runs, d.afc, d.bx), base: { ...sweepConfig(runs, d.afc, d.bx).base, schedule: { maxEpochs: 1, warmupEpochs: 0 } } };
  // without the config.json train() writes first, the run's settings are unknown: refused before anything trains
  const e = await experiment(sweep).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.instance(e, MdmtError);
  assert.is(e.code, 'EDATA');
  assert.match(e.message, `${bad} holds training (checkpoint.safetensors) but no config.json`);
  assert.not.ok(fs.existsSync(path.join(runs, 'cv', BACKBONE, 'stl_afc')), 'nothing was trained');
  const cfg = resolveTrainConfig({ ...sweep.base, backbone: BACKBONE, experiment: 'stl_bx', protocol: 'cv', fold: 0, outDir: bad, splitsDir: path.join(runs, 'splits'), data: { ...sweep.base.data, cacheDir: path.join(runs, '.cache') } });
  fs.writeFileSync(path.join(bad, 'config.json'), JSON.stringify(cfg));
  const said: string[] = [];
  const out = await experiment({ ...sweep, log: (m) => said.push(m) });
  assert.equal(out.trained, [`cv/${BACKBONE}/stl_afc/fold0`]);
  assert.equal(out.failed.map((f) => f.key), [`cv/${BACKBONE}/stl_bx/fold0`]);
  assert.match(out.failed[0].error, 'checkpoint.safetensors');
  assert.equal(out.pending, [`cv/${BACKBONE}/ft/fold0`, `cv/${BACKBONE}/mdmt/fold0`]);
  // the pending jobs were only counted; each now says what it waits for
  for (const k of out.pending) assert.ok(said.includes(`${k}: not run: it starts from cv/${BACKBONE}/stl_bx/fold0, which failed`), said.join('\n'));
  assert.not.ok(fs.existsSync(path.join(bad, '.lock')), 'the failed job is unlocked');
  assert.match(fs.readFileSync(path.join(runs, 'sweep.log'), 'utf8'), `failed cv/${BACKBONE}/stl_bx/fold0`);
});

test('waitForOthers false: the jobs left to another process are named with their holder, not only counted', async () => {
  if (!on) return;
  const runs = path.join(tmpDir('nowait'), 'runs');
  const job = path.join(runs, 'cv', BACKBONE, 'stl_afc', 'fold0');
  // a lock of a live process (the test runner's parent)
  fs.mkdirSync(job, { recursive: true });
  fs.writeFileSync(path.join(job, '.lock'), `${process.ppid} ${os.hostname()}`);
  const d = await tinyData();
  const said: string[] = [];
  const out = await experiment({ ...sweepConfig(runs, d.afc, d.bx), experiments: ['stl_afc'], waitForOthers: false, log: (m) => said.push(m) });
  assert.equal(out.pending, [`cv/${BACKBONE}/stl_afc/fold0`]);
  assert.ok(said.some((m) => m.startsWith(`not waited for: cv/${BACKBONE}/stl_afc/fold0, held by`) && m.includes(`by process ${process.ppid} on ${os.hostname()} (${path.join(job, '.lock')})`)), said.join('\n'));
});

test('a hook that throws after the run finished (onEnd): the job counts as trained, not failed, and the jobs that start from it run', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = path.join(tmpDir('hookthrow'), 'runs');
  const c = sweepConfig(runs, d.afc, d.bx);
  const said: string[] = [];
  const stl = `cv/${BACKBONE}/stl_bx/fold0`, ft = `cv/${BACKBONE}/ft/fold0`;
  const out = await experiment({
    ...c, experiments: ['ft'], log: (m) => said.push(m), base: { ...c.base, schedule: { maxEpochs: 1, warmupEpochs: 0 } },
    hooksFor: (j) => ({ onEnd() { if (j.key === stl) throw new Error('hook boom'); } }),
  });
  assert.equal(out.failed, []);
  assert.equal(out.trained, [stl, ft]);
  assert.equal(out.pending, []);
  assert.ok(said.includes(`${stl}: finished, then a hook threw: hook boom`), said.join('\n'));
  assert.match(fs.readFileSync(path.join(runs, 'sweep.log'), 'utf8'), `done ${stl} (then a hook threw: hook boom)`);
});

test('two experiment() calls of one process on one runs directory share the jobs as two processes do: none fails EBUSY, none trains twice', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = path.join(tmpDir('twocalls'), 'runs');
  const c = sweepConfig(runs, d.afc, d.bx);
  const sweep: ExperimentConfig = { ...c, experiments: ['stl_afc', 'stl_bx'], pollMs: 20, base: { ...c.base, schedule: { maxEpochs: 1, warmupEpochs: 0 } } };
  const [a, b] = await Promise.all([experiment(sweep), experiment(sweep)]);
  assert.equal([...a.failed, ...b.failed], []);
  assert.equal([...a.pending, ...b.pending], []);
  assert.equal([...a.trained, ...b.trained].sort(), [`cv/${BACKBONE}/stl_afc/fold0`, `cv/${BACKBONE}/stl_bx/fold0`]);
  assert.is(a.results.length, 2);
  assert.is(b.results.length, 2);
  // each call accounts for every job of the plan: what the other one trained is byOthers
  for (const [x, y] of [[a, b], [b, a]]) assert.equal([...x.trained, ...x.skipped, ...x.byOthers].sort(), [...x.trained, ...y.trained].sort());
  const starts = fs.readFileSync(path.join(runs, 'sweep.log'), 'utf8').split('\n').filter((l) => / start /.test(l));
  assert.is(starts.length, 2, starts.join('\n'));
});

test('a job finished in another folder under the runs directory (a copied or renamed run) is refused before anything trains', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = path.join(tmpDir('elsewhere'), 'runs');
  const c = sweepConfig(runs, d.afc, d.bx);
  const sweep = (experiments: ExperimentConfig['experiments']): ExperimentConfig => ({ ...c, experiments, base: { ...c.base, schedule: { maxEpochs: 1, warmupEpochs: 0 } } });
  await experiment(sweep(['stl_afc']));
  const job = path.join(runs, 'cv', BACKBONE, 'stl_afc', 'fold0');
  const key = `cv/${BACKBONE}/stl_afc/fold0`;
  const refused = async (msg: string) => {
    const e = await experiment(sweep(['stl_afc', 'stl_bx'])).then(() => undefined, (x: unknown) => x as MdmtError);
    assert.instance(e, MdmtError);
    assert.is(e!.code, 'EDATA');
    assert.ok(e!.message.includes(msg) && e!.message.endsWith('Nothing was trained'), e!.message);
    assert.not.ok(fs.existsSync(path.join(runs, 'cv', BACKBONE, 'stl_bx')), 'nothing was trained');
  };
  fs.cpSync(job, `${job}-old`, { recursive: true });
  await refused(`${key} is finished twice: ${path.join(job, 'result.json')} and ${path.join(`${job}-old`, 'result.json')}`);
  fs.rmSync(job, { recursive: true });
  await refused(`${key} is finished in ${job}-old, not in its run directory ${job}`);
});

test('a finished job is reused only when it was trained with the settings the sweep asks for', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = path.join(tmpDir('reuse'), 'runs');
  const c = sweepConfig(runs, d.afc, d.bx);
  const sweep = (o: Partial<ExperimentConfig['base']> = {}): ExperimentConfig => ({ ...c, experiments: ['stl_afc'], base: { ...c.base, schedule: { maxEpochs: 1, warmupEpochs: 0 }, ...o } });
  const job = `cv/${BACKBONE}/stl_afc/fold0`;
  assert.equal((await experiment(sweep())).trained, [job]);
  const again = await experiment(sweep({ workers: 1 })); // workers do not change what a run computes
  assert.equal([again.trained, again.skipped], [[], [job]]);
  const e = await experiment(sweep({ imageSize: 64, schedule: { maxEpochs: 5, warmupEpochs: 0 } })).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.instance(e, MdmtError);
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `${runs} holds 1 run trained with other settings (stored → requested): ${job}: imageSize 32 → 64, schedule.maxEpochs 1 → 5`);
  assert.match(e.message, 'Nothing was trained: use another runs directory, or delete those run directories');
  assert.is((JSON.parse(fs.readFileSync(path.join(runs, job, 'config.json'), 'utf8')) as { imageSize: number }).imageSize, 32, 'the run is left as it was');
});

test('a runs directory holding runs of a sweep with other settings (other folds) is refused before training: the report would average them as one sweep', async () => {
  if (!on) return;
  const d = await tinyData();
  const runs = path.join(tmpDir('mixed'), 'runs');
  const c = sweepConfig(runs, d.afc, d.bx);
  const sweep: ExperimentConfig = { ...c, experiments: ['stl_afc'], folds: { cv: [0] }, base: { ...c.base, schedule: { maxEpochs: 1, warmupEpochs: 0 } } };
  // fold 1 finished by an earlier sweep: config.json as train() writes it, a log line, a result
  const other = path.join(runs, 'cv', BACKBONE, 'stl_afc', 'fold1');
  const finished = (o: object) => {
    fs.mkdirSync(other, { recursive: true });
    const cfg = resolveTrainConfig({ ...sweep.base, ...o, backbone: BACKBONE, experiment: 'stl_afc', protocol: 'cv', fold: 1, outDir: other, splitsDir: path.join(runs, 'splits'), data: { ...sweep.base.data, cacheDir: path.join(runs, '.cache') } });
    fs.writeFileSync(path.join(other, 'config.json'), JSON.stringify(cfg));
    fs.writeFileSync(path.join(other, 'log.jsonl'), '{"epoch":1}\n');
    fs.writeFileSync(path.join(other, 'result.json'), JSON.stringify({ result: { backbone: BACKBONE, experiment: 'stl_afc', protocol: 'cv', fold: '1', metrics: { acc: 0.5, f1: 0.5, gmean: 0.5 } } }));
  };
  finished({ imageSize: 48, optim: { lr: 0.01 } });
  const e = await experiment(sweep).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.instance(e, MdmtError);
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `${runs} holds 1 run of a sweep with other settings (stored → requested): cv/${BACKBONE}/stl_afc/fold1: imageSize 48 → 32, optim.lr 0.01 → 0.001`);
  assert.match(e.message, 'Nothing was trained');
  assert.not.ok(fs.existsSync(path.join(runs, 'cv', BACKBONE, 'stl_afc', 'fold0')), 'nothing was trained');
  // the same shared settings (runtime ones aside) are one sweep: fold 0 trains beside fold 1
  finished({ workers: 1 });
  assert.equal((await experiment(sweep)).trained, [`cv/${BACKBONE}/stl_afc/fold0`]);
});

test('a job another process finishes with other settings during the sweep is refused when this one reaches it', async () => {
  if (!on) return;
  const d = await tinyData();
  const root = tmpDir('reuse-live');
  const c = sweepConfig(path.join(root, 'runs'), d.afc, d.bx);
  const bx = `cv/${BACKBONE}/stl_bx/fold0`;
  // "the other process": the same job trained with 2 epochs in a runs directory of its own
  const other = path.join(root, 'other');
  await experiment({ ...c, runsDir: other, experiments: ['stl_bx'], base: { ...c.base, schedule: { maxEpochs: 2, warmupEpochs: 0 } } });
  const e = await experiment({
    ...c, experiments: ['stl_afc', 'stl_bx'], base: { ...c.base, schedule: { maxEpochs: 1, warmupEpochs: 0 } },
    // while this sweep trains its first job, the other's finished stl_bx lands in its place
    hooksFor: (j) => ({ onStart: () => { if (j.experiment === 'stl_afc') fs.cpSync(path.join(other, bx), path.join(c.runsDir, bx), { recursive: true }); } }),
  }).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.instance(e, MdmtError);
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `${bx} was finished by another process with other settings (stored → requested: schedule.maxEpochs 2 → 1)`);
  assert.match(e.message, 'use one runs directory per sweep');
});

test('an unknown backbone is a configuration error naming it', async () => {
  if (!on) return;
  const d = await tinyData();
  const c = sweepConfig(path.join(tmpDir('badbb'), 'runs'), d.afc, d.bx);
  try {
    await experiment({ ...c, backbones: ['resnet_nope'] });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /experiment: unknown backbone 'resnet_nope'.*nothing was trained/);
  }
});

test.run();
