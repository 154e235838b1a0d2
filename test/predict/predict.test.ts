// predict(): on tiny trained runs (STL τ1, STL τ2, MDMT on the synthetic fixture) it reproduces
// each run's own stored test-set probabilities, calibrated and raw, for the same files; a
// weights file with its backbone gives the same numbers; unreadable images are reported in
// their rows while the others are scored (CLI exit 1); `mdmt predict --explain` on the shared
// covid-cxr images plus a DICOM sample writes one row and one heatmap per image.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { predictionsCsv, runPredict } from '../../ts/cli/predict';
import { exitCodeOf } from '../../ts/cli/main';
import sharp from 'sharp';
import { writeDicom } from '../../ts/data/dicomwrite';
import * as image from '../../ts/data/image';
import { parseCsv } from '../../ts/data/sheets';
import { softmaxT } from '../../ts/predict/calibration';
import { collectImages } from '../../ts/predict/inputs';
import { openPredictor, predict, type PredictInput } from '../../ts/predict/predict';
import type { RunResult } from '../../ts/report/types';
import { liveTensorCount } from '../../ts/tensor';
import { loadRecords } from '../../ts/train/data';
import { train } from '../../ts/train/train';
import { rejects, sharedData } from '../data/_fixture';
import { deviceAvailable } from '../helpers';
import { BACKBONE, tinyBase, tinyData, tmpDir } from '../train/_fixture';

const on = deviceAvailable('predict/predict');
let runs: { afc: string; bx: string; mdmt: string } | undefined;

/** The three tiny runs, trained once. */
async function tinyRuns(): Promise<{ afc: string; bx: string; mdmt: string }> {
  if (runs) return runs;
  const dir = tmpDir('predict');
  const base = await tinyBase();
  const afc = await train({ ...base, backbone: BACKBONE, experiment: 'stl_afc', outDir: path.join(dir, 'afc') });
  const bx = await train({ ...base, backbone: BACKBONE, experiment: 'stl_bx', outDir: path.join(dir, 'bx') });
  await train({ ...base, backbone: BACKBONE, experiment: 'mdmt', outDir: path.join(dir, 'mdmt'), init: { stlAfc: afc.bestPath, stlBx: bx.bestPath } });
  return (runs = { afc: path.join(dir, 'afc'), bx: path.join(dir, 'bx'), mdmt: path.join(dir, 'mdmt') });
}

