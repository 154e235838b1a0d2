// What a long-lived process sees over many calls: train() and predict() give back what they
// took (tensors, data-loader worker threads, file descriptors, process listeners, the default
// device, the run-directory lock) on success and when they fail, whatever the failure.
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { predict } from '../../ts/predict/predict';
import { getDefaultDevice, liveTensorCount } from '../../ts/tensor';
import { train } from '../../ts/train/train';
import { rejects } from '../data/_fixture';
import { fakeRun, greyPng } from '../predict/_fixture';
import { deviceAvailable } from '../helpers';
import { BACKBONE, tinyBase, tmpDir } from './_fixture';

const on = deviceAvailable('train/release');

/**
 * Asserts nothing more is held than `before`, once the threads of this call's data workers
 * have been joined (a terminated worker's thread and its descriptors go a little later, so
 * this waits up to 3 s): threads and descriptors may only be fewer (one of an earlier call
 * may still have been exiting when `before` was taken), the rest must be equal.
 */
async function assertNoMore(before: Record<string, number>): Promise<void> {
  const fine = (n: Record<string, number>) => n.threads <= before.threads && n.fds <= before.fds;
  let now = held();
  for (let i = 0; i < 30 && !fine(now); i++) {
    await new Promise((r) => setTimeout(r, 100));
    now = held();
  }
  assert.ok(now.threads <= before.threads, `${now.threads} threads now, ${before.threads} before`);
  assert.ok(now.fds <= before.fds, `${now.fds} file descriptors now, ${before.fds} before`);
  assert.equal({ ...now, threads: 0, fds: 0 }, { ...before, threads: 0, fds: 0 });
}

/** What one process holds: live tensors, threads, descriptors and signal/exit listeners. */
function held(): Record<string, number> {
  const count = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).length : 0);
  return {
    tensors: liveTensorCount(), threads: count('/proc/self/task'), fds: count('/proc/self/fd'),
    ...Object.fromEntries(['SIGINT', 'SIGTERM', 'exit', 'uncaughtException'].map((s) => [s, process.listenerCount(s)])),
  };
}

test('train() whose onEnd hook throws still frees the model, plans and data workers, and restores the device', async () => {
  if (!on) return;
  const base = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const, workers: 1, schedule: { maxEpochs: 1, warmupEpochs: 0 } };
  const root = tmpDir('release-onend');
  const device = getDefaultDevice();
  await train({ ...base, outDir: path.join(root, 'warm') }); // native thread pool and module state, once
  const before = held();
  for (let i = 0; i < 2; i++) {
    const outDir = path.join(root, `run${i}`);
    const e = await rejects(() => train({ ...base, outDir }, { onEnd: () => { throw new Error('hook failed'); } }));
    assert.is(e.message, 'hook failed');
    assert.is(getDefaultDevice(), device);
    assert.not.ok(fs.existsSync(path.join(outDir, '.lock')), 'the run-directory lock is released');
  }
  // before: 695 tensors, 3 worker threads and 12 descriptors more per call
  await assertNoMore(before);
});

test('predict() that fails before scoring (device unavailable, batch too big to plan) frees its model', async () => {
  const run = fakeRun('release-predict');
  const img = await greyPng(tmpDir('release-predict-img'));
  await predict([img], { run, device: 'cpu' }); // module state, once
  const before = held();
  // cuda:63 exists on no machine; a batch of 10⁴ images at 2048 px is 500 GB (the plan is traced
  // at min(batchSize, images): as many images as the batch, one file named 10⁴ times)
  const fails: [string[], Parameters<typeof predict>[1]][] = [
    [[img], { run, device: 'cuda:63' }],
    [Array<string>(10_000).fill(img), { weights: path.join(run, 'best.safetensors'), imageSize: 2048, batchSize: 10_000, device: 'cpu' }],
  ];
  for (const [images, o] of fails) {
    const e = await rejects(() => predict(images, o));
    assert.ok(['EDEVICE', 'ENOMEM'].includes(String(e.code)), e.message);
  }
  // before: the 338 tensors of the model stayed alive per failed call
  await assertNoMore(before);
});

test.run();
