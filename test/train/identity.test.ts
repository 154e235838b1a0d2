// A run directory holds one run: train() refuses another configuration naming the settings
// that differ (stored → requested), and recognises a copied or moved run directory (its
// splits, inits and cache compared relative to it). No training: a finished run is a
// config.json and a result.json.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { resolveTrainConfig, type TrainConfigInput } from '../../ts/train/config';
import { configDiff, settingsSpread, sweepDiff } from '../../ts/train/identity';
import { train } from '../../ts/train/train';
import { BACKBONE, tmpDir } from './_fixture';

const input = (outDir: string, o: Partial<TrainConfigInput> = {}): TrainConfigInput => ({
  backbone: BACKBONE, experiment: 'stl_afc', outDir, data: { afc: '/nonexistent/AIforCOVID' }, imageSize: 32, workers: 0, schedule: { maxEpochs: 1 }, ...o,
});

/** A finished run as train() leaves it (config.json, log line, result.json). */
function finished(dir: string, o: Partial<TrainConfigInput> = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(resolveTrainConfig(input(dir, o))));
  fs.writeFileSync(path.join(dir, 'log.jsonl'), '{"epoch":1}\n');
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify({ finished: dir, ...DONE }));
}

/** The fields of a result.json that train() returns (and checks). */
const DONE = { result: {}, history: [{ epoch: 1 }], best: { epoch: 1 }, metrics: { test: {} } };

test('another configuration is refused naming each differing setting, stored → requested', async () => {
  const dir = path.join(tmpDir('ident'), 'run');
  finished(dir);
  const e = await train(input(dir, { imageSize: 64, schedule: { maxEpochs: 5 } })).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.instance(e, MdmtError);
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `${dir} holds a run with another configuration`);
  assert.match(e.message, 'imageSize 32 → 64');
  assert.match(e.message, 'schedule.maxEpochs 1 → 5');
  assert.match(e.message, 'use another outDir or delete it');
  // a long list is cut after a few
  const many = configDiff(resolveTrainConfig(input(dir)), resolveTrainConfig(input(dir, { imageSize: 64, seed: 1, splitSeed: 2, batchSize: 3, kFolds: 4, beta: 0.2 })));
  assert.is(many.length, 7, 'evalBatchSize follows batchSize');
  const e2 = await train(input(dir, { imageSize: 64, seed: 1, splitSeed: 2, batchSize: 3, kFolds: 4, beta: 0.2 })).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.match(e2.message, 'and 3 more');
  // stl_bx trains fold `fold` whatever bxLocoFold says: an older config.json holding 0 for fold 1 is the same run
  const bx = { experiment: 'stl_bx' as const, data: { bx: '/nonexistent/BRIXIA' }, fold: 1 };
  assert.equal(configDiff(resolveTrainConfig(input(dir, { ...bx, bxLocoFold: 0 })), resolveTrainConfig(input(dir, bx))), []);
  // what does not change the run may differ
  assert.equal(await train(input(dir, { workers: 3, checkpointEvery: 2, progress: false })), { finished: dir, ...DONE, ...paths(dir) });
});

/** The files a finished run's result names: its own, wherever it was trained. */
const paths = (d: string) => ({ checkpointPath: path.join(d, 'checkpoint.safetensors'), bestPath: path.join(d, 'best.safetensors') });

test('a copied run directory is the same run: its splits are compared relative to it', async () => {
  const root = tmpDir('ident-copy');
  const dir = path.join(root, 'runs', 'afc');
  finished(dir);
  const copy = path.join(root, 'e', 'afc_copy');
  fs.cpSync(dir, copy, { recursive: true });
  assert.equal(await train(input(copy)), { finished: dir, ...DONE, ...paths(copy) }, 'the copy is recognised, and answers with its own files');
  // an explicit splitsDir outside the run is compared as it is
  const shared = path.join(root, 'splits');
  const d2 = path.join(root, 'runs', 'bx');
  finished(d2, { splitsDir: shared });
  const c2 = path.join(root, 'e', 'bx_copy');
  fs.cpSync(d2, c2, { recursive: true });
  assert.equal(await train(input(c2, { splitsDir: shared })), { finished: d2, ...DONE, ...paths(c2) });
  const e = await train(input(c2, { splitsDir: path.join(root, 'other') })).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  assert.match(e.message, `splitsDir "${shared}" → "${path.join(root, 'other')}"`);
});

