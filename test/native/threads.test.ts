/**
 * The addon under worker_threads: every Worker loads the same library, so its tensor and
 * plan tables and the run-directory claims are the process's, shared by the threads. Workers
 * allocating and freeing at once keep each their own tensors (the unguarded table told one a
 * live tensor was disposed); a Worker terminated mid-training leaves nothing allocated; and a
 * run directory one thread has locked is busy for another thread, while the lock a terminated
 * Worker left is taken over.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'worker_threads';
import { native } from '../../ts/native/binding';
import { busyMessage, lockHolder, tryLock, unlock } from '../../ts/train/lock';
import { DEVICE } from '../helpers';

const on = DEVICE === 'cpu';
/** The library's folder as this suite was compiled (dist/ts) or run from source (ts/, through tsx). */
const lib = path.resolve(__dirname, '..', '..', 'ts');

/** A Worker running `body` (an async function body; `lib`, `workerData` and `post` in scope). */
function worker(body: string, workerData?: unknown): Worker {
  const pre = __filename.endsWith('.ts') ? `require(${JSON.stringify(require.resolve('tsx/cjs'))});` : '';
  return new Worker(`${pre} const lib = ${JSON.stringify(lib)}; const { parentPort, workerData } = require('worker_threads');
    const post = (m) => parentPort.postMessage(m);
    (async () => { ${body} })().then((ok) => post({ ok }), (e) => post({ error: String(e && e.message || e) }));`, { eval: true, workerData });
}

/** The next message of `w` (an error event rejects). */
function message(w: Worker): Promise<{ ok?: unknown; error?: string } & Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
}

const liveCpu = () => native().memStats('cpu').liveTensors;

test('three workers allocating, reading and freeing tensors at once each keep their own', async () => {
  if (!on) return;
  // batches that grow and shrink the table (rehashing it) while the other threads use it
  const body = `const n = require(lib + '/native/binding').native();
    for (let round = 0; round < 40; round++) {
      const ids = [];
      for (let i = 0; i < 1500; i++) ids.push(n.alloc([1 + (i % 7)], 'float32', 'cpu'));
      ids.forEach((id, i) => { if (n.info(id).shape[0] !== 1 + (i % 7)) throw new Error("tensor #" + id + " is another thread's"); });
      for (const id of ids) n.free(id);
    }
    return 'done';`;
  const ws = [0, 1, 2].map(() => worker(body));
  const got = await Promise.all(ws.map(message));
  await Promise.all(ws.map((w) => w.terminate()));
  assert.equal(got.map((m) => m.error ?? m.ok), ['done', 'done', 'done']);
});

test('a worker terminated in the middle of training leaves no tensor or plan allocated', async () => {
  if (!on) return;
  const before = liveCpu();
  const w = worker(`const { nn, tensor, tidy, backward, compileStep, optim, ops } = require(lib + '/index');
    const net = new nn.Sequential(new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.BatchNorm2d(8), new nn.ReLU(),
      new nn.GlobalAvgPool2d(), new nn.Flatten(), new nn.Linear(8, 2));
    const opt = new optim.Adam(net.parameters());
    const x = tensor(new Float32Array(4 * 16 * 16).map((_, i) => Math.sin(i)), [4, 1, 16, 16]);
    const y = tensor([0, 1, 1, 0], [4], { dtype: 'int32' }), m = tensor([1, 1, 1, 1], [4]);
    const step = compileStep(([a, b, c]) => { const l = ops.maskedXent(net.forward(a), b, c); backward(l); opt.step(); opt.zeroGrad(); return [l]; });
    for (let i = 0; ; i++) {
      tidy(() => step.run([x, y, m])[0].item());
      if (i === 3) post({ training: require(lib + '/native/binding').native().memStats('cpu').liveTensors });
      await new Promise((r) => setImmediate(r));
    }`);
  const m = await message(w);
  assert.ok(Number(m.training) > before + 20, `the worker holds its model, optimiser and plan: ${String(m.training)} live tensors, ${before} before`);
  await w.terminate();
  assert.is(liveCpu(), before, 'what the terminated worker allocated is freed with its environment');
});

test('workers terminated while they call into the addon do not abort the process', () => {
  if (!on) return;
  // a native call returning into a terminating Worker cannot throw its JS exception; node-addon-api
  // threw a second one out of its own catch (std::terminate: "terminate called after throwing an
  // instance of 'Napi::Error'", the whole process aborted) unless NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
  const script = `const { Worker } = require('worker_threads'); const lib = ${JSON.stringify(lib)};
    (async () => {
      for (let i = 0; i < 40; i++) {
        const w = new Worker(\`const n = require(\${JSON.stringify(lib)} + '/native/binding').native();
          require('worker_threads').parentPort.postMessage('go');
          for (;;) { try { n.free(-5); } catch {} try { n.info(999999999); } catch {} n.free(n.alloc([16], 'float32', 'cpu')); }\`, { eval: true });
        await new Promise((r) => w.once('message', r));
        await new Promise((r) => setTimeout(r, (i % 5) + 0.5));
        await w.terminate();
      }
      console.log('survived');
    })();`;
  const r = spawnSync(process.execPath, [...(__filename.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : []), '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.is(r.signal, null, `the process died by ${r.signal}: ${r.stderr.slice(0, 300)}`);
  assert.is(r.status, 0, r.stderr.slice(0, 300));
  assert.match(r.stdout, 'survived');
});

test('a run directory locked by one thread is busy for another; a terminated worker\'s lock is taken over', async () => {
  if (!on) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mdmt-threads-lock-'));
  try {
    assert.ok(tryLock(dir));
    const probe = `const l = require(lib + '/train/lock'); return { took: l.tryLock(workerData), mine: l.lockHolder(workerData).mine, busy: l.busyMessage(workerData) };`;
    let w = worker(probe, dir);
    const seen = (await message(w)).ok as { took: boolean; mine: boolean; busy: string };
    await w.terminate();
    assert.is(seen.took, false, 'the worker must not take the main thread\'s lock (same pid) for its own');
    assert.is(seen.mine, false, 'train() in the worker would skip locking a directory it thinks it holds');
    assert.match(seen.busy, `${dir} is being trained by another thread of this process`);
    assert.ok(lockHolder(dir)?.mine, 'still the main thread\'s');
    unlock(dir);

    // the worker locks it and is terminated before its finally runs: the lock file stays, naming this pid
    // (the interval keeps it alive: a worker whose event loop empties exits by itself, and its claim goes with it)
    w = worker(`const l = require(lib + '/train/lock'); post({ took: l.tryLock(workerData) }); setInterval(() => {}, 1 << 30); await new Promise(() => {});`, dir);
    assert.equal(await message(w), { took: true });
    assert.not.ok(tryLock(dir), 'busy while the worker lives');
    assert.match(busyMessage(dir), 'another thread of this process');
    await w.terminate();
    assert.is(fs.readFileSync(path.join(dir, '.lock'), 'utf8'), `${process.pid} ${os.hostname()}`, 'left behind');
    assert.ok(tryLock(dir), 'taken over once its thread is gone');
    unlock(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
