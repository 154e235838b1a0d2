import * as crypto from 'crypto';
import * as fs from 'fs';
import nodeFs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { readImage } from '../../ts/data/image';
import { Batch, Loader, toTensors } from '../../ts/data/loader';
import { preprocess, toInput } from '../../ts/data/preprocess';
import { cacheKey, runSample } from '../../ts/data/sample';
import { writeDicom } from '../../ts/data/dicomwrite';
import { readAIforCOVID, readBrixia } from '../../ts/data/readers';
import { DataRecord } from '../../ts/data/records';
import { ImageWarnings } from '../../ts/data/warnings';
import type { Tensor } from '../../ts/tensor';
import { rejects, synthFixture, tmpDir } from './_fixture';

const S = 32;
let recs: DataRecord[] | undefined;
async function records(): Promise<DataRecord[]> {
  if (recs) return recs;
  const { afcRoot, bxRoot } = await synthFixture();
  recs = [...(await readAIforCOVID(afcRoot)).records.slice(0, 40), ...(await readBrixia(bxRoot)).records.slice(0, 80)];
  return recs;
}
async function collect(l: Loader, epoch: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of l.epoch(epoch)) out.push(b);
  return out;
}

test('batches: shapes, per-task labels with −1, indicator masks, dataset ids; every record once per epoch', async () => {
  const rs = await records();
  const byId = new Map(rs.map((r) => [r.id, r]));
  const l = new Loader(rs, { size: S, batchSize: 16, train: true, seed: 1, workers: 2, log: () => {} });
  const bs = await collect(l, 0);
  await l.close();
  assert.is(bs.length, Math.ceil(rs.length / 16));
  assert.is(l.length, bs.length);
  const seen = bs.flatMap((b) => b.ids);
  assert.equal([...seen].sort(), rs.map((r) => r.id).sort());
  let mixed = 0;
  for (const b of bs) {
    assert.is(b.images.length, b.n * 3 * S * S);
    assert.ok(b.images.every(Number.isFinite));
    b.ids.forEach((id, i) => {
      const r = byId.get(id)!;
      const afc = r.task === 'AFC';
      assert.is(b.datasetIds[i], afc ? 0 : 1);
      assert.is(b.labels.afc[i], afc ? r.label : -1);
      assert.is(b.labels.bx[i], afc ? -1 : r.label);
      assert.is(b.masks.afc[i], afc ? 1 : 0);
      assert.is(b.masks.bx[i], afc ? 0 : 1);
    });
    if (b.datasetIds.includes(0) && b.datasetIds.includes(1)) mixed++;
  }
  assert.ok(mixed >= bs.length - 2, `batches mix the data sets at random (${mixed}/${bs.length})`);
});

test('fixed ratio: every batch has round(f·B) AFC samples', async () => {
  const rs = await records();
  const l = new Loader(rs, { size: S, batchSize: 16, train: true, mix: { afcFraction: 0.5 }, workers: 0, augment: false, log: () => {} });
  for (const b of await collect(l, 2)) assert.is(b.datasetIds.filter((d) => d === 0).length, 8);
  assert.throws(() => new Loader(rs, { mix: { afcFraction: 1.5 } }), /afcFraction/);
});

test('evaluation sees every record exactly once: a fixed τ1 fraction is refused outside training', async () => {
  const rs = await records();
  // a fixed fraction draws records cyclically: 40 AFC + 80 BX at 0.5 counts AFC records twice and drops BX ones
  const tr = new Loader(rs, { size: S, batchSize: 16, train: true, mix: { afcFraction: 0.5 }, workers: 0, augment: false, log: () => {} });
  const drawn = tr.plan(0).flat().map((r) => r.id);
  assert.ok(new Set(drawn).size < rs.length || drawn.length !== rs.length, 'training plan with a fixed fraction is not a permutation');
  assert.throws(() => new Loader(rs, { train: false, mix: { afcFraction: 0.5 } }), /mix\.afcFraction 0\.5 is for training loaders: evaluation .* exactly once/);
  const ev = new Loader(rs, { size: S, batchSize: 16, train: false, mix: 'proportional', workers: 0, log: () => {} });
  const ids = ev.plan(0).flat().map((r) => `${r.task} ${r.id}`);
  assert.equal(ids, rs.map((r) => `${r.task} ${r.id}`), 'every record once, in order');
});

