/**
 * Run-directory locks (ts/train/lock.ts): a live holder is refused and a dead one on this host
 * is taken over; an empty or garbled .lock is named as unreadable, and taken over with a note
 * once older than the grace period; the lock appears with its content (never empty).
 */
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import nodeFs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { native } from '../../ts/native/binding';
import { busyMessage, lockHolder, PID_REUSE_SLACK_MS, tryLock, UNREADABLE_GRACE_MS, unlock } from '../../ts/train/lock';
import { train } from '../../ts/train/train';
import { BACKBONE, tinyBase, tmpDir } from './_fixture';

const me = `${process.pid} ${os.hostname()}`;

/** A run directory whose .lock holds `text`, `ageMs` old. */
function locked(tag: string, text: string, ageMs = 0): { dir: string; f: string } {
  const dir = tmpDir(tag);
  const f = path.join(dir, '.lock');
  fs.writeFileSync(f, text);
  const t = (Date.now() - ageMs) / 1000;
  fs.utimesSync(f, t, t);
  return { dir, f };
}

test('an empty or garbled .lock younger than the grace period is refused by a message naming it as unreadable', async () => {
  for (const text of ['', 'garbage', '0 host', '123']) {
    const { dir, f } = locked('lk-fresh', text);
    const notes: string[] = [];
    assert.not.ok(tryLock(dir, (m) => notes.push(m)), `${JSON.stringify(text)} is not taken over yet`);
    assert.is(fs.readFileSync(f, 'utf8'), text, 'left alone');
    assert.equal(notes, []);
    assert.is(lockHolder(dir), undefined, 'no holder is made up (pid NaN, host ?)');
    const m = busyMessage(dir);
    assert.ok(m.includes(f) && m.includes(`content ${JSON.stringify(text)} is unreadable`), m);
    assert.match(m, `if no process is training in ${dir}, delete it`);
    assert.not.match(m, /process (NaN|0) on \?/);
  }
  // what `mdmt train --out` prints for it
  const { dir, f } = locked('lk-train', '');
  const e = await train({ ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc', outDir: dir }).then(() => undefined, (x: unknown) => x);
  assert.instance(e, MdmtError);
  assert.is((e as MdmtError).code, 'EBUSY');
  assert.match((e as MdmtError).message, `${dir} is locked by ${f}, whose content "" is unreadable`);
});

test('an unreadable .lock older than the grace period is taken over, with a note naming it', () => {
  for (const text of ['', 'garbage\n']) {
    const { dir, f } = locked('lk-old', text, UNREADABLE_GRACE_MS + 60_000);
    const notes: string[] = [];
    assert.ok(tryLock(dir, (m) => notes.push(m)));
    assert.is(fs.readFileSync(f, 'utf8'), me);
    assert.is(notes.length, 1);
    assert.match(notes[0], `taking over ${f}: its content ${JSON.stringify(text)} is unreadable`);
    unlock(dir);
  }
});

test('a live holder is refused (its pid and host named); a dead pid or our own on this host is taken over; another host is not', () => {
  const live = locked('lk-live', `${process.ppid} ${os.hostname()}`);
  assert.not.ok(tryLock(live.dir));
  assert.match(busyMessage(live.dir), `${live.dir} is being trained by process ${process.ppid} on ${os.hostname()}`);
  const gone = spawnSync(process.execPath, ['-e', '']).pid!;
  const dead = locked('lk-dead', `${gone} ${os.hostname()}`);
  assert.ok(tryLock(dead.dir));
  assert.is(fs.readFileSync(dead.f, 'utf8'), me);
  const own = locked('lk-own', me);
  assert.ok(tryLock(own.dir));
  const far = locked('lk-far', `${gone} some-other-host`, 3_600_000);
  assert.not.ok(tryLock(far.dir), "a pid on another host cannot be checked: its lock stays");
});

test('a lock whose pid now belongs to a process started after the lock was written (pid reused) is taken over; one its live process wrote is not', () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    // the lock of a process long gone whose pid the new child has now
    const reused = locked('lk-reused', `${child.pid} ${os.hostname()}`, PID_REUSE_SLACK_MS + 3_600_000);
    assert.ok(tryLock(reused.dir), busyMessage(reused.dir));
    assert.is(fs.readFileSync(reused.f, 'utf8'), me);
    unlock(reused.dir);
    // the same child's own lock, written after it started
    const own = locked('lk-child', `${child.pid} ${os.hostname()}`);
    assert.not.ok(tryLock(own.dir));
    assert.match(busyMessage(own.dir), `being trained by process ${child.pid}`);
  } finally {
    child.kill();
  }
});

test('a lock whose process is a zombie (exited, not reaped by its parent) is taken over', async () => {
  // sh's child exits; sh, now sleep, never reaps it
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number(await new Promise<string>((ok) => parent.stdout.once('data', (b: Buffer) => ok(b.toString()))));
    for (let i = 0; i < 200 && !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
    const z = locked('lk-zombie', `${pid} ${os.hostname()}`);
    assert.ok(tryLock(z.dir), busyMessage(z.dir));
    unlock(z.dir);
  } finally {
    parent.kill();
  }
});

