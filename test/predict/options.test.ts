// predict() options are checked before any model is loaded: an unknown key, a setting a run
// decides itself, an explanation without a folder or of a head the model lacks are ECONFIG
// errors (CLI exit 2) naming them; heatmap names never collide. No training needed.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError, show } from '../../ts/errors';
import { checkExplain } from '../../ts/predict/options';
import { heatmapNames, openPredictor, predict, type PredictOptions, type PredictorOptions } from '../../ts/predict/predict';
import { rejects } from '../data/_fixture';
import { tmpDir } from '../train/_fixture';
import { fakeRun } from './_fixture';

async function refused(images: unknown, o: unknown, re: RegExp): Promise<void> {
  const e = await rejects(() => predict(images as string[], o as PredictOptions));
  assert.instance(e, MdmtError, String(e));
  assert.is(e.code, 'ECONFIG', e.message);
  assert.match(e.message, re);
}

test('unknown keys, wrong types and weights-only settings with a run are refused before anything loads', async () => {
  await refused(['a.png'], { run: '/nowhere', explian: { dir: 'h' } }, /unknown key 'explian' \(it would be ignored\); did you mean explain\?/);
  await refused(['a.png'], { run: '/nowhere', explain: { dir: 'h', clas: 1 } }, /unknown key 'explain\.clas'/);
  await refused('a.png', { run: '/nowhere' }, /images must be an array of file paths/);
  await refused([{ mask: 'm.png' }], { run: '/nowhere' }, /images\[0\] must be a file path or \{ image, mask\?, box\? \}/);
  // a folder (the CLI walks them) failed as an unreadable image, EISDIR
  const folder = os.tmpdir();
  await refused(['a.png', folder], { run: '/nowhere' }, new RegExp(`images\\[1\\] '${folder.replace(/[/.]/g, '\\$&')}' is a folder: predict\\(\\) takes image files \\(collectImages`));
  await refused([{ image: folder }], { run: '/nowhere' }, /images\[0\] .* is a folder/);
  // a box that is not one: 'x' threw a raw TypeError (box.map), NaN scored an all-NaN image
  for (const box of ['x', [NaN, 0, 10, 10], [0, 0, -10, 10], [1, 2, 3], [0, 0, 10, Infinity]])
    await refused(['a.png', { image: 'b.png', box }], { run: '/nowhere' }, new RegExp(`images\\[1\\]\\.box must be the lung box \\[x, y, w, h\\] in image pixels: 4 finite numbers with w > 0 and h > 0, got ${show(box).replace(/[[\]]/g, '\\$&')}`));
  for (const k of ['imageSize', 'backbone', 'task', 'imagenetNormalize'] as const) {
    const v = { imageSize: 128, backbone: 'resnet18', task: 'mdmt', imagenetNormalize: false }[k];
    await refused(['a.png'], { run: '/nowhere', [k]: v }, new RegExp(`options\\.${k} is for a weights file; a run directory uses its own`));
  }
  await refused(['a.png'], { run: '/nowhere', explain: {} }, /explain must be \{ dir, task\?, classIndex\? \}/);
  await refused(['a.png'], { run: '/nowhere', workers: -1 }, /workers \(--workers\) must be an integer in \[0, 64\], got -1/);
  // train()'s bound: 100000 threads were spawned until V8 died of OOM
  await refused(['a.png'], { run: '/nowhere', workers: 100_000 }, /workers \(--workers\) must be an integer in \[0, 64\], got 100000/);
  await refused(['a.png'], { run: '/nowhere', batchSize: 0.5 }, /batchSize \(--batch-size\) must be an integer ≥ 1/);
});