const result = (dir: string) => (JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8')) as { result: RunResult }).result;

/** The stored test files of one head as predict() inputs (with their lung masks). */
async function testInputs(r: RunResult, head: 'afc' | 'bx'): Promise<PredictInput[]> {
  const d = await tinyData();
  const recs = await loadRecords({ afc: d.afc, bx: d.bx });
  const byId = new Map((head === 'afc' ? recs.afc : recs.bx).map((x) => [x.id, x]));
  return r.predictions![head]!.ids.map((id) => ({ image: byId.get(id)!.image, mask: byId.get(id)!.mask, box: byId.get(id)!.box }));
}

test('predict reproduces each run\'s own test-set probabilities for the same files (calibrated and raw)', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const live = liveTensorCount();
  for (const [dir, heads] of [[dirs.mdmt, ['afc', 'bx']], [dirs.afc, ['afc']], [dirs.bx, ['bx']]] as const) {
    const r = result(dir);
    assert.ok(r.calibration && r.predictions, `${dir}: result.json holds calibration and test outputs`);
    for (const head of heads) {
      const stored = r.predictions![head]!;
      const T = r.calibration![head]!.temperature;
      assert.ok(T > 0 && Number.isFinite(T));
      const inputs = await testInputs(r, head);
      for (const calibrate of [true, false]) {
        const p = await predict(inputs, { run: dir, calibrate, batchSize: 5 });
        assert.is(p.failed, 0);
        assert.is(p.model.calibrated, calibrate);
        let worst = 0;
        p.rows.forEach((row, i) => {
          const want = softmaxT(stored.logits[i], calibrate ? T : 1);
          const got = head === 'afc' ? [1 - row.pSevere!, row.pSevere!] : row.bxProbs!;
          for (let c = 0; c < want.length; c++) worst = Math.max(worst, Math.abs(got[c] - want[c]));
          if (head === 'afc') assert.is(row.afcClass, want[1] > want[0] ? 'SEVERE' : 'MILD');
          else assert.is(row.bxClass, want.indexOf(Math.max(...want)));
        });
        assert.ok(worst < 2e-5, `${path.basename(dir)} ${head} calibrate=${calibrate}: max |Δp| = ${worst}`);
      }
      // a run reports the heads it has, and only those
      const one = (await predict(inputs.slice(0, 1), { run: dir })).rows[0];
      assert.is(one.pSevere !== undefined, dir !== dirs.bx, 'τ1 output');
      assert.is(one.bxProbs !== undefined, dir !== dirs.afc, 'τ2 output');
    }
  }
  // these tiny validation splits keep T = 1 (the check of ts/predict/calibration.ts): a run whose
  // check applied its fit must be scored at that T, so give the MDMT run one
  const file = path.join(dirs.mdmt, 'result.json'), text = fs.readFileSync(file, 'utf8');
  try {
    const j = JSON.parse(text) as { result: RunResult };
    j.result.calibration!.afc!.temperature = 1.7;
    fs.writeFileSync(file, JSON.stringify(j));
    const stored = j.result.predictions!.afc!;
    const p = await predict((await testInputs(j.result, 'afc')).slice(0, 3), { run: dirs.mdmt });
    p.rows.forEach((row, i) => assert.ok(Math.abs(row.pSevere! - softmaxT(stored.logits[i], 1.7)[1]) < 2e-5, `row ${i} at T = 1.7`));
  } finally {
    fs.writeFileSync(file, text);
  }
  assert.is(liveTensorCount(), live, 'predict frees every tensor');
});

test('openPredictor: the model loaded once for many calls, the rows of predict(); a disposed or busy predictor is refused', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const inputs = (await testInputs(result(dirs.mdmt), 'afc')).slice(0, 7);
  const live = liveTensorCount();
  const want = (await predict(inputs, { run: dirs.mdmt, batchSize: 3 })).rows;
  const same = (rows: typeof want, from: number, label: string) => rows.forEach((r, i) => {
    const w = want[from + i];
    assert.is(r.file, w.file, label);
    assert.ok(Math.abs(r.pSevere! - w.pSevere!) < 1e-6 && r.bxProbs!.every((v, c) => Math.abs(v - w.bxProbs![c]) < 1e-6), `${label}: row ${i}`);
  });
  const p = openPredictor({ run: dirs.mdmt });
  try {
    assert.is(p.model.backbone, BACKBONE);
    for (const batchSize of [3, 3, 5]) same((await p.predict(inputs, { batchSize })).rows, 0, `batch ${batchSize}`);
    const [a, b] = await Promise.all([p.predict(inputs.slice(0, 2)), p.predict(inputs.slice(2, 5), { batchSize: 2 })]);
    same(a.rows, 0, 'overlapping call 1');
    same(b.rows, 2, 'overlapping call 2');
    const running = p.predict(inputs);
    assert.throws(() => p.dispose(), (e: Error & { code?: string }) => e.code === 'EBUSY' && /1 predict call is still running/.test(e.message));
    await running;
    // each half takes its own options: the model's at open, the images' per call
    const e = await rejects(() => p.predict(inputs, { run: dirs.afc } as never));
    assert.is(e.code, 'ECONFIG');
    assert.match(e.message, "unknown key 'run'");
    assert.throws(() => openPredictor({ run: dirs.mdmt, batchSize: 4 } as never), /unknown key 'batchSize'/);
  } finally {
    p.dispose();
  }
  p.dispose(); // again: nothing to do
  assert.ok(p.disposed);
  const d = await rejects(() => p.predict(inputs));
  assert.is(d.code, 'EDISPOSED');
  assert.match(d.message, 'was disposed: open another with openPredictor()');
  assert.is(liveTensorCount(), live, 'the predictor frees every tensor');
});

