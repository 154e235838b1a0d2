/**
 * A CPU tensor the machine cannot back is refused with ENOMEM when allocated. Linux hands
 * out more memory than it has (overcommit) and kills the process (SIGKILL, no JS error)
 * when the pages are first written: `zeros([65536, 65536])` (16 GB) on a 24 GB machine with
 * 8 GB free, or two 60% tensors, passed the old "more than physical memory" check. Only
 * `empty()` is used here, whose pages are never written, so nothing is at risk if a check
 * is missing.
 */
import * as fs from 'fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { empty, Tensor } from '../../ts/tensor';

/** A /proc/meminfo field in bytes, or null off Linux. */
function meminfo(key: string): number | null {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function refused(fn: () => Tensor): MdmtError | null {
  try {
    fn().dispose();
    return null;
  } catch (e) {
    assert.instance(e, MdmtError);
    return e as MdmtError;
  }
}

const total = meminfo('MemTotal');

test('a tensor larger than the memory available (though smaller than physical memory) is refused, naming the shape', () => {
  if (total === null || process.env.MDMT_MAX_ALLOC_BYTES) return console.log('  [skip] no /proc/meminfo, or MDMT_MAX_ALLOC_BYTES set');
  // the kernel, this process and its neighbours take more than 256 MiB: this never fits
  const n = Math.floor((total - (256 << 20)) / 4);
  const e = refused(() => empty([n]));
  assert.ok(e, `empty([${n}]) (${total - (256 << 20)} bytes of ${total} physical) was accepted; writing it would get the process OOM-killed`);
  assert.is(e!.code, 'ENOMEM');
  assert.match(e!.message, `tensor of shape [${n}] on cpu: only `);
  assert.match(e!.message, /bytes of memory are available/);
});

test('allocations not yet written count: two tensors of 60% of physical memory are not both handed out', () => {
  if (total === null || process.env.MDMT_MAX_ALLOC_BYTES) return console.log('  [skip] no /proc/meminfo, or MDMT_MAX_ALLOC_BYTES set');
  const n = Math.floor((total * 0.6) / 4);
  const held: Tensor[] = [];
  try {
    let e: MdmtError | null = null;
    for (let i = 0; i < 2 && !e; i++) {
      try {
        held.push(empty([n]));
      } catch (err) {
        e = err as MdmtError;
      }
    }
    assert.ok(e, `two untouched tensors of ${n * 4} bytes each on a machine of ${total} bytes were both accepted`);
    assert.is(e!.code, 'ENOMEM', e!.message);
  } finally {
    for (const t of held) t.dispose();
  }
});

test('the 1 TB tensor is refused at once; a small one still works after', () => {
  const e = refused(() => empty([1 << 18, 1 << 20]));
  assert.ok(e?.code === 'ENOMEM', 'a 1 TB tensor was accepted');
  assert.match(e!.message, 'shape [262144, 1048576]');
  const t = empty([4]);
  assert.equal(t.shape, [4]);
  t.dispose();
});

test.run();