test('values of the wrong type or out of range are refused naming the option and the value', async () => {
  await refused(['a.png'], { run: '/nowhere', calibrate: 'no' }, /calibrate must be true or false, got "no"/);
  await refused(['a.png'], { weights: '/nowhere.safetensors', imagenetNormalize: 'false' }, /imagenetNormalize must be true or false, got "false"/);
  await refused(['a.png'], { run: '/nowhere', device: 0 }, /device must be a device name/);
  await refused(['a.png'], { run: '/nowhere', onProgress: 'log' }, /onProgress must be a function/);
  const ex = (e: object) => ({ run: '/nowhere', explain: { dir: 'h', ...e } });
  for (const alpha of [7, NaN, -0.1, '0.5']) await refused(['a.png'], ex({ alpha }), new RegExp(`explain\\.alpha must be an opacity in \\[0, 1\\], got ${show(alpha)}`));
  for (const maxSide of [0, 1.5, 8, Infinity]) await refused(['a.png'], ex({ maxSide }), new RegExp(`explain\\.maxSide must be an integer ≥ 16 .*, got ${show(maxSide)}`));
  await refused(['a.png'], ex({ score: 'prob' }), /explain\.score must be 'logit' or 'logprob', got "prob"/);
  await refused(['a.png'], ex({ task: 'tau1' }), /explain\.task must be 'afc' \(τ1\) or 'bx' \(τ2\), got "tau1"/);
  await refused(['a.png'], ex({ layer: 4 }), /explain\.layer must be a module path/);
});

test('a model source of the wrong type is refused naming the option and the type (a number reached fs as a raw TypeError)', async () => {
  const cases: [object, RegExp][] = [
    [{ run: 5 }, /options\.run must be a run directory path \(a non-empty string\), got a number \(5\)/],
    [{ run: {} }, /options\.run must be a run directory path \(a non-empty string\), got an Object \{\}/],
    [{ run: ['runs/x'] }, /options\.run must be .*, got an array \["runs\/x"\]/],
    [{ run: '' }, /options\.run must be .*, got an empty string/],
    [{ weights: 5 }, /options\.weights must be a weights file path \(a non-empty string\), got a number \(5\)/],
    [{ weights: { file: 'w.safetensors' } }, /options\.weights must be .*, got an Object \{"file":"w\.safetensors"\}/],
    [{ weights: '/nowhere.safetensors', backbone: 18 }, /options\.backbone must be a backbone name \(a non-empty string\), got a number \(18\)/],
    [{ weights: '/nowhere.safetensors', backbone: ['resnet18'] }, /options\.backbone must be .*, got an array/],
    [{ weights: '/nowhere.safetensors', task: 1 }, /options\.task must be 'mdmt', 'stl_afc' or 'stl_bx', got a number \(1\)/],
    [{ weights: '/nowhere.safetensors', task: ['mdmt'] }, /options\.task must be .*, got an array \["mdmt"\]/],
    [{ weights: '/nowhere.safetensors', task: 'stl' }, /options\.task must be 'mdmt', 'stl_afc' or 'stl_bx', got "stl"/],
  ];
  for (const [o, re] of cases) {
    await refused(['a.png'], o, re);
    const e = await rejects(() => openPredictor(o as PredictorOptions));
    assert.is((e as MdmtError).code, 'ECONFIG', `openPredictor ${show(o)}: ${e.message}`);
    assert.match(e.message, re);
  }
});

test("an option of openPredictor() given to a call, or the reverse, is named with where it goes (batchSize: 'nearest is backbone')", async () => {
  const run = fakeRun('p-halves');
  const e = await rejects(() => openPredictor({ run, batchSize: 4 } as never));
  assert.is(e.code, 'ECONFIG');
  assert.is(e.message, "predict: options: unknown key 'batchSize' for openPredictor(): it is an option of each call, p.predict(images, { batchSize })");
  const p = openPredictor({ run });
  try {
    const c = await rejects(() => p.predict(['a.png'], { calibrate: false } as never));
    assert.is(c.code, 'ECONFIG');
    assert.is(c.message, "predict: options: unknown key 'calibrate' for a call: it is the model's, fixed when it is opened, openPredictor({ calibrate })");
    assert.match((await rejects(() => p.predict(['a.png'], { batchSiz: 4 } as never))).message, "unknown key 'batchSiz' (it would be ignored); did you mean batchSize?");
  } finally {
    p.dispose();
  }
});

