// Cancellation by AbortSignal: train(config, hooks, { signal }) stops between batches and
// between evaluation passes, rejects with AbortError (cause: signal.reason), releases the lock,
// frees every tensor, writes nothing of the unfinished epoch, and the same call without the
// signal resumes to the uninterrupted result; a pre-aborted signal does no work; experiment()
// with config.signal stops the whole sweep; a signal that is not an AbortSignal is refused.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { loadSafetensors } from '../../ts/io/safetensors';
import { liveTensorCount } from '../../ts/tensor';
import { AbortError } from '../../ts/train/abort';
import { experiment, type ExperimentConfig } from '../../ts/train/experiment';
import { lockHolder } from '../../ts/train/lock';
import { RUN_FILES, train } from '../../ts/train/train';
import type { TrainConfigInput } from '../../ts/train/config';
import { BACKBONE, tinyBase, tinyData, tmpDir } from './_fixture';
import { sweepConfig } from './_sweep';
import { deviceAvailable } from '../helpers';

/** the engine-using tests skip (with the reason printed) when $MDMT_DEVICE is unavailable */
const on = deviceAvailable('train/abort');

const rejection = (p: Promise<unknown>): Promise<Error> => p.then(() => { throw new Error('it resolved, not rejected'); }, (e: unknown) => e as Error);
const strip = (r: object): unknown => JSON.parse(JSON.stringify(r, (k, v: unknown) => (k === 'seconds' || k === 'liveTensors' ? undefined : v)));
const lines = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').filter(Boolean);