test('a weights file with its backbone gives the same (uncalibrated) numbers; bad model sources are named', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const inputs = (await testInputs(result(dirs.mdmt), 'afc')).slice(0, 4);
  const a = await predict(inputs, { run: dirs.mdmt, calibrate: false });
  const b = await predict(inputs, { weights: path.join(dirs.mdmt, 'best.safetensors'), backbone: BACKBONE, task: 'mdmt', imageSize: 32 });
  b.rows.forEach((row, i) => {
    assert.ok(Math.abs(row.pSevere! - a.rows[i].pSevere!) < 1e-6);
    assert.ok(row.bxProbs!.every((v, c) => Math.abs(v - a.rows[i].bxProbs![c]) < 1e-6));
  });
  assert.match((await rejects(() => predict(inputs, { run: path.dirname(dirs.mdmt) }))).message, 'not a run directory');
  assert.match((await rejects(() => predict(inputs, { weights: path.join(dirs.mdmt, 'best.safetensors'), backbone: 'resnet18', task: 'mdmt' }))).message, `holds ${BACKBONE} weights (its metadata says so), not resnet18`);
  assert.match((await rejects(() => predict(inputs, { weights: path.join(dirs.afc, 'best.safetensors'), backbone: BACKBONE, task: 'mdmt' }))).message, `does not fit a mdmt ${BACKBONE} model`);
  assert.match((await rejects(() => predict(inputs, { weights: path.join(dirs.mdmt, 'best.safetensors'), backbone: 'nope', task: 'mdmt' }))).message, 'not a registered model');
  // the CLI infers the task from the weights' keys
  const { result: r } = await runPredict(inputs.map((x) => x.image), { weights: path.join(dirs.afc, 'best.safetensors'), backbone: BACKBONE, imageSize: 32, progress: false, out: path.join(tmpDir('pw'), 'p.json') }, () => {});
  assert.is(r.model.task, 'stl_afc');
  const usage = await runPredict(['x.png'], { run: dirs.afc, weights: 'w' }).catch((e) => exitCodeOf(e, () => {}));
  assert.is(usage, 2, 'both --run and --weights: a usage error');
});

test('unreadable images are reported in their rows and at the end; the others are scored (exit 1)', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const good = (await testInputs(result(dirs.afc), 'afc')).slice(0, 3).map((x) => x.image);
  const dir = tmpDir('predict-bad');
  fs.writeFileSync(path.join(dir, 'garbage.dcm'), Buffer.from('DICM but not really a DICOM file at all'.repeat(10)));
  fs.writeFileSync(path.join(dir, 'empty.png'), Buffer.alloc(0));
  const missing = path.join(dir, 'missing.png');
  const files = [good[0], path.join(dir, 'garbage.dcm'), good[1], missing, path.join(dir, 'empty.png'), good[2]];
  const out = path.join(dir, 'preds.csv');
  let log = '';
  const { result: r, code } = await runPredict(files, { run: dirs.afc, out, progress: false, batchSize: 2 }, (m) => (log += m));
  assert.is(code, 1);
  assert.is(r.failed, 3);
  assert.equal(r.rows.map((x) => x.ok), [true, false, true, false, false, true], 'rows in input order');
  for (const bad of r.rows.filter((x) => !x.ok)) {
    assert.match(bad.error!, path.basename(bad.file), 'the error names the file');
    assert.match(log, bad.file, 'listed at the end');
  }
  const rows = parseCsv(fs.readFileSync(out, 'utf8'));
  assert.is(rows.length, files.length + 1, 'header + one row per image');
  assert.equal(rows[0].slice(0, 4), ['file', 'status', 'p_severe', 'afc_class']);
  assert.ok(!rows[0].includes('p_bx0'), 'an STL τ1 run has no τ2 columns');
  assert.is(rows[2][1], 'error');
  assert.ok(predictionsCsv(r).startsWith('file,status'));
  assert.equal(collectImages([dir]).map((x) => path.basename(x.image)), ['empty.png', 'garbage.dcm']);
});