test('a run that is a file or does not exist is named as such (not as a folder without config.json)', async () => {
  const run = fakeRun('p-run-file');
  const cfg = path.join(run, 'config.json'), best = path.join(run, 'best.safetensors');
  const cases: [string, string, string][] = [
    [cfg, 'ECONFIG', `predict: run (--run) '${cfg}' is a file, not a run directory: give its folder, ${run}`],
    [best, 'ECONFIG', `predict: run (--run) '${best}' is a file, not a run directory: give its folder, ${run} (or the file as weights, --weights)`],
    [path.join(run, 'nowhere'), 'EIO', `predict: run (--run) '${path.join(run, 'nowhere')}' does not exist`], // as a missing weights file
  ];
  for (const [r, code, msg] of cases) {
    const e = await rejects(() => predict(['a.png'], { run: r }));
    assert.is(e.code, code, e.message);
    assert.is(e.message, msg);
  }
});

test("a run whose config.json holds an image size train() does not take is EDATA naming the file, before the model loads", async () => {
  // 5 px was scored without a word, -3 failed inside compileInference, 100000 as a batch too big
  for (const size of [5, -3, 100_000, 2.5]) {
    const run = fakeRun('p-cfg-size');
    const cfg = path.join(run, 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ ...JSON.parse(fs.readFileSync(cfg, 'utf8')), imageSize: size }));
    const e = await rejects(() => predict(['a.png'], { run }));
    assert.is(e.code, 'EDATA', e.message);
    assert.is(e.message, `predict: ${cfg}: imageSize must be an integer in [16, 2048], got ${size} (edited by hand, or not a config.json that train() wrote)`);
  }
});

test('a run whose result.json holds an edited temperature is refused naming it, before the model loads', async () => {
  const dir = tmpDir('predict-cal');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ backbone: 'resnet18', experiment: 'stl_afc', imageSize: 32 }));
  fs.writeFileSync(path.join(dir, 'best.safetensors'), '');
  const result = { backbone: 'resnet18', experiment: 'stl_afc', protocol: 'cv', fold: 0, metrics: { acc: 1, f1: 1, gmean: 1 }, calibration: { afc: { temperature: '1.5' } } };
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify({ result }));
  const e = await rejects(() => predict(['a.png'], { run: dir }));
  assert.is(e.code, 'EDATA', e.message);
  assert.match(e.message, /result\.json: result\.calibration\.afc\.temperature is "1\.5"/);
  // named as predict's, not as report's collectResults
  assert.is((e as MdmtError).op, 'predict', e.message);
  assert.match(e.message, /^predict: /);
});

