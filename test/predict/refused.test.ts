// What predict and export refuse, on untrained runs built in a second (no training): weights
// holding a NaN (named by file and tensor, as train() names an init file), a model whose output
// comes out non-finite from finite weights (a row error, never `ok` with a made-up class).
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runExport } from '../../ts/cli/export';
import { exitCodeOf } from '../../ts/cli/main';
import { runPredict } from '../../ts/cli/predict';
import { openPredictor, predict } from '../../ts/predict/predict';
import { rejects } from '../data/_fixture';
import { BACKBONE, tmpDir } from '../train/_fixture';
import { mdmtFileLimited } from '../helpers';
import { fakeRun, greyPng } from './_fixture';

const NAN_AT_5 = { 'backbone.conv1.0.weight': (v: Float32Array) => void (v[5] = NaN) };

test('weights holding a NaN are refused by predict (run and weights) and export, naming file and tensor', async () => {
  const run = fakeRun('p-nan', 'stl_afc', NAN_AT_5);
  const w = path.join(run, 'best.safetensors');
  const img = await greyPng(tmpDir('p-nan-img'));
  const want = new RegExp(`${w.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}': tensor 'backbone\\.conv1\\.0\\.weight' holds 1 NaN of 648 values`);
  for (const o of [{ run }, { weights: w, imageSize: 32 }]) {
    const e = await rejects(() => predict([img], o));
    assert.is(e.code, 'EDATA', e.message);
    assert.match(e.message, want);
  }
  const cli = await rejects(() => runPredict([img], { run, progress: false }, () => {}));
  assert.match(cli.message, want);
  const xdir = tmpDir('x-nan');
  const x = await rejects(() => runExport({ model: BACKBONE, weights: w, out: path.join(xdir, 'sub', 'm.onnx'), size: '32' }));
  assert.not.ok(fs.existsSync(path.join(xdir, 'sub')), 'a refused export makes no folder');
  assert.is(x.code, 'EDATA', x.message);
  assert.match(x.message, want);
});

