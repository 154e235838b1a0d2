// What predict says besides its rows, on untrained runs built in a second: an unfinished run
// (no result.json) is scored with a warning that it is uncalibrated; files a folder holds that
// are not images are counted and named, not dropped silently.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runExport } from '../../ts/cli/export';
import { runPredict } from '../../ts/cli/predict';
import { readOnnxModel } from '../../ts/io/onnx_import';
import { collectImages } from '../../ts/predict/inputs';
import { flatMapNote, predict } from '../../ts/predict/predict';
import { loadSafetensors, readSafetensorsMetadata, saveSafetensors } from '../../ts/io/safetensors';
import { throwsNaming } from '../helpers';
import { tmpDir } from '../train/_fixture';
import { rejects } from '../data/_fixture';
import { fakeRun, greyPng } from './_fixture';

test('a run without result.json is scored with a warning that it is unfinished and uncalibrated', async () => {
  const run = fakeRun('n-unfinished');
  const img = await greyPng(tmpDir('n-unfinished-img'));
  const logged: string[] = [];
  const r = await predict([img], { run, log: (m) => logged.push(m) });
  assert.is(r.failed, 0);
  assert.is(r.model.calibrated, false);
  assert.equal(r.warnings, logged, 'the warning is logged and returned');
  assert.is(r.warnings.length, 1);
  assert.match(r.warnings[0], `${run} has no result.json: the run is unfinished (interrupted, or still training) and best.safetensors is its best epoch so far; the probabilities are not calibrated`);
  const raw = await predict([img], { run, calibrate: false });
  assert.not.match(raw.warnings[0], 'not calibrated', 'asked for raw probabilities: only the unfinished run is said');
  let log = '';
  await runPredict([img], { run, progress: false, out: path.join(tmpDir('n-unfinished-out'), 'p.csv') }, (m) => (log += m));
  assert.match(log, `mdmt predict: warning: ${run} has no result.json`);
  // a finished run says nothing
  const result = { backbone: 'x', experiment: 'stl_afc', protocol: 'cv', fold: 0, metrics: { acc: 1, f1: 1, gmean: 1 } };
  fs.writeFileSync(path.join(run, 'result.json'), JSON.stringify({ result }));
  assert.equal((await predict([img], { run })).warnings, []);
});