test("a run file that cannot be read (result.json, config.json, best.safetensors) is predict's error naming the file, not readJson's", async () => {
  // 'readJson: cannot read …' (a function the user never called), a TypeError for a config.json
  // of null, 'readSafetensorsMetadata: …' or a bare EISDIR for the weights
  const cases: [string, (run: string) => void, string, RegExp][] = [
    ['result.json', (r) => fs.writeFileSync(path.join(r, 'result.json'), '{'), 'EDATA', /result\.json is not JSON/],
    ['result.json', (r) => fs.writeFileSync(path.join(r, 'result.json'), ''), 'EDATA', /result\.json is not JSON/],
    ['config.json', (r) => fs.writeFileSync(path.join(r, 'config.json'), '{"backbone": '), 'EDATA', /config\.json is not JSON/],
    ['config.json', (r) => fs.writeFileSync(path.join(r, 'config.json'), 'null'), 'EDATA', /config\.json is not a JSON object/],
    ['config.json', (r) => { fs.rmSync(path.join(r, 'config.json')); fs.mkdirSync(path.join(r, 'config.json')); }, 'EIO', /config\.json is a folder/],
    ['best.safetensors', (r) => fs.writeFileSync(path.join(r, 'best.safetensors'), ''), 'EDATA', /too short/],
    ['best.safetensors', (r) => fs.writeFileSync(path.join(r, 'best.safetensors'), 'not a safetensors file'), 'EDATA', /header length/],
    ['best.safetensors', (r) => { fs.rmSync(path.join(r, 'best.safetensors')); fs.mkdirSync(path.join(r, 'best.safetensors')); }, 'EIO', /best\.safetensors is a folder/],
    // cut short: was 'does not fit a stl_afc … model: loadSafetensors: …'
    ['best.safetensors', (r) => { const f = path.join(r, 'best.safetensors'); fs.truncateSync(f, fs.statSync(f).size - 1000); }, 'EDATA', /^(?!.*does not fit a).*the file is truncated/],
  ];
  for (const [name, spoil, code, re] of cases) {
    const run = fakeRun('p-bad-file');
    spoil(run);
    const e = await rejects(() => predict(['a.png'], { run }));
    assert.instance(e, MdmtError, `${name}: ${String(e)}`);
    assert.is(e.code, code, e.message);
    assert.is((e as MdmtError).op, 'predict', e.message);
    assert.ok(e.message.startsWith(`predict: ${path.join(run, name)}`), e.message);
    assert.match(e.message, re);
  }
  // and a bare weights file (--weights) that is not one
  const dir = tmpDir('p-bad-weights');
  for (const [f, body] of [['w.safetensors', 'not a safetensors file'], ['w.onnx', 'not an onnx file']] as const) {
    const file = path.join(dir, f);
    fs.writeFileSync(file, body);
    for (const o of [{ weights: file }, { weights: file, backbone: 'shufflenet_v2_x0_5' }]) {
      const e = await rejects(() => predict(['a.png'], o));
      assert.is(e.code, 'EDATA', e.message);
      assert.is((e as MdmtError).op, 'predict', e.message);
      assert.ok(e.message.startsWith(`predict: ${file}`), e.message);
    }
  }
});

test('the explained head and class must exist in the model', () => {
  const bad = (f: () => void, re: RegExp) => assert.throws(f, (e: Error) => e instanceof MdmtError && e.code === 'ECONFIG' && re.test(e.message));
  bad(() => checkExplain({ dir: 'h', task: 'bx' }, 'stl_afc'), /the stl_afc model has only the afc head/);
  bad(() => checkExplain({ dir: 'h', task: 'afc' }, 'stl_bx'), /the stl_bx model has only the bx head/);
  bad(() => checkExplain({ dir: 'h', classIndex: 2 }, 'mdmt'), /classIndex 2 is outside 0\.\.1 \(the afc head has 2 classes\)/);
  bad(() => checkExplain({ dir: 'h', classIndex: 4 }, 'stl_bx'), /classIndex 4 is outside 0\.\.3/);
  bad(() => checkExplain({ dir: 'h', classIndex: 1.5 }, 'mdmt'), /classIndex 1\.5/);
  checkExplain({ dir: 'h', task: 'bx', classIndex: 3 }, 'mdmt');
  checkExplain({ dir: 'h', classIndex: 'predicted' }, 'stl_bx');
});

test('heatmap names are unique, case-blind, and a suffix never takes another image\'s name', () => {
  const names = heatmapNames(['a/x.png', 'b/x.dcm', 'c/x-2.png', 'd/X.png', 'e/.png'], '/h').map((f) => path.basename(f));
  assert.equal(names, ['x.png', 'x-2.png', 'x-2-2.png', 'X-3.png', 'image.png']);
  assert.is(new Set(names.map((n) => n.toLowerCase())).size, names.length);
  assert.equal(heatmapNames(['scans/a.png'], 'heatmaps'), [path.resolve('heatmaps', 'a.png')], 'absolute, as the rows\' files');
});

test.run();
