/**
 * Module.loadStateDict under misuse: 16-bit float tensors are loaded as their values (not
 * their storage bits), a bad entry fails before anything is written, and values that are
 * not tensors are named.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { BatchNorm2d, Linear } from '../../ts/nn/layers';
import { tensor, zeros } from '../../ts/tensor';

function err(fn: () => unknown): MdmtError {
  try {
    fn();
  } catch (e) {
    assert.instance(e, MdmtError, String(e));
    return e as MdmtError;
  }
  throw new Error('did not throw');
}

test('bfloat16 and float16 tensors load as their values (1.0 was loaded as its bits, 16256)', () => {
  const l = new Linear(2, 1);
  // bfloat16 1.0 = 0x3f80, -3.0 = 0xc040; float16 0.5 = 0x3800
  l.loadStateDict(new Map([['weight', tensor([0x3f80, 0xc040], [1, 2], { dtype: 'bfloat16' })], ['bias', tensor([0x3800], [1], { dtype: 'float16' })]]));
  assert.equal(Array.from(l.param('weight').toArray()), [1, -3]);
  assert.equal(Array.from(l.param('bias').toArray()), [0.5]);
  l.dispose();
});

test('a disposed entry fails before any tensor is written', () => {
  const l = new Linear(1, 1);
  l.loadStateDict(new Map([['weight', tensor([3], [1, 1])], ['bias', tensor([4], [1])]]));
  const b = zeros([1]);
  b.dispose();
  const e = err(() => l.loadStateDict(new Map([['weight', tensor([9], [1, 1])], ['bias', b]])));
  assert.is(e.code, 'EDISPOSED');
  assert.match(e.message, "'bias' has been disposed");
  assert.equal(Array.from(l.param('weight').toArray()), [3], 'weight was overwritten by the failed load');
  l.dispose();
});

test('values that are not tensors, and a null source, are MdmtErrors naming the key', () => {
  const l = new Linear(3, 2);
  const e = err(() => l.loadStateDict({ weight: [[1, 2, 3], [4, 5, 6]], bias: zeros([2]) } as never));
  assert.is(e.code, 'EINVAL');
  assert.match(e.message, "'weight' must be a Tensor, got an array");
  assert.match(err(() => l.loadStateDict(null as never)).message, 'needs a Map (or object) of name -> Tensor, got null');
  l.dispose();
});

test('a num_batches_tracked that is not an integer in int32 range is refused, naming key and value (1e10 wrapped to 1410065408, NaN became 0)', () => {
  for (const [v, shown] of [[1e10, '10000000000'], [NaN, 'NaN'], [2.5, '2.5'], [-Infinity, '-Infinity']] as const) {
    const b = new BatchNorm2d(2);
    b.train();
    b.forward(zeros([2, 2])).dispose(); // num_batches_tracked 1, and a running mean to keep
    const sd = new Map([...b.stateDict()].map(([k, t]) => [k, tensor(Array.from(t.toArray()), t.shape)] as const));
    sd.set('num_batches_tracked', tensor([v], []));
    sd.set('running_mean', tensor([7, 8], [2]));
    const e = err(() => b.loadStateDict(sd));
    assert.is(e.code, 'EDATA');
    assert.match(e.message, `'num_batches_tracked' must hold integers in int32 range`);
    assert.match(e.message, `got ${shown}`);
    // refused before anything was written
    assert.equal(Array.from(b.buffer('running_mean').toArray()), [0, 0], 'running_mean was written by the refused load');
    assert.is(b.stateDict().get('num_batches_tracked')!.item(), 1);
    for (const t of sd.values()) t.dispose();
    b.dispose();
  }
  // an integral float32 count (as export_weights.py may write) still loads
  const b = new BatchNorm2d(1);
  const sd = new Map([...b.stateDict()].map(([k, t]) => [k, k === 'num_batches_tracked' ? tensor([123456], []) : t] as const));
  b.loadStateDict(sd);
  assert.is(b.stateDict().get('num_batches_tracked')!.item(), 123456);
  b.dispose();
});

test.run();