test('weights trained at another image size or normalisation than they are scored with are scored with a warning', async () => {
  const run = fakeRun('n-size'); // config.json: 32 px, ImageNet normalisation
  const w = path.join(run, 'best.safetensors');
  const img = await greyPng(tmpDir('n-size-img'));
  // a run's best.safetensors as a bare weights file: the default 256 px
  const logged: string[] = [];
  const r = await predict([img], { weights: w, log: (m) => logged.push(m) });
  assert.is(r.failed, 0);
  assert.equal(r.warnings, logged, 'logged and returned');
  assert.equal(r.warnings, [`${w} was trained at 32 px (${path.join(run, 'config.json')}) but is scored at 256 px: its probabilities may mean little; give imageSize (--image-size) 32, or score the run itself (run, --run ${run})`]);
  const norm = await predict([img], { weights: w, imageSize: 32, imagenetNormalize: false });
  assert.equal(norm.warnings, [`${w} was trained with ImageNet normalisation (${path.join(run, 'config.json')}) but is scored without ImageNet normalisation: its probabilities may mean little; give ImageNet normalisation on (drop imagenetNormalize: false, --no-imagenet-normalize), or score the run itself (run, --run ${run})`]);
  assert.equal((await predict([img], { weights: w, imageSize: 32 })).warnings, [], 'the run\'s own settings: nothing to say');
  // the weights' own metadata (train() records it) decides, wherever the file was copied
  const copy = path.join(tmpDir('n-size-copy'), 'w.safetensors');
  const { tensors } = loadSafetensors(w);
  saveSafetensors(copy, tensors, { ...readSafetensorsMetadata(w), imageSize: '48', imagenetNormalize: 'false' });
  for (const t of tensors.values()) t.dispose();
  const c = await predict([img], { weights: copy, imageSize: 48 });
  assert.equal(c.warnings, [`${copy} was trained without ImageNet normalisation (its metadata) but is scored with ImageNet normalisation: its probabilities may mean little; give imagenetNormalize: false (--no-imagenet-normalize)`]);
  // a run whose best.safetensors says another size than its config.json (copied from another run)
  fs.copyFileSync(copy, w);
  fs.writeFileSync(path.join(run, 'result.json'), JSON.stringify({ result: { backbone: 'x', experiment: 'stl_afc', protocol: 'cv', fold: 0, metrics: { acc: 1, f1: 1, gmean: 1 } } }));
  const byRun = await predict([img], { run });
  assert.equal(byRun.warnings, [`${w} was trained at 48 px, without ImageNet normalisation (its metadata) but ${path.join(run, 'config.json')} says 32 px, with ImageNet normalisation, which predict uses: the weights may come from another run, or config.json was edited`]);
  // the CLI says it as a warning; its note that --weights belongs to a run is for a run of the same size
  let log = '';
  const cli = (o: object) => runPredict([img], { progress: false, out: path.join(tmpDir('n-size-out'), 'p.csv'), ...o }, (m) => (log += m));
  const other = fakeRun('n-size-256');
  fs.writeFileSync(path.join(other, 'config.json'), JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(other, 'config.json'), 'utf8')), imageSize: 256 }));
  await cli({ weights: path.join(other, 'best.safetensors') });
  assert.match(log, `mdmt predict: note: ${path.join(other, 'best.safetensors')} belongs to the run ${other}; --run ${other} would use its image size, normalisation and calibration`);
  assert.not.match(log, 'warning');
  // a best.safetensors recording its 32 px (as train() writes it) is scored at 32 px, and the note says so
  const rec = fakeRun('n-size-rec'), rw = path.join(rec, 'best.safetensors');
  const rt = loadSafetensors(rw).tensors;
  saveSafetensors(rw, rt, { ...readSafetensorsMetadata(rw), imageSize: '32' });
  for (const t of rt.values()) t.dispose();
  log = '';
  await cli({ weights: rw });
  assert.match(log, `mdmt predict: note: ${rw} belongs to the run ${rec}; --run ${rec} would use its image size, normalisation and calibration (here: 32 px, uncalibrated)`);
  assert.not.match(log, 'warning');
  log = '';
  await cli({ weights: w });
  // scored at the 48 px its metadata records (not the default 256): only the normalisation differs
  assert.match(log, `mdmt predict: warning: ${w} was trained without ImageNet normalisation (its metadata) but is scored with ImageNet normalisation`);
  assert.match(log, '(stl_afc, 48 px, not calibrated)');
  assert.not.match(log, 'note:', 'said once, as the warning');
  log = '';
  await runPredict([img], { weights: copy, imageSize: 64, progress: false, out: path.join(tmpDir('n-size-out'), 'p.csv') }, (m) => (log += m));
  assert.match(log, `mdmt predict: warning: ${copy} was trained at 48 px, without ImageNet normalisation (its metadata) but is scored at 64 px, with ImageNet normalisation`);
});