test('finite weights whose output overflows to NaN give a row error, not ok with a made-up class', async () => {
  // float32's largest values in the heads: each logit overflows to ±inf, the softmax to NaN
  const huge = (v: Float32Array) => void v.fill(3e38);
  const run = fakeRun('p-overflow', 'mdmt', { 'afc_head.0.bias': huge, 'afc_head.3.weight': huge });
  const dir = tmpDir('p-overflow-img');
  const r = await predict([await greyPng(dir)], { run, explain: { dir: path.join(dir, 'h') } });
  assert.is(r.failed, 1);
  const row = r.rows[0];
  assert.is(row.ok, false);
  assert.is(row.afcClass, undefined, 'no class made up');
  assert.is(row.bxClass, undefined);
  assert.is(row.heatmap, undefined, 'no overlay of a failed row');
  assert.match(row.error!, /the model's output is not finite \(afc probabilities \[NaN,NaN\]\): its weights overflow float32/);
});

test('a box that misses the image fails its row naming box and size; one partly outside is clipped and noted', async () => {
  const run = fakeRun('p-box');
  const img = await greyPng(tmpDir('p-box-img'));
  const r = await predict([{ image: img, box: [1000, 1000, 10, 10] }, { image: img, box: [0, 0, 1e9, 1e9] }, { image: img, box: [8, 8, 40, 40] }], { run });
  assert.equal(r.rows.map((x) => x.ok), [false, true, true]);
  assert.match(r.rows[0].error!, `${img}: lung box [1000,1000,10,10] ([x, y, w, h]) lies outside the 64x72 image`);
  assert.match(r.rows[1].note!, 'lung box [0,0,1000000000,1000000000] extends past the 64x72 image: clipped to [0,0,64,72]');
  assert.is(r.rows[2].note, undefined);
});

test('an explain.layer the model lacks is refused before any image is scored', async () => {
  const run = fakeRun('p-layer');
  const dir = tmpDir('p-layer-img');
  const img = await greyPng(dir);
  let scored = 0;
  const e = await rejects(() => predict([img], { run, explain: { dir: path.join(dir, 'h'), layer: 'backbone.layer4' }, onProgress: () => scored++ }));
  assert.is(e.code, 'ECONFIG', e.message);
  assert.match(e.message, "explain.layer 'backbone.layer4' is not a module of the shufflenet_v2_x0_5 model (its default: 'backbone.conv5')");
  assert.is(scored, 0);
});

test('output paths in the way are usage errors naming the option, found before any image is scored', async () => {
  // weights that fail to load (a NaN): a path error seen first was checked before the model loaded
  const run = fakeRun('p-out', 'stl_afc', NAN_AT_5);
  const dir = tmpDir('p-out-img');
  const img = await greyPng(dir);
  fs.mkdirSync(path.join(dir, 'dir.csv'));
  fs.writeFileSync(path.join(dir, 'hmfile'), 'x');
  const cases: [Record<string, unknown>, string][] = [
    [{ out: path.join(dir, 'dir.csv') }, `--out '${path.join(dir, 'dir.csv')}' is a directory, not a file`],
    [{ out: path.join(dir, 'hmfile', 'p.csv') }, `--out '${path.join(dir, 'hmfile', 'p.csv')}' lies under '${path.join(dir, 'hmfile')}', which is a file`],
    [{ explain: true, heatmaps: path.join(dir, 'hmfile') }, `--heatmaps '${path.join(dir, 'hmfile')}' is a file, not a directory`],
    [{ explain: true, out: path.join(dir, 'p.csv') }, `--heatmaps (default: <out stem>-heatmaps) '${path.join(dir, 'p-heatmaps')}' is a file`],
    [{ explain: true, out: path.join(dir, 'w.csv'), heatmaps: path.join(dir, 'w.csv') }, `--out and --heatmaps are both '${path.join(dir, 'w.csv')}'`],
  ];
  fs.writeFileSync(path.join(dir, 'p-heatmaps'), 'x');
  for (const [o, msg] of cases) {
    const e = await rejects(() => runPredict([img], { run, progress: false, ...o }, () => {}));
    assert.is(e.code, 'ECONFIG', e.message);
    assert.match(e.message, msg);
    assert.is(exitCodeOf(e, () => {}), 2);
  }
  const api = await rejects(() => predict([img], { run, explain: { dir: path.join(dir, 'hmfile') } }));
  assert.is(api.code, 'ECONFIG', api.message);
  assert.match(api.message, `explain.dir '${path.join(dir, 'hmfile')}' is a file, not a directory`);
});

test('a refused call makes no folder: --out\'s and the heatmaps\' are made once the model and options are accepted', async () => {
  const run = fakeRun('p-nodir'), bad = fakeRun('p-nodir-nan', 'stl_afc', NAN_AT_5);
  const dir = tmpDir('p-nodir-img');
  const img = await greyPng(dir);
  // an stl_afc run has no bx head to explain; weights holding a NaN fail to load
  for (const [r, o] of [[run, { explain: true, explainTask: 'bx' }], [bad, { explain: true }], [bad, {}]] as const) {
    const out = path.join(dir, 'sub', 'deeper', 'p.csv');
    await rejects(() => runPredict([img], { run: r, progress: false, out, ...o }, () => {}));
    assert.not.ok(fs.existsSync(path.join(dir, 'sub')), `${JSON.stringify(o)}: sub/ was made`);
  }
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    await rejects(() => runPredict([img], { run, progress: false, explain: true, explainTask: 'bx' }, () => {}));
    assert.not.ok(fs.existsSync(path.join(dir, 'heatmaps')), 'the default ./heatmaps was made');
  } finally {
    process.chdir(cwd);
  }
  // an accepted call makes both
  const out = path.join(dir, 'ok', 'p.csv');
  const { code } = await runPredict([img], { run, progress: false, out, explain: true }, () => {});
  assert.is(code, 0);
  assert.ok(fs.existsSync(out) && fs.readdirSync(path.join(dir, 'ok', 'p-heatmaps')).length === 1);
});

