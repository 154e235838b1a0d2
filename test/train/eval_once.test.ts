// The evaluation forward's `once` policy (ts/train/step.ts evalForward): a batch shape that
// will not come again (the test pass's last batch) runs eagerly when no plan serves it and
// records nothing; without `once` the shape is recorded, and from then on `once` replays the
// plan. Eager and planned logits agree to float32 rounding (BatchNorm folded in the plan).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Batch } from '../../ts/data/loader';
import { manualSeed } from '../../ts/random';
import { resolveTrainConfig } from '../../ts/train/config';
import { buildTaskNet } from '../../ts/train/models';
import { evalForward } from '../../ts/train/step';
import { assertClose, deviceAvailable, Rng } from '../helpers';
import { BACKBONE, tmpDir } from './_fixture';

const on = deviceAvailable('train/eval_once');

function batch(n: number, size: number, seed: number): Batch {
  const rng = new Rng(seed);
  return {
    epoch: 0, index: 0, n, size, images: Float32Array.from({ length: n * 3 * size * size }, () => rng.next() * 2 - 1),
    labels: { afc: new Int32Array(n), bx: new Int32Array(n).fill(-1) }, masks: { afc: new Float32Array(n).fill(1), bx: new Float32Array(n) },
    datasetIds: new Int32Array(n), ids: Array.from({ length: n }, (_, i) => `s${i}`),
  };
}

test('a shape run once evaluates eagerly and records nothing; a repeated shape records, then `once` replays it', () => {
  if (!on) return;
  const dir = tmpDir('evalonce');
  manualSeed(2);
  const net = buildTaskNet(resolveTrainConfig({ backbone: BACKBONE, experiment: 'stl_afc', outDir: dir, data: { afc: dir, bx: dir } }));
  net.module.eval();
  const fwd = evalForward(net, { device: 'cpu', eager: false });
  const eagerFwd = evalForward(net, { device: 'cpu', eager: true });
  try {
    const b3 = batch(3, 32, 1), b4 = batch(4, 32, 2);
    const once = fwd.run(b3, true);
    assert.is(fwd.recordings, 0, 'a once-only shape without a plan records nothing');
    assertClose(once.afc!, eagerFwd.run(b3).afc!, { atol: 0, rtol: 0 }, 'it is the eager forward');
    const first = fwd.run(b4);
    assert.is(fwd.recordings, 1, 'a repeated shape records');
    const again = fwd.run(b4, true);
    assert.is(fwd.recordings, 1, '`once` on a planned shape replays the plan: nothing recorded');
    assertClose(again.afc!, first.afc!, { atol: 0, rtol: 0 }, 'the same plan, the same logits');
    assertClose(again.afc!, eagerFwd.run(b4).afc!, { atol: 1e-5, rtol: 1e-4 }, 'planned = eager to float32 rounding');
  } finally {
    fwd.dispose();
    net.module.dispose();
  }
});

test.run();