test('the lock appears with its content: .lock is never opened for writing, no temporary file is left', () => {
  const dir = tmpDir('lk-atomic');
  const f = path.join(dir, '.lock');
  // the module object lock.ts reads its functions from (not this file's namespace copy)
  const real = nodeFs.writeFileSync;
  const written: string[] = [];
  nodeFs.writeFileSync = (p: fs.PathOrFileDescriptor, d: string | NodeJS.ArrayBufferView, o?: fs.WriteFileOptions) => {
    written.push(String(p));
    real(p, d, o);
  };
  try {
    assert.ok(tryLock(dir));
  } finally {
    nodeFs.writeFileSync = real;
  }
  assert.ok(written.length > 0 && !written.includes(f), `written: ${written.join(', ')}`);
  assert.is(fs.readFileSync(f, 'utf8'), me);
  assert.equal(fs.readdirSync(dir), ['.lock']);
  assert.ok(tryLock(dir), 'our own lock');
  assert.equal(fs.readdirSync(dir), ['.lock']);
  unlock(dir);
  assert.equal(fs.readdirSync(dir), []);
});

test("a lock file that cannot be written (a full disk) lets the thread's claim go: the directory is lockable once the disk has room", () => {
  const dir = tmpDir('lk-full');
  const real = nodeFs.writeFileSync;
  nodeFs.writeFileSync = () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  };
  try {
    assert.throws(() => tryLock(dir), /ENOSPC/);
  } finally {
    nodeFs.writeFileSync = real;
  }
  // the process-wide claim taken before the write failed was kept, and every later tryLock said busy
  assert.ok(tryLock(dir), 'lockable again');
  unlock(dir);
});

test("a run directory reached through a symlink is the same lock: this thread's own under either name", () => {
  const dir = tmpDir('lk-real');
  const link = `${dir}-link`;
  fs.rmSync(link, { force: true });
  fs.symlinkSync(dir, link);
  try {
    assert.ok(tryLock(dir));
    assert.ok(lockHolder(link)?.mine, 'the lock taken as its real path is ours through the link');
    assert.ok(tryLock(link), 'and taking it again through the link is taking our own');
    unlock(link);
    assert.not.ok(fs.existsSync(path.join(dir, '.lock')));
  } finally {
    fs.rmSync(link, { force: true });
  }
});

test('two train() calls of one process on one directory: the second is EBUSY, not a second trainer', async () => {
  const base = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const, outDir: tmpDir('lk-twice') };
  const [a, b] = await Promise.allSettled([train(base), train(base)]);
  assert.is(a.status, 'fulfilled', a.status === 'rejected' ? String(a.reason) : '');
  assert.is(b.status, 'rejected');
  const e = (b as PromiseRejectedResult).reason as MdmtError;
  assert.is(e.code, 'EBUSY');
  assert.match(e.message, `${base.outDir} is being trained by another train() call of this process`);
  const epochs = fs.readFileSync(path.join(base.outDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { epoch: number }).epoch);
  assert.equal(epochs, [...epochs].sort((x, y) => x - y), 'one trainer wrote the log');
  assert.ok(!fs.existsSync(path.join(base.outDir, '.lock')), 'released');
  await train(base); // the finished run answers a later call
});

test('two train() calls on one directory through a symlink: the second is EBUSY (the key is the real path)', async () => {
  const real = tmpDir('lk-twice-real'), link = `${real}-link`;
  fs.rmSync(link, { force: true });
  fs.symlinkSync(real, link);
  try {
    const base = { ...(await tinyBase()), backbone: BACKBONE, experiment: 'stl_afc' as const };
    const [a, b] = await Promise.allSettled([train({ ...base, outDir: real }), train({ ...base, outDir: link })]);
    assert.is(a.status, 'fulfilled', a.status === 'rejected' ? String(a.reason) : '');
    assert.is(b.status, 'rejected', 'the second trainer of one directory ran');
    assert.is(((b as PromiseRejectedResult).reason as MdmtError).code, 'EBUSY');
  } finally {
    fs.rmSync(link, { force: true });
  }
});

test('a lock whose run directory was deleted under a symlinked parent is let go by unlock()', () => {
  const realParent = tmpDir('lk-gone'), linkParent = `${realParent}-link`;
  fs.rmSync(linkParent, { force: true });
  fs.symlinkSync(realParent, linkParent);
  try {
    const dir = path.join(linkParent, 'run');
    assert.ok(tryLock(dir));
    const key = path.join(fs.realpathSync(realParent), 'run', '.lock');
    fs.rmSync(path.join(realParent, 'run'), { recursive: true, force: true });
    unlock(dir);
    // the process-wide claim is gone: another thread could lock it again
    assert.ok(native().claimRun(key), 'the claim was kept: the directory stays busy for every other thread');
    native().releaseRun(key);
    assert.ok(tryLock(dir), 'recreated, it locks again');
    unlock(dir);
  } finally {
    fs.rmSync(linkParent, { force: true });
  }
});

test.run();
