// train()'s temperature scaling reuses the validation pass of the epoch that saved
// best.safetensors when this process ran it, and evaluates the split again otherwise (a run
// resumed after its last epoch): both give the same result.json — calibration, stored test
// predictions, every metric. The best epoch is not the last, so reusing the wrong epoch's
// pass (the last one) would change the calibration.
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { train } from '../../ts/train/train';
import { BACKBONE, tinyBase, tmpDir } from './_fixture';
import { deviceAvailable } from '../helpers';

const on = deviceAvailable('train/calibration_reuse');
const strip = (r: object): unknown => JSON.parse(JSON.stringify(r, (k, v: unknown) => (k === 'seconds' || k === 'liveTensors' ? undefined : v)));

test('calibration from the kept best-epoch validation pass equals one from a fresh pass after a resume', async () => {
  if (!on) return;
  const dir = tmpDir('calreuse');
  const cfg = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const, keepCheckpoint: true, optim: { lr: 0.05 }, // a high lr: the best epoch is not the last (epoch 3 of 5 on 1, 2 and 4 threads; lr 0.03 was the last on 1)
    schedule: { maxEpochs: 5, warmupEpochs: 0, earlyStopping: 5, plateauPatience: 1 } };
  const ref = await train({ ...cfg, outDir: path.join(dir, 'ref') });
  // the uninterrupted run reuses its best epoch's pass, not the last epoch's
  assert.ok(ref.best.selected && ref.best.epoch < 5, `the best epoch (${ref.best.epoch}) comes before the last`);
  // stopped after its last epoch, the resumed run trains no more and evaluates the split afresh
  const at = 5;
  const out = path.join(dir, 'resumed');
  const stop = new Error(`stop after epoch ${at}`);
  await train({ ...cfg, outDir: out }, { onEpoch: (rec) => { if (rec.epoch === at) throw stop; } }).then(
    () => assert.unreachable(`the first part stops after epoch ${at}`), (e: unknown) => assert.is(e, stop));
  const resumed = await train({ ...cfg, outDir: out });
  assert.ok(ref.result.calibration?.afc, 'the τ1 head is calibrated');
  assert.equal(strip(resumed.result), strip(ref.result), 'resumed run (fresh validation pass) = uninterrupted run (kept pass)');
});

test.run();