test('mdmt export keeps the image size and normalisation the weights were trained with: predict of the .onnx warns as of the .safetensors', async () => {
  const run = fakeRun('n-onnx');
  const w = path.join(run, 'best.safetensors');
  const { tensors } = loadSafetensors(w);
  saveSafetensors(w, tensors, { ...readSafetensorsMetadata(w), imageSize: '48', imagenetNormalize: 'false' });
  for (const t of tensors.values()) t.dispose();
  const onnx = path.join(tmpDir('n-onnx-out'), 'm.onnx');
  runExport({ weights: w, out: onnx, size: '64' });
  assert.equal(Object.fromEntries((readOnnxModel(onnx).metadata_props ?? []).map((p) => [p.key, p.value])),
    { backbone: 'shufflenet_v2_x0_5', task: 'stl_afc', imageSize: '48', imagenetNormalize: 'false' });
  const img = await greyPng(tmpDir('n-onnx-img'));
  // scored at the size its metadata records, as export takes its --size (it was scored at 256 px with a warning)
  const bare = await predict([img], { weights: onnx });
  assert.is(bare.model.imageSize, 48);
  assert.equal(bare.warnings,
    [`${onnx} was trained without ImageNet normalisation (its metadata) but is scored with ImageNet normalisation: its probabilities may mean little; give imagenetNormalize: false (--no-imagenet-normalize)`]);
  assert.equal((await predict([img], { weights: onnx, imagenetNormalize: false })).warnings, []);
  assert.equal((await predict([img], { weights: onnx, imageSize: 48, imagenetNormalize: false })).warnings, []);
  // a size given still wins, with the warning
  const given = await predict([img], { weights: onnx, imageSize: 64, imagenetNormalize: false });
  assert.is(given.model.imageSize, 64);
  assert.equal(given.warnings, [`${onnx} was trained at 48 px (its metadata) but is scored at 64 px: its probabilities may mean little; give imageSize (--image-size) 48`]);
  // the CLI without --image-size: the metadata's size, said in its summary, no warning about the size
  let log = '';
  await runPredict([img], { weights: onnx, imagenetNormalize: false, progress: false, out: path.join(tmpDir('n-onnx-out'), 'p.csv') }, (m) => (log += m));
  assert.match(log, '(stl_afc, 48 px, not calibrated)');
  assert.not.match(log, 'warning');
  // a size the metadata records that the backbone cannot take is named as the metadata's
  const tiny = path.join(tmpDir('n-onnx-out'), 'tiny.safetensors');
  const t2 = loadSafetensors(w).tensors;
  saveSafetensors(tiny, t2, { ...readSafetensorsMetadata(w), imageSize: '8' });
  for (const t of t2.values()) t.dispose();
  const e = await rejects(() => predict([img], { weights: tiny }));
  assert.is(e.code, 'EDATA');
  assert.match(e.message, `${tiny} records imageSize 8 in its metadata, which must be an integer in [16, 2048]`);
  assert.match(e.message, 'give imageSize (--image-size)');
  // without --size the graph's input is the size the weights record (it was 256 px whatever they said)
  const at = path.join(tmpDir('n-onnx-out'), 'at.onnx');
  assert.is(runExport({ weights: w, out: at }).size, 48);
  const dims = readOnnxModel(at).graph!.input![0]!.type!.tensor_type!.shape!.dim!.map((d) => ('dim_value' in d ? Number(d.dim_value) : d.dim_param));
  assert.equal(dims.slice(1), [3, 48, 48]);
  assert.is(runExport({ model: 'shufflenet_v2_x0_5', out: at }).size, 256, 'no weights: the paper\'s size');
});

test('an imageSize in the weights\' metadata that is no positive integer is named by predict and export (they used 256 px without a word); a size given wins', async () => {
  const w = path.join(fakeRun('n-badsize'), 'best.safetensors');
  const { tensors } = loadSafetensors(w);
  const meta = readSafetensorsMetadata(w);
  const img = await greyPng(tmpDir('n-badsize-img'));
  const out = path.join(tmpDir('n-badsize-out'), 'm.onnx');
  for (const bad of ['abc', '0', '-32', '32.5', '0x20']) {
    saveSafetensors(w, tensors, { ...meta, imageSize: bad });
    const e = await rejects(() => predict([img], { weights: w }));
    assert.is(e.code, 'EDATA');
    assert.match(e.message, `${w} records imageSize '${bad}' in its metadata, which is not a positive integer: give the input size (imageSize, --image-size)`);
    assert.is((await predict([img], { weights: w, imageSize: 32 })).model.imageSize, 32);
    throwsNaming(() => runExport({ weights: w, out }), `${w} records imageSize '${bad}' in its metadata, which is not a positive integer: give the input size (--size)`);
    assert.is(runExport({ weights: w, out, size: '32' }).size, 32);
  }
  // a size out of export's range that the metadata records is named as the metadata's, not as --size's ("got undefined")
  saveSafetensors(w, tensors, { ...meta, imageSize: '100000' });
  throwsNaming(() => runExport({ weights: w, out }), `${w} records imageSize 100000 in its metadata, which must be an integer in [1, 2048]: give the input size (--size)`);
  for (const t of tensors.values()) t.dispose();
});