test('a damaged config.json or result.json is an EDATA naming the file, not a flag error or a TypeError', async () => {
  const dir = path.join(tmpDir('ident-damaged'), 'run');
  finished(dir);
  const fails = (o: Partial<TrainConfigInput> = {}) => train(input(dir, o)).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  const config = path.join(dir, 'config.json'), result = path.join(dir, 'result.json');
  const good = fs.readFileSync(config, 'utf8');
  // was ECONFIG 'config.backbone must be a model name, got undefined': the --backbone just given blamed, exit code 2
  for (const text of ['[]', 'null', '{"imageSize":"x"}']) {
    fs.writeFileSync(config, text);
    const e = await fails();
    assert.instance(e, MdmtError);
    assert.is(e.code, 'EDATA', text);
    assert.match(e.message, `${config} is not the configuration train() stored`);
  }
  fs.writeFileSync(config, good);
  // was 'Cannot read properties of undefined (reading 'test')' from the CLI, naming nothing
  for (const [text, field] of [['{}', "'result'"], ['[1]', 'the whole object'], [JSON.stringify({ ...DONE, best: {} }), "'best.epoch'"], [JSON.stringify({ ...DONE, metrics: 1 }), "'metrics.test'"]]) {
    fs.writeFileSync(result, text);
    const e = await fails();
    assert.instance(e, MdmtError);
    assert.is(e.code, 'EDATA');
    assert.match(e.message, `${result} lacks ${field}`);
  }
});


test('a run directory that holds training but no config.json is refused naming it (was: its result returned, or its checkpoint resumed, for any settings)', async () => {
  const dir = path.join(tmpDir('ident-noconfig'), 'run');
  finished(dir);
  fs.rmSync(path.join(dir, 'config.json'));
  const fails = (o: Partial<TrainConfigInput> = {}) => train(input(dir, o)).then(() => assert.unreachable() as never, (x: unknown) => x as MdmtError);
  for (const left of ['result.json', 'checkpoint.safetensors']) {
    if (left === 'checkpoint.safetensors') {
      fs.rmSync(path.join(dir, 'result.json'));
      fs.writeFileSync(path.join(dir, 'checkpoint.safetensors'), 'not read');
    }
    const e = await fails({ imageSize: 64 });
    assert.instance(e, MdmtError, String(e));
    assert.is(e.code, 'EDATA', left);
    assert.match(e.message, `${dir} holds training (${left}`);
    assert.match(e.message, `but no config.json`);
    assert.not.ok(fs.existsSync(path.join(dir, 'config.json')), 'a config.json was written for a run it does not describe');
  }
});

test("a data set a run does not read is not a difference between runs of one sweep (the README's stl_bx run takes data: { bx })", () => {
  const cfg = (experiment: 'stl_afc' | 'stl_bx' | 'mdmt', data: TrainConfigInput['data'], extra: Partial<TrainConfigInput> = {}) =>
    resolveTrainConfig({ backbone: BACKBONE, experiment, data, outDir: path.join('/tmp/sweep', experiment),
      ...(experiment === 'mdmt' ? { init: { stlAfc: '/tmp/sweep/a.safetensors', stlBx: '/tmp/sweep/b.safetensors' } } : {}), ...extra });
  const afc = '/data/AIforCOVID', bx = '/data/BRIXIA';
  const runs = (...cs: [string, ReturnType<typeof cfg>][]) => cs.map(([name, c]) => ({ name, cfg: c }));
  assert.equal(settingsSpread(runs(['a', cfg('stl_afc', { afc, bx })], ['b', cfg('stl_bx', { bx })], ['m', cfg('mdmt', { afc, bx })])), []);
  assert.equal(sweepDiff(cfg('stl_afc', { afc }), cfg('stl_bx', { bx }, { data: { bx, bins: 'code' } })), [], 'τ2 bins do not concern stl_afc');
  // what a run does read still counts
  assert.equal(sweepDiff(cfg('stl_afc', { afc }), cfg('mdmt', { afc: '/other/AIforCOVID', bx })), ['data.afc "/data/AIforCOVID" → "/other/AIforCOVID"']);
  assert.equal(sweepDiff(cfg('stl_bx', { bx }), cfg('mdmt', { afc, bx }, { data: { afc, bx, bins: 'code' } })), ['data.bins (unset) → "code"']);
});

test.run();
