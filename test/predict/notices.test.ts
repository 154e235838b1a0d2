// What predict says besides its rows, on untrained runs built in a second: an unfinished run
// (no result.json) is scored with a warning that it is uncalibrated; files a folder holds that
// are not images are counted and named, not dropped silently.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runPredict } from '../../ts/cli/predict';
import { collectImages } from '../../ts/predict/inputs';
import { predict } from '../../ts/predict/predict';
import { throwsNaming } from '../helpers';
import { tmpDir } from '../train/_fixture';
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
  assert.not.match(pos.rows[0].note ?? '', 'Grad-CAM');
});

test.run();