test('deterministic: same seed → same batches; workers and this thread give the same pixels; cache changes nothing', async () => {
  const rs = (await records()).slice(30, 60);
  const mk = (workers: number, cache: 'memory' | 'none') => new Loader(rs, { size: S, batchSize: 8, train: true, seed: 4, workers, cache, log: () => {} });
  const a = mk(2, 'memory'), b = mk(0, 'none');
  const a0 = await collect(a, 0), a1 = await collect(a, 1); // epoch 1 runs from the cache
  const b0 = await collect(b, 0), b1 = await collect(b, 1);
  await a.close();
  assert.is(a.report().cached, rs.length);
  for (const [x, y] of [[a0, b0], [a1, b1]]) {
    assert.equal(x.map((q) => q.ids), y.map((q) => q.ids));
    x.forEach((q, i) => assert.equal(q.images, y[i].images));
  }
  assert.not.equal(a0.map((q) => q.ids), a1.map((q) => q.ids), 'epochs reshuffle');
});

test('evaluation batches are the plain preprocessed images (no augmentation), in record order', async () => {
  const rs = (await records()).slice(0, 6);
  const l = new Loader(rs, { size: S, batchSize: 4, workers: 0, cache: 'none', log: () => {} });
  const bs = await collect(l, 0);
  assert.equal(bs.flatMap((b) => b.ids), rs.map((r) => r.id));
  const r = rs[1];
  const p = preprocess(await readImage(r.image), { mask: await readImage(r.mask!) }, { size: S });
  const want = new Float32Array(3 * S * S);
  toInput(p.image, want);
  const got = bs[0].images.subarray(3 * S * S, 6 * S * S);
  let m = 0;
  for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(got[i] - want[i]));
  // the cache keeps [0,1] as uint16: ≤ 0.5/65535 before normalisation, ÷ std 0.225 after → 3.4e-5
  assert.ok(m < 3.5e-5, `max |loader − preprocess| = ${m}`);
});

test('disk cache: a second loader reads the preprocessed pixels from files', async () => {
  const rs = (await records()).slice(0, 10);
  const dir = tmpDir('cache');
  const opts = { size: S, batchSize: 5, workers: 0, cache: 'disk' as const, cacheDir: dir, log: () => {} };
  const first = await collect(new Loader(rs, opts), 0);
  assert.is(fs.readdirSync(dir).filter((f) => f.endsWith('.u16')).length, rs.length);
  const moved = rs.map((r) => ({ ...r, image: r.image })); // same keys
  const second = await collect(new Loader(moved, opts), 0);
  first.forEach((b, i) => assert.equal(b.images, second[i].images));
  // an edited image (new mtime) is decoded again under a new key
  const t = new Date(Date.now() + 60_000);
  fs.utimesSync(rs[0].image, t, t);
  await collect(new Loader(rs, opts), 0);
  assert.is(fs.readdirSync(dir).filter((f) => f.endsWith('.u16')).length, rs.length + 1);
  assert.throws(() => new Loader(rs, { cache: 'disk' }), /cacheDir/);
});

test('disk cache: an image read from its cache file says its preprocessing warning again (a sweep\'s later runs said none)', async () => {
  const rs = (await records()).slice(0, 4).map((r, i) => (i % 2 ? r : { ...r, mask: undefined, box: undefined }));
  const dir = tmpDir('cache-warn');
  const run = async () => {
    const logs: string[] = [];
    const l = new Loader(rs, { size: S, batchSize: 4, workers: 0, cache: 'disk', cacheDir: dir, log: (m) => logs.push(m) });
    await l.scan();
    await l.close();
    return { logs, warnings: l.report().warnings };
  };
  const first = await run(), second = await run();
  assert.is(first.warnings.length, 2, 'the two images without a mask');
  assert.equal(second.warnings, first.warnings, 'the same warnings from the cache files');
  assert.equal(second.logs, first.logs);
  const file = path.join(dir, cacheKey({ image: rs[0].image, size: S, pre: {} }));
  const b = fs.readFileSync(file);
  assert.is(b.subarray(S * S * 2 + 8).toString('utf8'), 'no lung mask or box: using the whole image', 'kept after the pixels and their checksum');
  fs.writeFileSync(file, Buffer.concat([b.subarray(0, S * S * 2 + 8), Buffer.from('a forged warning')]));
  const out = new SharedArrayBuffer(3 * S * S * 4);
  const res = await runSample({ id: rs[0].id, image: rs[0].image, size: S, pre: {}, wantCache: false, cacheDir: dir, aug: null, normalize: false, out, offset: 0 });
  assert.not.ok(res.fromDisk, 'an edited warning fails the checksum: decoded again');
  assert.is(res.warning, `${rs[0].image}: no lung mask or box: using the whole image`);
});