test('files a folder holds that are not images are counted and named; a link to an image is scored', async () => {
  const dir = tmpDir('n-skip');
  const img = await greyPng(dir, 'a.png');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
  fs.writeFileSync(path.join(dir, 'b.gif'), 'GIF89a');
  fs.writeFileSync(path.join(dir, 'c.bmp'), 'BM'); // sharp cannot decode BMP: not collected to fail
  fs.writeFileSync(path.join(dir, '.DS_Store'), '');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync(path.join(dir, 'gone.png'), path.join(dir, 'sub', 'broken.png'));
  fs.symlinkSync(img, path.join(dir, 'sub', 'linked.png'));
  fs.symlinkSync(dir, path.join(dir, 'sub', 'loop'));
  // a bare string (once walked character by character: '/' was the whole file system)
  throwsNaming(() => collectImages(dir as unknown as string[]), `the images must be an array of file or folder paths, got the string "${dir}" (write ["${dir}"])`);
  const logged: string[] = [];
  const inputs = collectImages([dir], { log: (m) => logged.push(m) });
  assert.equal(inputs.map((x) => path.relative(dir, x.image)), ['a.png', path.join('sub', 'linked.png')]);
  assert.equal(logged, [`skipped 5 files in ${dir} (not images mdmt reads): b.gif, c.bmp, notes.txt, sub/broken.png (broken link), sub/loop (linked folder, not followed)`]);
  let log = '';
  const { result } = await runPredict([dir], { run: fakeRun('n-skip-run'), progress: false, out: path.join(dir, 'p.csv') }, (m) => (log += m));
  assert.is(result.rows.length, 2);
  assert.match(log, `mdmt predict: skipped 5 files in ${dir}`);
  // a folder with no image names what it skipped
  const none = tmpDir('n-none');
  fs.writeFileSync(path.join(none, 'notes.txt'), 'x');
  assert.throws(() => collectImages([none]), /holds no image .*; skipped 1: notes\.txt/);
});

test('a link that loops (a → b → a) in an image or mask folder is skipped and named, not an ELOOP that stops the call', async () => {
  const dir = tmpDir('n-loop');
  const scans = path.join(dir, 'scans'), masks = path.join(dir, 'masks');
  fs.mkdirSync(scans);
  fs.mkdirSync(masks);
  const a = await greyPng(scans, 'a.png'), ma = await greyPng(masks, 'a.png');
  for (const d of [scans, masks]) {
    fs.symlinkSync(path.join(d, 'l2.png'), path.join(d, 'l1.png'));
    fs.symlinkSync(path.join(d, 'l1.png'), path.join(d, 'l2.png'));
  }
  const logged: string[] = [];
  assert.equal(collectImages([scans], { masks, log: (m) => logged.push(m) }), [{ image: a, mask: ma }]);
  assert.equal(logged, [`skipped 2 files in ${scans} (not images mdmt reads): l1.png (link loop), l2.png (link loop)`]);
});

test('collectImages: an image with two masks of its name in the mask folder is refused naming both (the last found was used)', async () => {
  const dir = tmpDir('n-masks');
  const scans = path.join(dir, 'scans'), masks = path.join(dir, 'masks');
  fs.mkdirSync(scans);
  fs.mkdirSync(path.join(masks, 'old'), { recursive: true });
  const a = await greyPng(scans, 'a.png'), b = await greyPng(scans, 'b.png');
  const ma = await greyPng(masks, 'a.png'), mb = await greyPng(masks, 'b.png');
  assert.equal(collectImages([scans], { masks }), [{ image: a, mask: ma }, { image: b, mask: mb }]);
  await greyPng(masks, 'b.tif');
  await greyPng(path.join(masks, 'old'), 'b.png');
  throwsNaming(() => collectImages([scans], { masks }), `${b}: 3 files in the mask folder '${masks}' share its name "b": b.png, b.tif, ${path.join('old', 'b.png')}; keep one, or move the others out of the folder`);
  assert.equal(collectImages([a], { masks }), [{ image: a, mask: ma }], 'a name that is not an image\'s may repeat');
});

