/**
 * train() configs with the right keys but the wrong types, as JSON files and scripts write
 * them: each is an ECONFIG naming the field and the value (they were silently defaults or
 * truthy strings); an Adam β of 1 (a zero bias correction) is refused; a run directory whose
 * only file is the config.json of a run that failed before training takes a corrected
 * config, and one whose config.json is the user's own is refused; a disk cache or splits directory that is a file is named. No training.
 */
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Loader } from '../../ts/data/loader';
import type { DataRecord } from '../../ts/data/records';
import { MdmtError } from '../../ts/errors';
import { resolveTrainConfig, type TrainConfigInput } from '../../ts/train/config';
import { ensureSplits } from '../../ts/train/data';
import { train } from '../../ts/train/train';
import { tmpDir } from './_fixture';

// data is required at run time by every experiment, so the type requires it too
// @ts-expect-error data is missing
const noData: TrainConfigInput = { backbone: 'resnet18', experiment: 'stl_afc', outDir: '/tmp/x' };
void noData;

const base = (): TrainConfigInput => ({ backbone: 'shufflenet_v2_x0_5', experiment: 'stl_afc', outDir: path.join(tmpDir('cfgt'), 'run'), data: { afc: '/data/AIforCOVID' } });

function refused(over: Record<string, unknown>, re: RegExp): void {
  const c = { ...base(), ...over } as TrainConfigInput;
  assert.throws(() => resolveTrainConfig(c), (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' && re.test(e.message), `${JSON.stringify(over)} → ${re}`);
}

test('wrong types are named, not taken as defaults or as truthy strings', () => {
  refused({ optim: 0.01 }, /config\.optim must be an object of settings, got 0\.01/);
  refused({ schedule: null }, /config\.schedule must be an object of settings, got null/);
  refused({ schedule: [300] }, /config\.schedule must be an object/);
  refused({ mixing: 0.5 }, /config\.mixing must be an object of settings, got 0\.5/);
  refused({ imagenetNormalize: 'false' }, /config\.imagenetNormalize must be true or false, got "false"/);
  refused({ keepCheckpoint: 'no' }, /config\.keepCheckpoint must be true or false/);
  refused({ progress: 1 }, /config\.progress must be true or false, got 1/);
  refused({ device: 5 }, /config\.device must be cpu, cuda or cuda:N, got 5/);
  refused({ splitsDir: 5 }, /config\.splitsDir must be a path, got 5/);
  refused({ init: { stlAfc: 5 } }, /config\.init\.stlAfc must be a path, got 5/);
  // the interval named is the one checked: 1 was refused as "must be < 1" after 2 was refused as "in [0, 1]"
  refused({ optim: { beta1: 1 } }, /config\.optim\.beta1 must be a number in \[0, 1\), got 1/);
  refused({ optim: { beta2: 2 } }, /config\.optim\.beta2 must be a number in \[0, 1\), got 2/);
  refused({ schedule: { plateauFactor: 1 } }, /config\.schedule\.plateauFactor must be a number in \(0, 1\), got 1/);
  refused({ schedule: { plateauFactor: 0 } }, /config\.schedule\.plateauFactor must be a number in \(0, 1\), got 0/);
  // what stays legal
  const c = resolveTrainConfig({ ...base(), imagenetNormalize: false, keepCheckpoint: false, progress: true, optim: { beta1: 0 }, init: {} });
  assert.equal([c.imagenetNormalize, c.keepCheckpoint, c.progress, c.optim.beta1], [false, false, true, 0]);
});

test('null is refused naming the setting, not read as its default ({ imageSize: null } trained at 256 px)', () => {
  for (const k of ['imageSize', 'batchSize', 'seed', 'splitSeed', 'kFolds', 'fold', 'beta', 'workers', 'eager', 'afcLoss'])
    refused({ [k]: null }, new RegExp(`config\\.${k} is null: leave it out for the default`));
  assert.is(resolveTrainConfig(base()).imageSize, 256, 'left out, it is the default');
});

test('data and init settings that would be ignored or misread are refused', () => {
  // a string was iterated ('12' read releases 1 and 2)
  refused({ data: { afc: '/d', afcReleases: '1' } }, /config\.data\.afcReleases must be a list of distinct AIforCOVID releases \(1, 2, 3\), e\.g\. \[1, 2\], got "1"/);
  refused({ data: { afc: '/d', afcReleases: '12' } }, /config\.data\.afcReleases .* got "12"/);
  refused({ data: { afc: '/d', afcReleases: [4] } }, /config\.data\.afcReleases .* got \[4\]/);
  refused({ data: { afc: '/d', afcReleases: [] } }, /config\.data\.afcReleases .* got \[\]/);
  refused({ data: { afc: '/d', afcReleases: [1, 1] } }, /config\.data\.afcReleases must be a list of distinct/);
  assert.equal(resolveTrainConfig({ ...base(), data: { afc: '/d', afcReleases: [1, 3] } }).data.afcReleases, [1, 3]);
  // covid-cxr provides both tasks: roots beside it were ignored
  refused({ data: { afc: '/d', covidCxr: '/c' } }, /config\.data\.covidCxr is given with data\.afc: covid-cxr provides both tasks/);
  refused({ experiment: 'stl_bx', data: { bx: '/d', covidCxr: '/c' } }, /config\.data\.covidCxr is given with data\.bx/);
  // an init the experiment does not start from was ignored
  refused({ init: { stlAfc: '/nonexistent.safetensors' } }, /config\.init\.stlAfc is "\/nonexistent\.safetensors" but experiment 'stl_afc' does not use it/);
  refused({ experiment: 'stl_bx', data: { bx: '/d' }, init: { stlBx: '/x' } }, /config\.init\.stlBx .* experiment 'stl_bx' does not use it/);
  refused({ experiment: 'ft', init: { stlAfc: '/a', stlBx: '/b' } }, /config\.init\.stlAfc .* experiment 'ft' does not use it \(ft starts from init\.stlBx alone\)/);
  resolveTrainConfig({ ...base(), experiment: 'mdmt', data: { afc: '/a', bx: '/b' }, init: { stlAfc: '/a', stlBx: '/b' } });
});

test('a run that failed before its first epoch does not lock its directory to that config', async () => {
  const out = path.join(tmpDir('cfgt-fail'), 'run');
  const first = { ...base(), outDir: out, data: { afc: path.join(out, '..', 'missing-a') } };
  await train(first).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /missing-a/));
  assert.ok(fs.existsSync(path.join(out, 'config.json')), 'the failed run wrote its config');
  // the corrected command reaches the data (and fails there, on another missing folder), instead of "another configuration"
  const second = { ...first, data: { afc: path.join(out, '..', 'missing-b') } };
  await train(second).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /missing-b/));
  // once a run has a log line, its directory keeps its config
  fs.writeFileSync(path.join(out, 'log.jsonl'), '{"epoch":1}\n');
  await train(first).then(() => assert.unreachable(), (e: Error) => assert.match(e.message, /holds a run with another configuration/));
});