test('disk cache: an entry written by an older decoder (before DECODER_VERSION) is decoded again, not served', async () => {
  const [r] = await records();
  const dir = tmpDir('cache-old');
  const task = { id: r.id, image: r.image, mask: r.mask, box: r.box, size: S, pre: {} };
  // the key as mdmt wrote it before the decoders had a version (PNG/JPEG then ignored EXIF orientation)
  const stamp = (f?: string) => (f ? `${fs.statSync(f).size}:${fs.statSync(f).mtimeMs}` : '');
  const old = crypto.createHash('sha1').update(JSON.stringify([path.resolve(r.image), stamp(r.image), r.mask ?? '', stamp(r.mask), r.box ?? '', S, {}])).digest('hex');
  fs.writeFileSync(path.join(dir, `${old.slice(0, 20)}.u16`), Buffer.alloc(S * S * 2)); // a stale, black entry
  const out = new SharedArrayBuffer(3 * S * S * 4);
  const res = await runSample({ ...task, wantCache: false, cacheDir: dir, aug: null, normalize: false, out, offset: 0 });
  assert.not.ok(res.fromDisk, 'the stale entry is not read');
  assert.ok(new Float32Array(out).some((v) => v > 0), 'the image is decoded');
  assert.ok(fs.existsSync(path.join(dir, cacheKey(task))));
});

test('disk cache: a file DECODER_VERSION 6 read and the decoders now refuse (a RescaleSlope of two values) is refused, not served from its old entry', async () => {
  const dir = tmpDir('cache-v6');
  const image = path.join(dir, 'slope-two.dcm');
  const px = Uint16Array.from({ length: S * S }, (_, i) => (i * 37) % 4001);
  // what version 6 cached for it: its first slope (2) applied, which the 2–98 % clip makes the same pixels as any positive slope
  fs.writeFileSync(image, writeDicom({ width: S, height: S, pixels: px, slope: '2' }));
  const task = { id: 'slope-two', image, size: S, pre: {} };
  const run = () => runSample({ ...task, wantCache: false, cacheDir: dir, aug: null, normalize: false, out: new SharedArrayBuffer(3 * S * S * 4), offset: 0 });
  await run();
  const entry = fs.readFileSync(path.join(dir, cacheKey(task)));
  fs.writeFileSync(image, writeDicom({ width: S, height: S, pixels: px, slope: '2\\0.5' }));
  const st = fs.statSync(image);
  const v6 = crypto.createHash('sha1')
    .update(JSON.stringify([6, 'u16+sha1/8+warning', path.resolve(image), `${st.size}:${st.mtimeMs}:${st.ctimeMs}`, '', '', '', S, {}]))
    .digest('hex');
  fs.writeFileSync(path.join(dir, `${v6.slice(0, 20)}.u16`), entry); // the entry version 6 left behind, whole
  const e = await rejects(run);
  assert.is(e.code, 'EDATA', `refused as a fresh decode refuses it, not served from the cache: ${e.message}`);
  assert.match(e.message, /RescaleSlope \(0028,1053\) is '2\\0\.5'/);
});

test('disk cache: a file of the right length but not the bytes written (a crash before the disk had them) is decoded again', async () => {
  const [r] = await records();
  const dir = tmpDir('cache-torn');
  const task = { id: r.id, image: r.image, mask: r.mask, box: r.box, size: S, pre: {} };
  const run = async () => {
    const out = new SharedArrayBuffer(3 * S * S * 4);
    const res = await runSample({ ...task, wantCache: false, cacheDir: dir, aug: null, normalize: false, out, offset: 0 });
    return { res, pixels: new Float32Array(out) };
  };
  const first = await run();
  const file = path.join(dir, cacheKey(task));
  const whole = fs.readFileSync(file);
  assert.is(whole.length, S * S * 2 + 8, 'the pixels and their checksum');
  assert.ok((await run()).res.fromDisk, 'a whole file is read');
  for (const torn of [Buffer.alloc(whole.length), Buffer.concat([whole.subarray(0, S * S), Buffer.alloc(S * S), whole.subarray(S * S * 2)])]) {
    fs.writeFileSync(file, torn); // zeros, or the second half lost: the length is right
    const again = await run();
    assert.not.ok(again.res.fromDisk, 'a file that fails its checksum is not served');
    assert.equal(again.pixels, first.pixels, 'the image is decoded again');
    assert.equal(fs.readFileSync(file), whole, 'and the file rewritten');
  }
});

