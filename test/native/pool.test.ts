/**
 * The CPU thread pool (native/cpu/parallel.cc) under many short regions: a caller that
 * finishes a region alone closes it, and a worker that wakes late must neither run the
 * closed region's task nor make the caller return early. Thousands of small parallel ops
 * with the thread count changing between them (1..4) and spinning on (the default) and off must all give
 * the right values, without a hang.
 */
import { spawnSync } from 'child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { relu } from '../../ts/ops/activations';
import { sum } from '../../ts/ops/reduce';
import { tensor, tidy } from '../../ts/tensor';
import { DEVICE } from '../helpers';

const on = DEVICE === 'cpu';

function stress(rounds: number): void {
  const n = 40000; // big enough to be split, small enough that a worker often wakes late
  const x = tensor(Float32Array.from({ length: n }, (_, i) => (i % 7) - 3), [n]);
  const want = Array.from({ length: n }, (_, i) => Math.max(0, (i % 7) - 3)).reduce((a, b) => a + b, 0);
  const before = native().setThreads();
  try {
    for (let r = 0; r < rounds; r++) {
      if (r % 50 === 0) native().setThreads(1 + ((r / 50) % 4));
      const got = tidy(() => sum(relu(x)).item());
      assert.is(got, want, `round ${r}: sum(relu(x)) = ${got}, expected ${want}`);
    }
  } finally {
    native().setThreads(before);
    x.dispose();
  }
}

test('thread pool: 2000 short regions, 1..4 threads, no lost or repeated chunk', () => {
  if (on) stress(2000);
});

test('thread pool: the same with workers sleeping at once between regions (MDMT_SPIN_US=0, child process)', () => {
  if (!on || process.env.MDMT_POOL_CHILD) return;
  const r = spawnSync(process.execPath, [__filename], { env: { ...process.env, MDMT_SPIN_US: '0', MDMT_POOL_CHILD: '1' }, encoding: 'utf8', timeout: 120000 });
  assert.is(r.status, 0, `child failed (${r.signal ?? ''}):\n${(r.stdout + r.stderr).slice(-2000)}`);
});

test.run();