test("a config.json of the user's in the run directory is refused, not overwritten with the run's", async () => {
  const out = tmpDir('cfgt-own');
  // `mdmt train --config exp/config.json --out exp`: the settings file was replaced by the run's
  const own = `${JSON.stringify({ backbone: 'shufflenet_v2_x0_5', experiment: 'stl_afc', imageSize: 32 })}\n`;
  for (const text of [own, 'not json\n']) {
    fs.writeFileSync(path.join(out, 'config.json'), text);
    await train({ ...base(), outDir: out, data: { afc: path.join(out, 'missing') } }).then(() => assert.unreachable(),
      (e: MdmtError) => { assert.is(e.code, 'ECONFIG'); assert.match(e.message, `${path.join(out, 'config.json')} is not a run's configuration`); });
    assert.is(fs.readFileSync(path.join(out, 'config.json'), 'utf8'), text, 'the file is as it was');
  }
});

test('a disk cache that is a file is an ECONFIG naming the setting (it was a raw EEXIST at the first image)', () => {
  const file = path.join(tmpDir('cfgt-cache'), 'cache');
  fs.writeFileSync(file, '');
  assert.throws(() => new Loader([], { cache: 'disk', cacheDir: file }), (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' && /cacheDir .* is a file, not a directory/.test(e.message));
});

test('a splits directory that is a file is an ECONFIG naming the setting (it was a raw EEXIST)', () => {
  const file = path.join(tmpDir('cfgt-splits'), 'splits');
  fs.writeFileSync(file, '');
  const rec = (i: number): DataRecord => ({ id: `P_${i}`, task: 'AFC', source: 'x', image: `${i}.dcm`, center: 'A', label: i % 2, labelName: i % 2 ? 'SEVERE' : 'MILD', where: 'x' });
  assert.throws(() => ensureSplits(file, { afc: [0, 1, 2, 3, 4, 5].map(rec), bx: [] }, { seed: 0, k: 3 }),
    (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' && /config\.splitsDir \(--splits-dir\) '.*splits' is a file, not a directory/.test(e.message));
});

test.run();