test('disk cache: an image replaced keeping its size and mtime (cp -p, touch -r) is decoded again', async () => {
  const rs = await records();
  const [a, b] = [rs[0], rs.find((x) => x !== rs[0] && fs.statSync(x.image).size === fs.statSync(rs[0].image).size)];
  if (!b) throw new Error('the fixture has no two images of one size');
  const dir = tmpDir('cache-replaced');
  const image = path.join(dir, `image${path.extname(a.image)}`);
  const when = 1_700_000_000; // whole seconds: set back exactly
  fs.copyFileSync(a.image, image);
  fs.utimesSync(image, when, when);
  const task = { id: a.id, image, size: S, pre: {} };
  const before = cacheKey(task);
  const st = fs.statSync(image);
  await new Promise((done) => setTimeout(done, 30)); // past the file system's clock tick
  fs.copyFileSync(b.image, image);
  fs.utimesSync(image, when, when);
  assert.is(fs.statSync(image).size, st.size);
  assert.is(fs.statSync(image).mtimeMs, st.mtimeMs);
  assert.is.not(cacheKey(task), before, 'another image under the same size and mtime gets another key');
});

test('disk cache: a cache file the disk cannot take is an EIO naming it, and its temporary file is removed', async () => {
  const [r] = await records();
  const dir = tmpDir('cache-full');
  const task = { id: r.id, image: r.image, mask: r.mask, box: r.box, size: S, pre: {} };
  const out = new SharedArrayBuffer(3 * S * S * 4);
  const real = nodeFs.writeFileSync;
  // a full disk: the temporary file is created, part of it written, then ENOSPC
  (nodeFs as unknown as Record<string, unknown>).writeFileSync = ((f: fs.PathOrFileDescriptor, d: Uint8Array, o?: fs.WriteFileOptions) => {
    if (!String(f).startsWith(dir)) return real(f, d, o);
    real(f, d.subarray(0, 8));
    throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { code: 'ENOSPC' });
  }) as typeof fs.writeFileSync;
  try {
    const e = await rejects(() => runSample({ ...task, wantCache: false, cacheDir: dir, aug: null, normalize: false, out, offset: 0 }));
    assert.is(e.code, 'EIO', e.message);
    assert.match(e.message, `cannot write the image cache file ${path.join(dir, cacheKey(task))} (of ${r.image}): ENOSPC`);
  } finally {
    (nodeFs as unknown as Record<string, unknown>).writeFileSync = real;
  }
  assert.equal(fs.readdirSync(dir), [], 'no temporary file is left holding the space');
});

/** 12 records, record `truncated` pointing at a truncated copy of its DICOM and `missing` at no file. */
async function withBadImages(tag: string, truncated: number, missing: number): Promise<{ rs: DataRecord[]; broken: string }> {
  const rs = (await records()).slice(0, 12).map((r) => ({ ...r }));
  const dir = tmpDir(tag);
  const broken = path.join(dir, 'broken.dcm');
  fs.writeFileSync(broken, fs.readFileSync(rs[truncated].image).subarray(0, 400));
  rs[truncated].image = broken;
  rs[missing].image = path.join(dir, 'missing.dcm');
  return { rs, broken };
}