async function config(tag: string, maxEpochs: number): Promise<TrainConfigInput> {
  return { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_bx', outDir: path.join(tmpDir(tag), 'run'), schedule: { maxEpochs, warmupEpochs: 1, earlyStopping: 5, plateauPatience: 1 } };
}

test('aborted mid-epoch: AbortError with the reason as cause, lock released, tensors freed, and the same call resumes to the uninterrupted result', async () => {
  if (!on) return;
  const ref = await train(await config('abort-ref', 2));
  const cfg = await config('abort', 2);
  const ac = new AbortController();
  const reason = new Error('user pressed stop');
  const live = liveTensorCount();
  let after = 0;
  const e = await rejection(train(cfg, {
    onBatch: (b) => {
      if (ac.signal.aborted) after++;
      if (b.epoch === 2 && b.batch === 2) ac.abort(reason);
    },
  }, { signal: ac.signal }));
  assert.instance(e, AbortError);
  assert.is(e.name, 'AbortError');
  assert.is((e as AbortError).code, 'ABORT_ERR');
  assert.is(e.cause, reason, 'cause is signal.reason');
  assert.match(e.message, /^train: aborted in epoch 2 after 2 of \d+ batches/);
  assert.is(after, 0, 'no batch trained after the abort');
  assert.is(liveTensorCount(), live, 'model, optimiser and plans are freed');
  assert.is(lockHolder(cfg.outDir), undefined, 'the lock is released');
  assert.not.ok(fs.existsSync(path.join(cfg.outDir, RUN_FILES.result)));
  assert.is(lines(path.join(cfg.outDir, RUN_FILES.log)).length, 1, 'epoch 1 logged, nothing of epoch 2');

  const resumed = await train(cfg);
  assert.is(liveTensorCount(), live);
  assert.equal(strip(resumed.history), strip(ref.history), 'resumed = uninterrupted, every epoch');
  assert.equal(resumed.metrics, ref.metrics);
  assert.equal(resumed.best, ref.best);
});

test('aborted after the last batch: stops in the validation pass, before the epoch is logged or checkpointed', async () => {
  if (!on) return;
  const cfg = await config('abort-val', 1);
  const ac = new AbortController();
  const live = liveTensorCount();
  let batches = 0;
  const e = await rejection(train(cfg, { onStart: (s) => (batches = s.batchesPerEpoch), onBatch: (b) => { if (b.batch === batches) ac.abort(); } }, { signal: ac.signal }));
  assert.is(e.name, 'AbortError');
  assert.match(e.message, 'during the validation pass of epoch 1');
  assert.is(e.cause, ac.signal.reason, 'the default reason (a DOMException AbortError)');
  assert.is(liveTensorCount(), live);
  for (const f of [RUN_FILES.checkpoint, RUN_FILES.best, RUN_FILES.result]) assert.not.ok(fs.existsSync(path.join(cfg.outDir, f)), `no ${f}`);
  assert.is(lines(path.join(cfg.outDir, RUN_FILES.log)).length, 0);
  assert.is(lockHolder(cfg.outDir), undefined);
});

test('an already-aborted signal rejects before any work: nothing is created', async () => {
  const cfg = await config('abort-pre', 1);
  const e = await rejection(train(cfg, undefined, { signal: AbortSignal.abort('too late') }));
  assert.is(e.name, 'AbortError');
  assert.is(e.cause, 'too late');
  assert.not.ok(fs.existsSync(cfg.outDir), 'no run directory');
  const d = await tinyData();
  const runsDir = path.join(tmpDir('abort-pre-sweep'), 'runs');
  const e2 = await rejection(experiment({ ...sweepConfig(runsDir, d.afc, d.bx), signal: AbortSignal.abort('too late') }));
  assert.is(e2.name, 'AbortError');
  assert.is(e2.cause, 'too late');
  assert.not.ok(fs.existsSync(runsDir), 'no runs directory');
});

test("aborted while the split's images are read before training: stops there, not after reading them all", async () => {
  if (!on) return;
  const cfg = await config('abort-scan', 1);
  const ac = new AbortController();
  const before = liveTensorCount();
  const e = await rejection(train(cfg, { onLog: (m) => { if (m.includes('before training')) ac.abort('enough'); } }, { signal: ac.signal }));
  assert.is(e.name, 'AbortError', e.message);
  assert.is(e.cause, 'enough');
  assert.match(e.message, 'while reading the train images before training');
  assert.is(liveTensorCount(), before, 'the model and loaders are freed');
  assert.not.ok(lockHolder(cfg.outDir), 'the lock is released');
});

test('a signal that is not an AbortSignal, or given in the wrong place, is an error naming the option', async () => {
  const cfg = await config('abort-bad', 1);
  const err = async (p: Promise<unknown>, code: string, msg: string) => {
    const e = await rejection(p);
    assert.instance(e, MdmtError);
    assert.is((e as MdmtError).code, code);
    assert.match(e.message, msg);
  };
  await err(train(cfg, undefined, { signal: new AbortController() as unknown as AbortSignal }), 'EINVAL', "train: options.signal must be an AbortSignal (new AbortController().signal), got an AbortController");
  await err(train(cfg, undefined, { signal: 'stop' as unknown as AbortSignal }), 'EINVAL', 'options.signal must be an AbortSignal');
  await err(train(cfg, undefined, { signl: AbortSignal.abort() } as never), 'EINVAL', "unknown option 'signl'");
  await err(train({ ...cfg, signal: AbortSignal.abort() } as never), 'EINVAL', "config.signal: an AbortSignal is train()'s third argument");
  await err(train(cfg, { signal: AbortSignal.abort() } as never), 'EINVAL', 'hooks.signal');
  assert.not.ok(fs.existsSync(cfg.outDir), 'nothing was started');
  const d = await tinyData();
  const sweep = sweepConfig(path.join(tmpDir('abort-bad-sweep'), 'runs'), d.afc, d.bx);
  await err(experiment({ ...sweep, signal: {} as AbortSignal }), 'ECONFIG', 'experiment: config.signal must be an AbortSignal');
  await err(experiment({ ...sweep, base: { ...sweep.base, signal: AbortSignal.abort() } } as ExperimentConfig), 'ECONFIG', 'config.base.signal');
});

test('experiment(): an abort stops the whole sweep (the current job stops, no further job starts); finished jobs are kept', async () => {
  if (!on) return;
  const d = await tinyData();
  const runsDir = path.join(tmpDir('abort-sweep'), 'runs');
  const ac = new AbortController();
  const base = sweepConfig(runsDir, d.afc, d.bx);
  const sweep: ExperimentConfig = {
    ...base, experiments: ['stl_afc', 'stl_bx', 'ft'], signal: ac.signal,
    base: { ...base.base, schedule: { maxEpochs: 1, warmupEpochs: 0 } },
    // the second job (stl_bx) is aborted in its first epoch; ft, which needs it, must not start
    hooksFor: (j) => ({ onBatch: (b) => { if (j.experiment === 'stl_bx' && b.batch === 2) ac.abort('enough'); } }),
  };
  const live = liveTensorCount();
  const e = await rejection(experiment(sweep));
  assert.is(e.name, 'AbortError');
  assert.is(e.cause, 'enough');
  assert.match(e.message, /^experiment: aborted in job cv\/\S+\/stl_bx\/fold0, 1 job trained by this call kept; no further job started: train: aborted in epoch 1/);
  assert.is(liveTensorCount(), live);
  const job = (x: string) => path.join(runsDir, 'cv', BACKBONE, x, 'fold0');
  assert.ok(fs.existsSync(path.join(job('stl_afc'), RUN_FILES.result)), 'the finished job is kept');
  assert.not.ok(fs.existsSync(path.join(job('stl_bx'), RUN_FILES.result)));
  assert.is(lockHolder(job('stl_bx')), undefined, 'the aborted job is unlocked');
  assert.not.ok(fs.existsSync(job('ft')), 'ft never started');
  const log = fs.readFileSync(path.join(runsDir, 'sweep.log'), 'utf8');
  assert.match(log, / aborted cv\/\S+\/stl_bx\/fold0/);
  assert.not.match(log, / failed /, 'an abort is not a failed job');
  assert.not.match(log, / ft\//);
});

test('experiment(): an abort while waiting for another process\'s job stops at once, not after pollMs', async () => {
  const d = await tinyData();
  const runsDir = path.join(tmpDir('abort-wait'), 'runs');
  const sweep = { ...sweepConfig(runsDir, d.afc, d.bx), experiments: ['stl_bx'] as ExperimentConfig['experiments'], pollMs: 60_000 };
  // the only job is held by a live process (this test's parent): the sweep waits for it
  const dir = path.join(runsDir, 'cv', BACKBONE, 'stl_bx', 'fold0');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, '.lock'), `${process.ppid} ${os.hostname()}`);
  const ac = new AbortController();
  const t0 = Date.now();
  const e = await rejection(experiment({ ...sweep, signal: ac.signal, log: (m) => { if (m.startsWith('waiting')) setTimeout(() => ac.abort(), 50); } }));
  assert.is(e.name, 'AbortError');
  assert.match(e.message, 'while waiting for other processes\' jobs');
  assert.ok(Date.now() - t0 < 30_000, `stopped in ${Date.now() - t0} ms`);
  assert.ok(fs.existsSync(path.join(dir, '.lock')), "the other process's lock is left alone");
});

test('stopped between checkpoints (checkpointEvery > 1), best.safetensors is never ahead of the checkpoint a resume starts from', async () => {
  if (!on) return;
  const outDir = tmpDir('abort-best-ahead');
  const cfg = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const, outDir, checkpointEvery: 5,
    schedule: { maxEpochs: 4, warmupEpochs: 0, earlyStopping: 10 } };
  const stop = new Error('stop after epoch 3');
  await rejection(train(cfg, { onEpoch: (r) => { if (r.epoch === 3) throw stop; } }));
  const meta = (f: string) => { const s = loadSafetensors(path.join(outDir, f)); for (const t of s.tensors.values()) t.dispose(); return s.metadata; };
  const best = Number(meta(RUN_FILES.best).epoch);
  assert.ok(fs.existsSync(path.join(outDir, RUN_FILES.checkpoint)), 'a new best writes the checkpoint too: none existed before epoch 5');
  const ck = Number(meta(RUN_FILES.checkpoint).epoch);
  assert.ok(best <= ck, `best.safetensors holds epoch ${best}, the checkpoint epoch ${ck}: a resume would redo epoch ${best}`);
});

test.run();