/** Runs the mdmt CLI (compiled shim, or the TS entry through tsx). */
function mdmt(...args: string[]): Promise<{ code: number | null; err: string }> {
  let root = __dirname;
  while (!fs.existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
  const entry = path.extname(__filename) === '.js' ? [path.join(root, 'bin', 'mdmt.js')] : ['--require', require.resolve('tsx/cjs'), path.join(root, 'ts', 'cli', 'main.ts')];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [...entry, ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let err = '';
    p.stderr.on('data', (b) => (err += b));
    p.on('close', (code) => resolve({ code, err }));
  });
}

test('mdmt predict --explain on the covid-cxr images and a DICOM sample: one row and one heatmap per image', async () => {
  if (!on) return;
  const cxr = sharedData('covid-cxr/images', 'predict/predict --explain');
  const dcm = sharedData('dicom-samples/CR-MONO1-10-chest.dcm', 'predict/predict --explain');
  if (!cxr || !dcm) return;
  const dirs = await tinyRuns();
  const out = path.join(tmpDir('predict-cli'), 'preds.csv');
  const r = await mdmt('predict', '--run', dirs.mdmt, '--out', out, '--explain', '--no-progress', cxr, dcm);
  assert.is(r.code, 0, r.err);
  const images = fs.readdirSync(cxr).filter((f) => f.endsWith('.png')).length + 1;
  const rows = parseCsv(fs.readFileSync(out, 'utf8'));
  assert.is(rows.length - 1, images, 'one row per image');
  const col = (n: string) => rows[0].indexOf(n);
  for (const row of rows.slice(1)) {
    assert.is(row[col('status')], 'ok', row.join(','));
    const p = Number(row[col('p_severe')]), bx = [0, 1, 2, 3].map((k) => Number(row[col(`p_bx${k}`)]));
    assert.ok(p >= 0 && p <= 1 && Math.abs(bx.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    assert.ok(fs.existsSync(row[col('heatmap')]), `heatmap ${row[col('heatmap')]}`);
  }
  const heatmaps = fs.readdirSync(path.join(path.dirname(out), 'preds-heatmaps')).filter((f) => f.endsWith('.png'));
  assert.is(heatmaps.length, images, 'one heatmap per image');
  assert.ok(rows.some((row) => row[col('file')] === dcm), 'the DICOM sample is scored');
  assert.match(r.err, `${images} of ${images} images scored`);
  const usage = await mdmt('predict', '--weights', out, cxr);
  assert.is(usage.code, 2, '--weights given a CSV');
  assert.match(usage.err, `weights (--weights) '${out}' must be a .safetensors or .onnx file`);
});

test('weights name their own backbone and task; a resume checkpoint is refused by name', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const inputs = (await testInputs(result(dirs.afc), 'afc')).slice(0, 2);
  const a = await predict(inputs, { weights: path.join(dirs.afc, 'best.safetensors'), imageSize: 32 });
  assert.equal([a.model.backbone, a.model.task], [BACKBONE, 'stl_afc'], 'backbone from the metadata, task from the keys');
  const b = await predict(inputs, { run: dirs.afc, calibrate: false });
  a.rows.forEach((row, i) => assert.ok(Math.abs(row.pSevere! - b.rows[i].pSevere!) < 1e-6));
  const ck = path.join(dirs.afc, 'checkpoint.safetensors');
  for (const o of [{ weights: ck }, { weights: ck, backbone: BACKBONE, task: 'stl_afc' as const }])
    assert.match((await rejects(() => predict(inputs, o))).message, `${ck} is a resume checkpoint (model.* weights with the Adam state), not a weights file`);
});

test('predict --explain decodes each image (and mask) once, in the loader, in-process and in workers', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const inputs = (await testInputs(result(dirs.mdmt), 'afc')).slice(0, 3);
  assert.ok(inputs.some((x) => x.mask), 'the fixture gives lung masks');
  // count decodes by wrapping the decoder the loader's sample pipeline calls (module export, read per call)
  const mod = image as unknown as { readImage: typeof image.readImage };
  const orig = mod.readImage;
  const calls = new Map<string, number>();
  mod.readImage = (f, o) => {
    calls.set(f, (calls.get(f) ?? 0) + 1);
    return orig(f, o);
  };
  try {
    const heat = path.join(tmpDir('pdecode'), 'h');
    const r = await predict(inputs, { run: dirs.mdmt, explain: { dir: heat }, workers: 0, batchSize: 2 });
    assert.is(r.failed, 0);
    for (const row of r.rows) assert.ok(row.heatmap && fs.existsSync(row.heatmap), `heatmap of ${row.file}`);
    for (const x of inputs) {
      assert.is(calls.get(x.image), 1, `${x.image} decoded once`);
      if (x.mask) assert.is(calls.get(x.mask), 1, `${x.mask} decoded once`);
    }
  } finally {
    mod.readImage = orig;
  }
  // with worker threads the decoded image comes back from the worker: same heatmaps
  const heatW = path.join(tmpDir('pdecode-w'), 'h');
  const w = await predict(inputs, { run: dirs.mdmt, explain: { dir: heatW }, workers: 2, batchSize: 2 });
  assert.is(w.failed, 0);
  for (const row of w.rows) assert.ok(row.heatmap && fs.existsSync(row.heatmap), `worker heatmap of ${row.file}`);
});