test('bad records: error mode names the file; skip mode drops, counts and reports them', async () => {
  const { rs, broken } = await withBadImages('badrec', 3, 7);
  const e = await rejects(() => collect(new Loader(rs, { size: S, batchSize: 4, workers: 2, log: () => {} }), 0));
  assert.instance(e, MdmtError);
  assert.ok(e.message.includes(broken) || e.message.includes('missing.dcm'), e.message);
  const logs: string[] = [];
  const l = new Loader(rs, { size: S, batchSize: 4, workers: 2, onBadRecord: 'skip', log: (m) => logs.push(m) });
  const bs = await collect(l, 0);
  await l.close();
  assert.is(bs.reduce((a, b) => a + b.n, 0), rs.length - 2);
  const rep = l.report();
  assert.is(rep.skipped.length, 2);
  assert.equal(rep.skipped.map((s) => s.id).sort(), [rs[3].id, rs[7].id].sort());
  assert.ok(rep.skipped.some((s) => /truncated|not a readable/.test(s.error)));
  assert.ok(rep.skipped.some((s) => /missing\.dcm/.test(s.error)));
  assert.ok(logs.some((m) => /2 record\(s\) skipped/.test(m)), 'the count is reported at the end');
  const again = await collect(l, 1);
  assert.is(again.reduce((a, b) => a + b.n, 0), rs.length - 2, 'skipped records stay out of later epochs');
  await l.close();
});

test('scan() reads every record once and returns all bad ones: error mode leaves the loader failing, skip mode drops them', async () => {
  const { rs } = await withBadImages('scan', 3, 10);
  for (const workers of [0, 2]) {
    const logs: string[] = [];
    const strict = new Loader(rs, { size: S, batchSize: 4, workers, log: (m) => logs.push(m) });
    const bad = await strict.scan();
    assert.equal(bad.map((b) => b.id), [rs[3].id, rs[10].id], 'both bad records, in order');
    assert.match(bad[1].error, 'missing.dcm');
    assert.equal(logs, [], 'error mode: nothing said as skipped');
    assert.is(strict.report().cached, 10, 'the good records are in the cache');
    assert.instance(await rejects(() => collect(strict, 1)), MdmtError, 'error mode: an epoch still fails at them');
    await strict.close();
    const lenient = new Loader(rs, { size: S, batchSize: 4, workers, onBadRecord: 'skip', log: (m) => logs.push(m) });
    assert.is((await lenient.scan()).length, 2);
    assert.is((await collect(lenient, 1)).reduce((a, b) => a + b.n, 0), rs.length - 2, 'skip mode: left out of the epochs');
    assert.equal(await lenient.scan(), [], 'a second scan finds nothing new');
    await lenient.close();
  }
});

test('image warnings: a kind once, with its first image, then one line counting the rest (a data set without masks printed one per image)', async () => {
  const rs = (await records()).slice(0, 9).map((r) => ({ ...r, mask: undefined, box: undefined }));
  const logs: string[] = [];
  const l = new Loader(rs, { size: S, batchSize: 4, workers: 0, log: (m) => logs.push(m) });
  await l.scan();
  assert.equal(logs, [
    `warning: ${rs[0].id}: ${rs[0].image}: no lung mask or box: using the whole image`,
    'warning: 8 more images: no lung mask or box: using the whole image (9 image warnings in all; loader.report().warnings lists them)',
  ]);
  assert.is(l.report().warnings.length, 9, 'every warning is kept');
  await l.close();
  assert.is(logs.length, 2, 'close() has nothing more to say');
});

test('image warnings shared by loaders (train()\'s train, val and test parts): printed once, counted by their owner', async () => {
  const rs = (await records()).slice(0, 9).map((r) => ({ ...r, mask: undefined, box: undefined }));
  const logs: string[] = [];
  const shared = new ImageWarnings((m) => logs.push(m));
  const parts = [rs.slice(0, 4), rs.slice(4, 7), rs.slice(7)].map((p) => new Loader(p, { size: S, batchSize: 4, workers: 0, log: (m) => logs.push(m), warnings: shared }));
  for (const l of parts) await l.scan();
  assert.equal(logs, [`warning: ${rs[0].id}: ${rs[0].image}: no lung mask or box: using the whole image`], 'the loaders leave the count to the owner');
  shared.flush();
  assert.equal(logs.slice(1), ['warning: 8 more images: no lung mask or box: using the whole image (9 image warnings in all)']);
  for (const l of parts) await l.close();
  assert.is(logs.length, 2);
  assert.equal(parts.map((l) => l.report().warnings.length), [4, 3, 2], 'each loader keeps its own');
});