test('collectImages: a mask folder that holds the image itself is refused (an image without a mask there was its own lung mask, without a note)', async () => {
  const dir = tmpDir('n-selfmask');
  const a = await greyPng(dir, 'a.png'), b = await greyPng(dir, 'b.png');
  const self = `the mask folder '${dir}' holds this image itself, so it would be its own lung mask`;
  throwsNaming(() => collectImages([a], { masks: dir }), `${a}: ${self}`, 'give masks (--masks) a folder of lung masks only');
  throwsNaming(() => collectImages([dir], { masks: dir }), `${a}: ${self}`);
  // a mask beside its image: the same (it was refused as two files sharing a name, 'keep one')
  await greyPng(dir, 'b.tif');
  throwsNaming(() => collectImages([b], { masks: dir }), `${b}: ${self}`);
  // through a link to the folder too
  const link = path.join(tmpDir('n-selfmask-link'), 'masks');
  fs.symlinkSync(dir, link);
  throwsNaming(() => collectImages([a], { masks: link }), `${a}: the mask folder '${link}' holds this image itself`);
  // a folder of masks apart from the images is read as before
  const masks = tmpDir('n-selfmask-masks');
  const ma = await greyPng(masks, 'a.png');
  assert.equal(collectImages([a, b], { masks }), [{ image: a, mask: ma }, { image: b }]);
});

test('a Grad-CAM map that is zero everywhere is noted in its row (its overlay is the bare film)', async () => {
  const dir = tmpDir('n-cam');
  const img = await greyPng(dir);
  // untrained: the SEVERE logit has no positive evidence at conv5, ReLU(Σ α_k A_k) = 0
  const zero = await predict([img], { run: fakeRun('n-cam-zero'), explain: { dir: path.join(dir, 'zero') } });
  assert.ok(zero.rows[0].heatmap && fs.existsSync(zero.rows[0].heatmap), 'the overlay is still written');
  assert.match(zero.rows[0].note!, 'Grad-CAM map is zero (no positive evidence for class 1 at backbone.conv5): the overlay shows the film only');
  // conv5 activations lifted and the head's weights all positive: every position adds to the logit
  const lifted = fakeRun('n-cam-pos', 'stl_afc', { 'backbone.conv5.1.bias': (v) => v.fill(1), 'head.1.weight': (v) => v.fill(0.01) });
  const pos = await predict([img], { run: lifted, explain: { dir: path.join(dir, 'pos') } });
  assert.ok(pos.rows[0].heatmap && fs.existsSync(pos.rows[0].heatmap));
  assert.not.match(pos.rows[0].note ?? '', 'map is zero');
  // 32 px: conv5 is 1×1, one value spread over the whole film
  assert.match(pos.rows[0].note!, 'Grad-CAM map is 1×1 at backbone.conv5: it cannot localise, the overlay colours the whole film (a larger image size, or an earlier explain.layer, gives a finer map)');
  // an earlier stage (stage2: 4×4 at 32 px) has a map that varies: no such note
  const early = await predict([img], { run: lifted, explain: { dir: path.join(dir, 'early'), layer: 'backbone.stage2' } });
  assert.ok(early.rows[0].heatmap);
  assert.not.match(early.rows[0].note ?? '', /cannot localise|is flat/, early.rows[0].note);
});

test('flatMapNote: one cell, or every cell within 10 % of the maximum, is said; a map that varies, or a zero one, is not', () => {
  const f = (v: number[], h: number, w: number) => flatMapNote(Float32Array.from(v), h, w, 'L');
  assert.match(f([0.3], 1, 1)!, 'Grad-CAM map is 1×1 at L: it cannot localise');
  assert.match(f([1, 0.95, 0.91, 0.99], 2, 2)!, 'Grad-CAM map is flat (every cell of the 2×2 map at L within 10 % of its maximum): the overlay localises nothing');
  assert.is(f([1, 0.95, 0.5, 0.99], 2, 2), undefined);
  assert.is(f([0, 0, 0, 0], 2, 2), undefined, 'a zero map has its own note');
  assert.is(f([0], 1, 1), undefined);
});

test.run();