test("an --out that is the run's config.json or result.json is refused before scoring, the run's record left as it was", async () => {
  const run = fakeRun('p-out-record');
  const img = await greyPng(tmpDir('p-out-record-img'));
  const cfg = path.join(run, 'config.json'), before = fs.readFileSync(cfg, 'utf8');
  const link = path.join(tmpDir('p-out-record-link'), 'cfg.json');
  fs.symlinkSync(cfg, link);
  const w = path.join(run, 'best.safetensors');
  const cases: [Record<string, unknown>, string][] = [
    [{ run, out: cfg }, `--out '${cfg}' is the run's config.json`],
    [{ run: `${run}/`, out: path.join(run, '.', 'config.json') }, "is the run's config.json"],
    [{ run, out: path.join(run, 'result.json') }, `--out '${path.join(run, 'result.json')}' is the run's result.json`], // unfinished: would look finished
    [{ run, out: link }, `--out '${link}' is the run's config.json (${cfg})`],
    [{ weights: w, out: cfg }, `--out '${cfg}' is the run's config.json`], // --weights of a run: that run's record
  ];
  for (const [o, msg] of cases) {
    const e = await rejects(() => runPredict([img], { progress: false, ...o }, () => {}));
    assert.is(e.code, 'ECONFIG', e.message);
    assert.match(e.message, msg);
    assert.match(e.message, 'give another file');
    assert.is(exitCodeOf(e, () => {}), 2);
  }
  assert.is(fs.readFileSync(cfg, 'utf8'), before, 'config.json untouched');
  assert.not.ok(fs.existsSync(path.join(run, 'result.json')), 'no result.json made up');
});

test('an --out that cannot be written after scoring sends the table to stdout and fails naming --out', async () => {
  if (process.platform !== 'linux') return;
  const run = fakeRun('p-out-write');
  const img = await greyPng(tmpDir('p-out-write-img'));
  // /proc exists as a directory, but no file can be created in it: the check before scoring passes
  const out = '/proc/mdmt-predict-test.csv';
  const written: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => { written.push(String(chunk)); return true; }) as typeof process.stdout.write;
  let e: Awaited<ReturnType<typeof rejects>>;
  try {
    e = await rejects(() => runPredict([img], { run, progress: false, out }, () => {}));
  } finally {
    process.stdout.write = write;
  }
  assert.is(e.code, 'EIO', e.message);
  assert.match(e.message, `--out '${out}' could not be written (`);
  assert.match(e.message, 'the results were written to stdout instead');
  assert.match(written.join(''), /^file,status,/, 'the CSV reached stdout');
});

test('a table or overlay whose write fails part-way (a full disk) is not left looking complete; failed overlays are named (exit 1)', async () => {
  if (process.platform !== 'linux') return;
  const run = fakeRun('p-full', 'mdmt');
  const dir = tmpDir('p-full-img');
  const imgs = [await greyPng(dir, 'a.png', 300, 280), await greyPng(dir, 'b.png', 260, 240)];
  // writes stop at 1 KiB (EFBIG, as ENOSPC would): each overlay PNG and the JSON table are larger
  const hm = path.join(dir, 'hm');
  const noOut = mdmtFileLimited(1, 'predict', '--run', run, '--explain', '--heatmaps', hm, '--no-progress', ...imgs);
  assert.is(noOut.status, 1, `requested overlays that were not written fail the command: ${noOut.stderr}`);
  assert.equal(fs.readdirSync(hm), [], 'no truncated or empty overlay PNG in the heatmap folder');
  for (const img of imgs) assert.match(noOut.stderr, new RegExp(`${img}: heatmap failed: .*EFBIG`), 'each failed overlay named at the end');
  assert.match(noOut.stderr, '2 of 2 images scored');
  assert.match(noOut.stdout, /^file,status,/, 'the table is still given');
  const out = path.join(dir, 'preds.json');
  fs.writeFileSync(out, 'the previous table');
  const full = mdmtFileLimited(1, 'predict', '--run', run, '--out', out, '--no-progress', ...imgs);
  assert.is(full.status, 1, full.stderr);
  assert.match(full.stderr, `--out '${out}' could not be written (`);
  assert.match(full.stderr, 'EFBIG');
  assert.is(fs.readFileSync(out, 'utf8'), 'the previous table', 'a truncated JSON (or CSV: a table of fewer rows) did not replace it');
  assert.equal(fs.readdirSync(dir).sort(), ['a.png', 'b.png', 'hm', 'preds.json'], 'no temporary file left');
  assert.is((JSON.parse(full.stdout) as { rows: unknown[] }).rows.length, 2, 'the results went to stdout');
});