test('ImageWarnings: each kind\'s first image in full up to five lines, then counts per kind and for the other kinds', () => {
  const logs: string[] = [];
  const w = new ImageWarnings((m) => logs.push(m), 'see X');
  for (let i = 0; i < 7; i++) w.add(`m${i}`, `/d/m${i}.png`, `lung mask is ${i}×9, the image 9×${i}`);  // a kind per image
  w.add('a', undefined, 'no lung mask or box: using the whole image');
  w.add('b', '/d/b.png', 'lung mask is 0×9, the image 9×0');
  w.add('c', '/d/c.png', 'lung mask is 0×9, the image 9×0');
  assert.equal(logs, [0, 1, 2, 3, 4].map((i) => `warning: m${i}: /d/m${i}.png: lung mask is ${i}×9, the image 9×${i}`));
  w.flush();
  assert.equal(logs.slice(5), [
    'warning: 2 more images: lung mask is 0×9, the image 9×0 (10 image warnings in all; see X)',
    'warning: 3 more images with other warnings (10 image warnings in all; see X)',
  ]);
  w.flush();
  assert.is(logs.length, 7, 'a second flush repeats nothing');
  w.add('d', '/d/d.png', 'lung mask is 0×9, the image 9×0');
  w.flush();
  assert.equal(logs.slice(7), ['warning: 1 more image: lung mask is 0×9, the image 9×0 (11 image warnings in all; see X)']);
});

test('a worker thread that dies fails its batch with a named error and is replaced', async () => {
  // cold samples (cache 'none'), so worker 0 still has queued chunks when it is killed
  const rs = (await records()).slice(0, 32);
  const l = new Loader(rs, { size: S, batchSize: 16, workers: 2, cache: 'none', log: () => {} });
  await collect(l, 0);
  const pool = (l as unknown as { pool: { kill(i: number): Promise<void> } }).pool;
  const running = collect(l, 1);
  await pool.kill(0);
  const e = await rejects(() => running);
  assert.match(e.message, /data worker thread 0 died/);
  const again = await collect(l, 2);
  assert.is(again.reduce((a, b) => a + b.n, 0), rs.length);
  await l.close();
});

test('an error thrown mid-epoch reaches the caller after close(): the process does not exit early with code 0', async () => {
  // The main thread blocks (as a training step does) while the worker answers, then throws; the
  // caller awaits close() in a finally. The terminating worker does not keep the event loop
  // alive, so before the fix the child exited with code 0 without printing the rejection.
  const rs = (await records()).slice(0, 24);
  const dir = tmpDir('loader-exit');
  const recFile = path.join(dir, 'records.json');
  fs.writeFileSync(recFile, JSON.stringify(rs));
  const script = `
    const { Loader } = require(${JSON.stringify(path.join(__dirname, '../../ts/data/loader.js'))});
    (async () => {
      const l = new Loader(require(${JSON.stringify(recFile)}), { train: true, batchSize: 8, size: ${S}, workers: 1, cache: 'none', log: () => {} });
      try {
        for await (const b of l.epoch(0)) { const t = Date.now(); while (Date.now() - t < 300); throw new Error('boom after ' + b.n); }
      } finally { await l.close(); }
    })().catch((e) => { console.log('rejected: ' + e.message); process.exitCode = 3; });`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.is(r.stdout.trim(), 'rejected: boom after 8', `child stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`);
  assert.is(r.status, 3);
});

test('toTensors uploads a batch with the right shapes and dtypes', async () => {
  let binding: typeof import('../../ts/native/binding');
  try {
    binding = await import('../../ts/native/binding');
    binding.native();
  } catch (e) {
    console.log(`  [skip] toTensors: native engine unavailable (${(e as Error).message})`);
    return;
  }
  const rs = (await records()).slice(38, 44);
  const [b] = await collect(new Loader(rs, { size: S, batchSize: 6, workers: 0, log: () => {} }), 0);
  const t = toTensors(b, 'cpu');
  try {
    assert.equal(t.images.shape, [6, 3, S, S]);
    assert.is(t.afcLabels.dtype, 'int32');
    assert.is(t.afcMask.dtype, 'float32');
    assert.equal(Array.from(t.bxLabels.toArray() as Int32Array), Array.from(b.labels.bx));
    const img = t.images.toArray() as Float32Array;
    assert.equal(img.subarray(0, 100), b.images.subarray(0, 100));
  } finally {
    for (const x of Object.values(t) as Tensor[]) x.dispose();
  }
});

test.run();
