/**
 * A CPU tensor the machine cannot back is refused with ENOMEM when allocated. Linux hands
 * out more memory than it has (overcommit) and kills the process (SIGKILL, no JS error)
 * when the pages are first written: `zeros([65536, 65536])` (16 GB) on a 24 GB machine with
 * 8 GB free, or two 60% tensors, passed the old "more than physical memory" check. Only
 * `empty()` is used here, whose pages are never written, so nothing is at risk if a check
 * is missing.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
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

test('under a cgroup v2 limit: page cache the kernel can reclaim counts as free, the limit caps what is handed out', () => {
  // a private mount namespace with a fake /sys/fs/cgroup: memory.max 1 GiB, 900 MiB used of
  // which 800 MiB is inactive page cache (images read, checkpoints written)
  const mib = 1 << 20;
  const setup = [
    'mount -t tmpfs none /sys/fs/cgroup',
    `echo ${1024 * mib} > /sys/fs/cgroup/memory.max`, `echo ${900 * mib} > /sys/fs/cgroup/memory.current`,
    `printf 'anon 1\\ninactive_file ${800 * mib}\\n' > /sys/fs/cgroup/memory.stat`,
  ].join(' && ');
  const index = path.resolve(__dirname, '..', '..', 'ts', 'index.js');
  const script = `const m = require(${JSON.stringify(index)}); const out = [];
    for (const n of [300 * 262144, 2 * 268435456]) { try { m.empty([n]).dispose(); out.push('ok'); } catch (e) { out.push(e.code + ' ' + e.message); } }
    console.log(JSON.stringify(out));`;
  const env = { ...process.env };
  delete env.MDMT_MAX_ALLOC_BYTES;
  const r = spawnSync('unshare', ['-m', 'sh', '-c', `${setup} && exec "$0" -e "$1"`, process.execPath, script], { encoding: 'utf8', env });
  if (r.status !== 0 || !r.stdout.trim()) return console.log(`  [skip] no private mount namespace here (unshare -m, root): ${(r.stderr || r.error?.message || '').trim().slice(0, 120)}`);
  const [small, big] = JSON.parse(r.stdout) as string[];
  assert.is(small, 'ok', 'a 300 MiB tensor fits: the 800 MiB of reclaimable cache is free (924 MiB of room), it was refused at 124 MiB');
  assert.match(big, 'ENOMEM alloc: cannot allocate 2147483648 bytes');
  assert.match(big, /only \d+ bytes of memory are available/);
  const avail = Number(/only (\d+) bytes/.exec(big)![1]);
  assert.ok(avail <= 1024 * mib, `at most the cgroup's limit is offered, got ${avail}`);
});

test.run();