test('an explanation the model cannot give fails before scoring; a run refuses weights-only flags (exit 2)', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const inputs = (await testInputs(result(dirs.afc), 'afc')).slice(0, 1);
  const heat = path.join(tmpDir('pexp'), 'h');
  const e = await rejects(() => predict(inputs, { run: dirs.afc, explain: { dir: heat, task: 'bx' } }));
  assert.is(e.code, 'ECONFIG');
  assert.match(e.message, 'the stl_afc model has only the afc head');
  assert.not.ok(fs.existsSync(heat), 'nothing written');
  for (const o of [{ imageSize: 64 }, { backbone: 'resnet18' }, { task: 'mdmt' }, { imagenetNormalize: false }]) {
    const code = await runPredict([inputs[0].image], { run: dirs.afc, progress: false, ...o }, () => {}).then(() => 0, (x) => exitCodeOf(x, () => {}));
    assert.is(code, 2, JSON.stringify(o));
  }
});

test('a folder with a DICOM whose header claims 65535² pixels (RLE) and a 2x1 PNG: those rows fail, the rest are scored', async () => {
  if (!on) return;
  const dirs = await tinyRuns();
  const good = (await testInputs(result(dirs.afc), 'afc')).slice(0, 2).map((x) => x.image);
  const dir = tmpDir('predict-hostile');
  const big = [{ group: 0x28, elem: 0x10, vr: 'US', value: 65535 }, { group: 0x28, elem: 0x11, vr: 'US', value: 65535 }];
  fs.writeFileSync(path.join(dir, 'huge.dcm'), writeDicom({ width: 2, height: 2, pixels: Uint16Array.from([1, 2, 3, 4]), syntax: 'rle', extra: big }));
  await sharp(Buffer.from([7, 200]), { raw: { width: 2, height: 1, channels: 1 } }).png().toFile(path.join(dir, 'tiny.png'));
  // the RLE header threw a raw RangeError, which the loader re-threw: predict stopped with no rows at all
  const r = await predict([good[0], path.join(dir, 'huge.dcm'), path.join(dir, 'tiny.png'), good[1]], { run: dirs.afc, batchSize: 4 });
  assert.equal(r.rows.map((x) => x.ok), [true, false, false, true]);
  assert.match(r.rows[1].error!, /huge\.dcm: image size 65535x65535 .* exceeds/);
  assert.match(r.rows[2].error!, /tiny\.png: image is 2x1 pixels, smaller than 16/);
});

test.run();