test('image bytes instead of a path are refused by kind and size, in a short message (a 5 MB Buffer made a 10 MB one)', async () => {
  const run = fakeRun('p-bytes');
  const big = Buffer.alloc(5e6, 7);
  const cases: [unknown, unknown, RegExp][] = [
    [[big], undefined, /images\[0\] must be a file path .*, got Buffer\(5000000\)$/],
    [[new Uint8Array(5e6)], undefined, /got Uint8Array\(5000000\)$/],
    [[{ image: big }], undefined, /got \{"image":Buffer\(5000000\)\}$/],
    [big, undefined, /images must be an array .*, got Buffer\(5000000\)$/],
    [[{ image: 'a.png', box: Float32Array.from([1, NaN]) }], undefined, /box must be .*, got Float32Array \[1,NaN\]$/],
    [['a.png'], { run, log: 'x'.repeat(1e6) }, /log must be a function .*, got "xxx+… \(1000002 characters\)$/],
  ];
  for (const [images, o, want] of cases) {
    const e = await rejects(() => predict(images as string[], (o ?? { run }) as { run: string }));
    assert.is(e.code, 'ECONFIG', e.message.slice(0, 200));
    assert.ok(e.message.length < 500, `${e.message.length} characters: ${e.message.slice(0, 200)}`);
    assert.match(e.message, want);
  }
});

test('overlays that would overwrite an input image or mask are refused before any image is scored', async () => {
  // `mdmt predict --explain --heatmaps scans/ scans/` wrote each overlay over the X-ray it explains
  const run = fakeRun('p-overwrite');
  const dir = tmpDir('p-overwrite-img');
  fs.mkdirSync(path.join(dir, 'masks'));
  const img = await greyPng(dir), mask = await greyPng(path.join(dir, 'masks'), 'film.png');
  const before = fs.readFileSync(img);
  let scored = 0;
  const e = await rejects(() => predict([img], { run, explain: { dir }, onProgress: () => scored++ }));
  assert.is(e.code, 'ECONFIG', e.message);
  assert.match(e.message, `explain.dir (--heatmaps): the overlay ${path.join(dir, 'film.png')} would overwrite the input image ${img}: give a folder that holds no input images or masks`);
  assert.is(scored, 0);
  assert.ok(fs.readFileSync(img).equals(before), 'the input image is untouched');
  // a mask in the overlay folder; and the CLI, through another spelling of the folder
  const m = await rejects(() => predict([{ image: img, mask }], { run, explain: { dir: path.join(dir, 'masks') } }));
  assert.match(m.message, `would overwrite the input lung mask ${mask}`);
  const cli = await rejects(() => runPredict([img], { run, explain: true, heatmaps: `${dir}/./masks/..`, progress: false }, () => {}));
  assert.match(cli.message, 'would overwrite the input image');
  assert.ok(fs.readFileSync(img).equals(before));
  // another folder: scored, with its overlay
  const ok = await predict([img], { run, explain: { dir: path.join(dir, 'h') } });
  assert.is(ok.rows[0].heatmap, path.join(dir, 'h', 'film.png'));
});

test('overlapping predict calls writing overlays into one folder are refused (EBUSY); other overlapping calls still run', async () => {
  // two calls into one folder wrote the same overlay names (film.png) over each other, unsaid
  const run = fakeRun('p-busy');
  const dir = tmpDir('p-busy-img'), hm = path.join(tmpDir('p-busy-hm'), 'heatmaps'), other = path.join(tmpDir('p-busy-hm2'), 'h');
  const a = await greyPng(dir, 'a.png'), b = await greyPng(dir, 'b.png');
  const p = openPredictor({ run });
  try {
    const first = p.predict([a, b], { batchSize: 1, explain: { dir: hm } });
    for (const d of [hm, `${hm}/./`]) {
      const e = await rejects(() => p.predict([b], { explain: { dir: d } }));
      assert.is(e.code, 'EBUSY', e.message);
      assert.match(e.message, `another predict call is still writing Grad-CAM overlays into ${hm}: await it first, or give this call another explain.dir`);
    }
    const api = await rejects(() => predict([b], { run, explain: { dir: hm } }));
    assert.is(api.code, 'EBUSY', 'predict() into the folder too');
    // no overlays, or another folder: these overlap as before
    const [r1, r2, r3] = await Promise.all([first, p.predict([b]), p.predict([b], { explain: { dir: other } })]);
    assert.equal([r1.failed, r2.failed, r3.failed], [0, 0, 0]);
    assert.is(r1.rows[1].heatmap, path.join(hm, 'b.png'));
    assert.is(r3.rows[0].heatmap, path.join(other, 'b.png'));
    // the folder is free again once the call ended, also after a call that threw
    await rejects(() => p.predict([a], { explain: { dir: hm, layer: 'nope' } }));
    assert.is((await p.predict([b], { explain: { dir: hm } })).rows[0].heatmap, path.join(hm, 'b.png'));
  } finally {
    p.dispose();
  }
});

test('an image path under a file or in a link loop fails its row, not the whole call with a raw ENOTDIR / ELOOP', async () => {
  const run = fakeRun('p-eloop');
  const dir = tmpDir('p-eloop-img');
  const img = await greyPng(dir);
  fs.symlinkSync(path.join(dir, 'loop2'), path.join(dir, 'loop1'));
  fs.symlinkSync(path.join(dir, 'loop1'), path.join(dir, 'loop2'));
  const under = path.join(img, 'x.png'), loop = path.join(dir, 'loop1');
  const r = await predict([under, loop, img], { run });
  assert.equal(r.rows.map((x) => [x.file, x.ok]), [[under, false], [loop, false], [img, true]]);
  assert.match(r.rows[0].error!, 'ENOTDIR');
  assert.match(r.rows[1].error!, 'ELOOP');
  const { result, code } = await runPredict([under, loop, img], { run, progress: false, out: path.join(dir, 'p.csv') }, () => {});
  assert.equal([result.failed, code], [2, 1], 'the CLI too: exit 1, the others scored');
});

test('a batch size far above the images given is traced at their number; one that does not fit names batchSize', async () => {
  // --batch-size 200000 on one 32 px image traced a 200000-image plan for 86 s and failed on memory
  const run = fakeRun('p-batch');
  const img = await greyPng(tmpDir('p-batch-img'));
  const t = Date.now();
  const r = await predict([img, img], { run, batchSize: 100_000_000 });
  assert.is(r.failed, 0);
  assert.ok(Date.now() - t < 20_000, `${Date.now() - t} ms`);
  // as many images as the batch (one file, named 10000 times) at 2048 px: 500 GB for the input alone
  const e = await rejects(() => predict(Array<string>(10_000).fill(img), { weights: path.join(run, 'best.safetensors'), imageSize: 2048, batchSize: 10_000 }));
  assert.is(e.code, 'ENOMEM', e.message);
  assert.match(e.message, /^predict: batchSize \(--batch-size\) 10000 of 2048 px images does not fit in memory \(alloc: cannot allocate \d+ bytes .*\): give a smaller batch size$/);
});

test.run();
