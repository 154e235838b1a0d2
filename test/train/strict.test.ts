/**
 * Issue 16, classes 3, 4, 5 and 7 through the library: unknown config keys are errors naming
 * the nearest valid key, NaN prints as NaN, an outDir that is a file is an MdmtError, a sweep
 * checks every backbone before training, a run that trains no batch fails, non-finite state
 * is caught once per epoch and named, a run directory has one trainer at a time, and weight
 * files that cannot start a run are named before anything trains.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { drawAugment } from '../../ts/data/augment';
import { MdmtError, show } from '../../ts/errors';
import { STLModel } from '../../ts/models/mdmt';
import { native } from '../../ts/native/binding';
import { Generator } from '../../ts/random';
import { tensor, type Tensor } from '../../ts/tensor';
import { resolveTrainConfig } from '../../ts/train/config';
import * as evaluate from '../../ts/train/evaluate';
import { experiment } from '../../ts/train/experiment';
import { firstNonFinite, nonFiniteProbe } from '../../ts/train/finite';
import { readSafetensorsMetadata, saveSafetensors } from '../../ts/io/safetensors';
import { readTensors, saveWeights } from '../../ts/train/checkpoint';
import { buildTaskNet } from '../../ts/train/models';
import { train } from '../../ts/train/train';
import { loadRecords } from '../../ts/train/data';
import { synth } from '../../ts/data/synth';
import { deviceAvailable } from '../helpers';
import { BACKBONE, tinyBase, tmpDir } from './_fixture';

const on = deviceAvailable('train-strict');

async function code(fn: () => unknown): Promise<MdmtError> {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, MdmtError);
    return e as MdmtError;
  }
  throw new Error('expected an MdmtError');
}

test('unknown keys in train() and experiment() configs are ECONFIG errors naming the key and the nearest valid one', async () => {
  const ok = { backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: tmpDir('keys'), data: { afc: '/d' } };
  const cases: [object, RegExp][] = [
    [{ lr: 0.01 }, /config: unknown key 'lr' \(it would be ignored\); did you mean optim\.lr\?/],
    [{ epochs: 1 }, /unknown key 'epochs'.*did you mean schedule\.maxEpochs\?/],
    [{ batch_size: 8 }, /unknown key 'batch_size'.*did you mean batchSize\?/],
    [{ schedule: { maxEpoch: 3 } }, /unknown key 'schedule\.maxEpoch'.*did you mean schedule\.maxEpochs\?/],
    [{ data: { afc: '/d', afcRoot: '/x' } }, /unknown key 'data\.afcRoot'.*nearest is data\.afc/],
    [{ augment: { disable: { flp: true } } }, /unknown key 'augment\.disable\.flp'.*did you mean augment\.disable\.flip\?/],
    // a near spelling on another level is no suggestion: augment.foo is not a misspelt fold
    [{ augment: { foo: 1 } }, /unknown key 'augment\.foo' \(it would be ignored\); nearest is augment\.\w+ \(valid here: p, /],
    // a 3-letter key 2 edits from a 3-letter name shares one letter with it: no "did you mean log?"
    [{ foo: 1 }, /unknown key 'foo' \(it would be ignored\); nearest is \w+ \(valid here: /],
    [{ sede: 1 }, /unknown key 'sede'.*did you mean seed\?/],
  ];
  for (const [extra, re] of cases) {
    const e = await code(() => resolveTrainConfig({ ...ok, ...extra } as never));
    assert.is(e.code, 'ECONFIG');
    assert.match(e.message, re);
  }
  // every key the schema declares is accepted
  resolveTrainConfig({ ...ok, optim: { lr: 0.01, beta1: 0.9 }, schedule: { maxEpochs: 2 }, mixing: { afcFraction: 0.5 }, augment: { p: 0.3, disable: { flip: true } }, init: {} });
  const runs = tmpDir('sweep-keys');
  const e = await code(() => experiment({ runsDir: runs, backbones: [BACKBONE], base: { data: { afc: '/d' }, fold: 1 } as never }));
  assert.match(e.message, /experiment: config: unknown key 'base\.fold'.*did you mean folds\?/);
  const e2 = await code(() => experiment({ runsDir: runs, backbones: [BACKBONE], base: {}, foldlimit: 1 } as never));
  assert.match(e2.message, /unknown key 'foldlimit'.*did you mean foldLimit\?/);
  // a backbone name is checked once, with the nearest registered name, wherever it is given
  const b = await code(() => resolveTrainConfig({ ...ok, backbone: 'resnt18' }));
  assert.match(b.message, /^train: config\.backbone 'resnt18' is not a registered model \(did you mean resnet18\?\); registered: .*shufflenet_v2_x0_5/);
});

test('mixing.afcFraction is in (0, 1) and leaves each task a sample per batch: 0.01 of 8 trained no τ1 sample, 1 was refused as outside (0, 1]', async () => {
  const ok = { backbone: BACKBONE, experiment: 'mdmt' as const, outDir: tmpDir('mix'), data: { afc: '/a', bx: '/b' }, init: { stlAfc: 'a', stlBx: 'b' }, batchSize: 8 };
  const msg = async (afcFraction: unknown, batchSize = 8) => (await code(() => resolveTrainConfig({ ...ok, batchSize, mixing: { afcFraction } } as never))).message;
  for (const f of [0, 1, 1.5, NaN, '0.5'])
    assert.is(await msg(f), `train: config.mixing.afcFraction must be a number in (0, 1) (the τ1 share of each training batch), got ${show(f)}`);
  assert.is(await msg(0.01), 'train: config.mixing.afcFraction 0.01 of a batch of 8 rounds to 0 τ1 and 8 τ2 samples: the τ1 head would never train; give a fraction from 1/8 to 7/8 (0.125 to 0.875), or a larger batch');
  assert.is(await msg(0.99), 'train: config.mixing.afcFraction 0.99 of a batch of 8 rounds to 8 τ1 and 0 τ2 samples: the τ2 head would never train; give a fraction from 1/8 to 7/8 (0.125 to 0.875), or a larger batch');
  for (const f of [0.125, 0.875]) resolveTrainConfig({ ...ok, mixing: { afcFraction: f } });
  resolveTrainConfig({ ...ok, batchSize: 128, mixing: { afcFraction: 0.01 } });
});

test('train() refuses a hook it would never call and a hook that is not a function', async () => {
  const ok = { backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: tmpDir('hooks'), data: { afc: '/d' } };
  const e = await code(() => train(ok, { onEpochEnd: () => undefined } as never));
  assert.is(e.code, 'EINVAL');
  assert.match(e.message, /^train: unknown hooks key 'onEpochEnd' \(it would be ignored\); did you mean onEpoch\?; valid: onStart, onBatch, onEpoch, onLog, onEnd/);
  assert.match((await code(() => train(ok, { onLog: 'stderr' } as never))).message, /^train: hook 'onLog' must be a function, got "stderr"/);
  // a class may keep state in fields and have helpers; a method named almost like a hook is a typo
  class Recorder { losses: number[] = []; format(x: number) { return x.toFixed(2); } onEpoch() { this.losses.push(0); } }
  class Typo extends Recorder { onEpochs() { return undefined; } }
  const notTrained = await code(() => train({ ...ok, outDir: tmpDir('hooks-class') }, new Recorder()));
  assert.not.match(notTrained.message, /hook/, 'a Recorder is accepted (train then fails on the missing data)');
  assert.match((await code(() => train(ok, new Typo()))).message, /^train: hooks method 'onEpochs' is not a hook and would never be called; did you mean onEpoch\?/);
  assert.not.ok(fs.existsSync(path.join(ok.outDir, 'config.json')), 'nothing was written');
});

test('NaN and infinities print as themselves in messages, not as null', async () => {
  assert.equal([show(NaN), show([1, -Infinity]), show({ a: NaN }), show('x')], ['NaN', '[1,-Infinity]', '{"a":NaN}', '"x"']);
  const ok = { backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: tmpDir('nan'), data: { afc: '/d' } };
  assert.match((await code(() => resolveTrainConfig({ ...ok, optim: { lr: NaN } }))).message, /config\.optim\.lr must be a number in \(0, 10\], got NaN/);
  assert.match((await code(() => resolveTrainConfig({ ...ok, seed: Infinity }))).message, /config\.seed .* got Infinity/);
});

test('augmentation settings are checked: NaN, out-of-range or mistyped values are ECONFIG, not NaN images', async () => {
  const ok = { backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: tmpDir('aug'), data: { afc: '/d' } };
  const cases: [unknown, RegExp][] = [
    [{ strength: NaN }, /config\.augment\.strength must be a number in \[0, 1\], got NaN/],
    [{ strength: 'x' }, /config\.augment\.strength must be a number in \[0, 1\], got "x"/],
    [{ strength: -3 }, /config\.augment\.strength .* got -3/],
    [{ p: 5 }, /config\.augment\.p must be a number in \[0, 1\], got 5/],
    [{ disable: { flip: 'no' } }, /config\.augment\.disable\.flip must be true or false, got "no"/],
    [{ disable: true }, /config\.augment\.disable must be an object of settings, got true/],
    [[1], /config\.augment must be a boolean or augmentation options .* got \[1\]/],
    [0, /config\.augment must be a boolean or augmentation options .* got 0/],
    [null, /config\.augment is null: leave it out for the default, or give a value/],
  ];
  for (const [augment, re] of cases) {
    const e = await code(() => resolveTrainConfig({ ...ok, augment } as never));
    assert.is(e.code, 'ECONFIG');
    assert.match(e.message, re);
  }
  assert.equal(resolveTrainConfig({ ...ok, augment: { p: 0, strength: 1, disable: { flip: true } } }).augment, { p: 0, strength: 1, disable: { flip: true } });
  // the data module's own entry point refuses the same values (it used to clamp NaN to NaN)
  const draw = (o: object) => drawAugment(32, { seed: 0, key: 'a', epoch: 0 }, o);
  assert.match((await code(() => draw({ strength: NaN }))).message, /augment: strength must be a number in \[0, 1\], got NaN/);
  assert.match((await code(() => draw({ p: -0.5 }))).message, /augment: p must be a number in \[0, 1\], got -0\.5/);
});

test('an outDir or runsDir that is a file is an MdmtError naming the setting', async () => {
  const f = path.join(tmpDir('file'), 'taken');
  fs.writeFileSync(f, 'x');
  const base = await tinyBase();
  const e = await code(() => train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: f }));
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `config.outDir '${f}' is a file, not a directory`);
  const e2 = await code(() => train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(f, 'run') }));
  assert.match(e2.message, `lies under '${f}', which is a file`);
  const e3 = await code(() => experiment({ runsDir: f, backbones: [BACKBONE], base }));
  assert.match(e3.message, `config.runsDir '${f}' is a file`);
});

test('an imageSize a backbone shrinks to a 0×0 map is refused before anything is read or trained', async () => {
  const out = path.join(tmpDir('small'), 'run');
  const e = await code(() => train({ backbone: 'densenet121', experiment: 'stl_afc', outDir: out, data: { afc: '/nonexistent' }, imageSize: 16 }));
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, 'config.imageSize must be at least 29 for densenet121 (smaller inputs shrink to a 0×0 map inside it), got 16');
  const e2 = await code(() => experiment({ runsDir: out, backbones: [BACKBONE, 'densenet169'], base: { data: { afc: '/nonexistent' }, imageSize: 28 } }));
  assert.is(e2.code, 'ECONFIG');
  assert.match(e2.message, 'config.imageSize must be at least 29 for densenet169');
  assert.not.ok(fs.existsSync(out), 'nothing was written');
});

test('unreadable images are all named before the first epoch; in skip mode result.json lists them', async () => {
  if (!on) return;
  const root = tmpDir('bad-images');
  const { afcRoot } = await synth(root, { seed: 4, nAfc: 40, nBx: 0, size: 32 });
  const dcms = (fs.readdirSync(afcRoot, { recursive: true }) as string[]).filter((f) => f.endsWith('.dcm')).sort().map((f) => path.join(afcRoot, f));
  for (const f of [dcms[2], dcms[29]]) fs.writeFileSync(f, fs.readFileSync(f).subarray(0, 300));
  const base = { ...(await tinyBase()), data: { afc: afcRoot }, schedule: { maxEpochs: 1, warmupEpochs: 0 } };
  const out = path.join(root, 'strict');
  const e = await code(() => train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: out }));
  assert.is(e.code, 'EDATA');
  assert.match(e.message, /^train: 2 images of the split cannot be read \(nothing was trained\): .*\((train|val|test)\): .*; .*\((train|val|test)\): .*; fix or remove them, or leave them out with data.onBadRecord: 'skip' \(--skip-bad of mdmt train, experiment and demo\)$/);
  assert.is(fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8'), '', 'no epoch trained');
  const r = await train({ ...base, data: { afc: afcRoot, onBadRecord: 'skip' }, backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(root, 'lenient') });
  assert.is(r.result.skipped?.length, 2);
  assert.ok(r.result.skipped!.every((b) => dcms.includes(b.file) && /truncated|corrupt|cannot/.test(b.error)), JSON.stringify(r.result.skipped));
  // what is left must still train and test: a test part left empty (or a class lost) is refused, not reported as NaN (or ACC 100)
  const testIds = fs.readFileSync(path.join(out, 'split', 'AFC', 'test.txt'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(' ')[0]);
  for (const f of dcms.filter((d) => testIds.includes(path.basename(d, '.dcm')))) fs.writeFileSync(f, 'not a DICOM');
  const e2 = await code(() => train({ ...base, data: { afc: afcRoot, onBadRecord: 'skip' }, backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(root, 'emptied') }));
  assert.is(e2.code, 'EDATA');
  assert.match(e2.message, /AFC fold 0 has an empty test set \(once \d+ unreadable images were left out\)/);
});

test('skip mode names each row the readers leave out, not only their count', async () => {
  const root = tmpDir('skip-rows');
  const { afcRoot } = await synth(root, { seed: 7, nAfc: 12, nBx: 0, size: 32 });
  const gone = path.join(afcRoot, 'imgs', (fs.readdirSync(path.join(afcRoot, 'imgs')) as string[]).filter((x) => x.endsWith('.dcm')).sort()[0]);
  fs.rmSync(gone);
  const logs: string[] = [];
  const recs = await loadRecords({ afc: afcRoot, onBadRecord: 'skip' }, { afc: true, bx: false }, (m) => logs.push(m));
  assert.is(recs.afc.length, 11);
  assert.match(logs[0], '1 bad rows skipped');
  assert.ok(logs.some((m) => m.startsWith('skipped ') && m.includes(gone)), logs.join('\n'));
});

test('a data root that is the sheet itself, another data set\'s folder or missing is named with its setting and flag', async () => {
  const root = tmpDir('data-roots');
  const { afcRoot, bxRoot } = await synth(root, { seed: 7, nAfc: 12, nBx: 8, size: 32 });
  const sheet = path.join(afcRoot, 'AIforCOVID.xlsx');
  let e = await code(() => loadRecords({ afc: sheet }));
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, `config.data.afc (--data-afc) '${sheet}' is a file, not a folder`);
  assert.match(e.message, `('${afcRoot}')`, 'names the folder it is in');
  e = await code(() => loadRecords({ bx: afcRoot }));
  assert.is(e.code, 'EIO');
  assert.match(e.message, `config.data.bx (--data-bx) '${afcRoot}' holds no metadata_global_v2.csv`);
  e = await code(() => loadRecords({ afc: bxRoot }));
  assert.match(e.message, `config.data.afc (--data-afc) '${bxRoot}' holds no AIforCOVID.xlsx or AIforCOVID_r2.xlsx or AIforCOVID_r3.xlsx`);
  e = await code(() => loadRecords({ covidCxr: path.join(root, 'nowhere') }));
  assert.match(e.message, `config.data.covidCxr (--covid-cxr) '${path.join(root, 'nowhere')}' does not exist`);
  const csv = path.join(root, 'labels.csv');
  fs.writeFileSync(csv, 'file,source_url\n');
  e = await code(() => loadRecords({ covidCxr: csv }));
  assert.match(e.message, 'is a file, not a folder: give the data set\'s folder, the one that holds labels.csv and images/');
  assert.is((await loadRecords({ afc: afcRoot, bx: bxRoot })).bx.length, 8, 'the right folders read as before');
});

test('a run resumed after the unreadable images changed is refused: its epochs would mix two data sets', async () => {
  if (!on) return;
  const root = tmpDir('bad-resume');
  const { afcRoot } = await synth(root, { seed: 6, nAfc: 30, nBx: 0, size: 32 });
  const f = path.join(afcRoot, 'imgs', (fs.readdirSync(path.join(afcRoot, 'imgs')) as string[]).filter((x) => x.endsWith('.dcm')).sort()[3]);
  const good = fs.readFileSync(f);
  fs.writeFileSync(f, good.subarray(0, 250));
  const cfg = { ...(await tinyBase()), data: { afc: afcRoot, onBadRecord: 'skip' as const }, schedule: { maxEpochs: 2, warmupEpochs: 0 }, backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: path.join(root, 'run') };
  // interrupted after epoch 1 (its checkpoint is written before onEpoch runs)
  await code(() => train(cfg, { onEpoch: () => { throw new MdmtError('EINVAL', 'test', 'stop after epoch 1'); } }));
  assert.ok(fs.existsSync(path.join(cfg.outDir, 'checkpoint.safetensors')));
  fs.writeFileSync(f, good);
  const e = await code(() => train(cfg));
  assert.is(e.code, 'EDATA');
  assert.match(e.message, new RegExp(`the images left out changed since epoch 1 was checkpointed \\(AFC:(train|val|test):${path.basename(f, '.dcm')} readable again\\): resuming would train one run on two data sets`));
  fs.writeFileSync(f, good.subarray(0, 250));
  assert.is((await train(cfg)).result.skipped?.length, 1, 'the same images left out: it resumes');
});

test('a sweep names every unknown backbone before reading data or training anything', async () => {
  const runs = path.join(tmpDir('sweep-bb'), 'runs');
  const e = await code(() => experiment({ runsDir: runs, backbones: [BACKBONE, 'resnet19', 'densnet121'], base: { data: { afc: '/nonexistent' } } }));
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, /unknown backbones 'resnet19' \(did you mean resnet18\?\), 'densnet121' \(did you mean densenet121\?\); nothing was trained/);
  assert.not.ok(fs.existsSync(runs), 'nothing was written');
});

test('batch size 1, whose batches would all be skipped, is refused before any image is read', async () => {
  const out = path.join(tmpDir('nobatch'), 'run');
  // every batch would be a single sample, which BatchNorm cannot train on (train() skips it):
  // refused with the config, not after the split's images are read
  const e = await code(async () => train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc', outDir: out, batchSize: 1, evalBatchSize: 8 }));
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, /config\.batchSize is 1: every training batch would hold one sample, which BatchNorm cannot train on .*use 2 or more/);
  assert.not.ok(fs.existsSync(out), 'nothing written');
  assert.is(resolveTrainConfig({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc', outDir: out, batchSize: 2, evalBatchSize: 1 }).evalBatchSize, 1, 'evaluation batches of 1 are fine');
});

test('the host scan finds a NaN or inf wherever it lies, and names the first tensor holding one', () => {
  // sizes around the scan's 8 lanes and 4096-float blocks; the bad value first, at a block's
  // end and start, last (in the tail) and somewhere random
  const rng = new Generator(7);
  const sizes = [1, 7, 8, 9, 4095, 4096, 4097, 3 * 4096 + 5];
  for (const n of sizes) {
    const base = rng.fillNormal(new Float32Array(n), 0, 1e30); // large finite values: x·0 stays 0
    if (n > 3) base.set([-0, 1e-45], 1); // -0 and a denormal are finite
    const ok = tensor(base, [n]);
    assert.is(native().nonFinite([ok.id]), -1, `n=${n}: all finite`);
    for (const pos of new Set([0, Math.min(n - 1, 4095), Math.min(n - 1, 4096), n - 1, rng.int(n)]))
      for (const bad of [NaN, Infinity, -Infinity]) {
        const v = base.slice();
        v[pos] = bad;
        const t = tensor(v, [n]);
        assert.is(native().nonFinite([ok.id, t.id, ok.id]), 1, `n=${n}: ${bad} at ${pos}`);
        assert.is(native().nonFinite([t.id, t.id]), 0, `n=${n}: ${bad} at ${pos}, first`);
        t.dispose();
      }
    ok.dispose();
  }
  assert.is(native().nonFinite([]), -1, 'no tensors');
});

test('non-finite state is found once per epoch and named (EDIVERGED)', async () => {
  // the host scan (CPU tensors) and the device reduction (other devices), both on the CPU here
  for (const where of ['auto', 'device'] as const) {
    const probe = (ts: Tensor[]) => nonFiniteProbe(ts, where);
    assert.is(probe([tensor([1, 2], [2]), tensor([3], [1])]), 0, where);
    assert.ok(Number.isNaN(probe([tensor([1, 2], [2]), tensor([Infinity], [1])])), `${where}: inf is caught (0·inf = NaN)`);
    assert.ok(Number.isNaN(probe([tensor([5, 6, 7, 8], [4]), tensor([1, -Infinity], [2])])), `${where}: -inf in a tensor after a larger one`);
    assert.ok(Number.isNaN(probe([tensor([0, 0, NaN], [3]), tensor([1], [1])])), `${where}: NaN in the first tensor`);
    assert.ok(Number.isNaN(probe([tensor([3.4e38, -3.4e38], [2])])) === false, `${where}: large finite values do not overflow the probe`);
    assert.is(probe([tensor([], [0]), tensor([1], [1])]), 0, `${where}: an empty tensor`);
  }
  assert.equal(firstNonFinite([['a', tensor([1], [1])], ['b', tensor([NaN, 1, -Infinity], [3])]]), { name: 'b', nan: 1, inf: 1, size: 3 });
  if (!on) return;
  // after epoch 1's evaluation, a BatchNorm running variance goes NaN: training-mode batches do
  // not read it, so every loss stays finite; the end-of-epoch check must still name it
  const real = evaluate.evaluateModel;
  let calls = 0;
  (evaluate as { evaluateModel: typeof real }).evaluateModel = async (net, ...rest) => {
    const r = await real(net, ...rest);
    if (++calls === 1) {
      const [name, t] = net.module.namedBuffers().find(([k]) => k.endsWith('running_var'))!;
      native().upload(t.id, new Float32Array(t.size).fill(NaN));
      poisoned = name;
    }
    return r;
  };
  let poisoned = '';
  try {
    const e = await code(async () => train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc', outDir: tmpDir('diverge') }));
    assert.is(e.code, 'EDIVERGED');
    assert.match(e.message, `training diverged in epoch 2`);
    assert.match(e.message, `'${poisoned}' holds`);
    assert.match(e.message, /\d+ NaN of \d+ values/);
  } finally {
    (evaluate as { evaluateModel: typeof real }).evaluateModel = real;
  }
});

test('finite weights whose eval-mode logits overflow: EDIVERGED naming the pass, not argmax(NaN) metrics', async () => {
  if (!on) return;
  // lr 10: the weights stay finite (every loss and the per-epoch state check pass), but in eval
  // mode the lagging BatchNorm running statistics let the activations overflow float32; every
  // test logit was NaN and argmax made each sample class 0: result.json said ACC 80, exit 0
  const out = tmpDir('eval-overflow');
  const e = await code(async () => train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc', outDir: out, optim: { lr: 10 } }));
  assert.is(e.code, 'EDIVERGED');
  assert.match(e.message, /^train: the validation pass of epoch 1 \(lr 10\) gave non-finite τ1 logits for \d+ of \d+ samples \(P_\d+ \[NaN,NaN\]/);
  assert.match(e.message, 'lower the learning rate');
  assert.not.ok(fs.existsSync(path.join(out, 'result.json')), 'no result from NaN logits');
  assert.not.ok(fs.existsSync(path.join(out, 'best.safetensors')), 'no best model either');
});

test('one trainer per run directory: a live holder of .lock is refused, a dead one is taken over', async () => {
  const base = await tinyBase();
  const out = tmpDir('locked');
  // this test process is alive: a lock in its name held "by another process" is what a
  // second trainer sees (train() treats only its own pid as its own)
  const other = process.ppid;
  fs.writeFileSync(path.join(out, '.lock'), `${other} ${os.hostname()}`);
  const e = await code(() => train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: out }));
  assert.is(e.code, 'EBUSY');
  assert.match(e.message, `${out} is being trained by process ${other}`);
  assert.ok(fs.existsSync(path.join(out, '.lock')), "the holder's lock is left alone");
  assert.not.ok(fs.existsSync(path.join(out, 'config.json')), 'nothing written');
});

test('weight files that cannot start a run are named first: NaN weights (FT), two architectures (MDMT)', async () => {
  if (!on) return;
  const dir = tmpDir('init');
  const base = { ...(await tinyBase()), splitsDir: path.join(dir, 'splits') };
  base.schedule = { ...base.schedule, maxEpochs: 1, warmupEpochs: 0 };
  // a real STL τ2 best.safetensors (with its provenance), then the same file with one tensor NaN
  const stl = await train({ ...base, backbone: BACKBONE, experiment: 'stl_bx', outDir: path.join(dir, 'stl_bx') });
  const sd = readTensors(stl.bestPath);
  const [name, w] = [...sd].find(([k]) => k.startsWith('backbone.') && k.endsWith('weight'))!;
  native().upload(w.id, new Float32Array(w.size).fill(NaN));
  const nanFile = path.join(dir, 'nan.safetensors');
  saveSafetensors(nanFile, sd, readSafetensorsMetadata(stl.bestPath));
  for (const t of sd.values()) t.dispose();
  const out = path.join(dir, 'ft');
  const e = await code(() => train({ ...base, backbone: BACKBONE, experiment: 'ft', outDir: out, init: { stlBx: nanFile } }));
  assert.is(e.code, 'EDATA');
  assert.match(e.message, `config.init.stlBx '${nanFile}': tensor '${name}' holds ${w.size} NaN of ${w.size} values`);
  assert.not.ok(fs.existsSync(path.join(out, 'log.jsonl')) && fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').length > 0, 'no epoch trained');
  // two architectures: buildTaskNet names both files (train() refuses them earlier by their provenance)
  const a = path.join(dir, 'a.safetensors'), b = path.join(dir, 'b.safetensors');
  saveWeights(a, new STLModel('afc', BACKBONE));
  saveWeights(b, new STLModel('bx', 'shufflenet_v2_x1_0'));
  const cfg = resolveTrainConfig({ ...base, backbone: BACKBONE, experiment: 'mdmt', outDir: path.join(dir, 'mdmt'), init: { stlAfc: a, stlBx: b } });
  const e2 = await code(() => buildTaskNet(cfg));
  assert.match(e2.message, `config.init.stlAfc '${a}' and config.init.stlBx '${b}' cannot be averaged into a ${BACKBONE} backbone`);
  const e3 = await code(() => buildTaskNet({ ...cfg, experiment: 'ft' }));
  assert.match(e3.message, `config.init.stlBx '${b}' does not fit a ${BACKBONE} backbone`);
});

test.run();
