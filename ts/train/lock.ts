/**
 * Run-directory locks: `<dir>/.lock` holds "<pid> <host>" while a process trains the run, so
 * two processes never train one directory at once (their logs and checkpoints would
 * interleave). A lock whose process is gone (killed) on this host is stale and taken over,
 * as is one whose process is a zombie or whose pid now belongs to a process started after the
 * lock was written (Linux);
 * a lock this thread already holds is its own. experiment() locks each job; train() —
 * and so `mdmt train` — takes the same lock unless its caller already holds it.
 *
 * "<pid> <host>" cannot tell the threads of one process apart (a worker_threads Worker
 * training the main thread's run directory took its lock for its own), so the lock is also
 * claimed in the addon, whose state every thread of the process shares (claimRun): a lock
 * naming this process is another thread's while that thread's claim lives, and stale once
 * the thread is gone (a Worker terminated mid-run, its `finally` never run).
 *
 * The lock appears with its content (a temporary file hard-linked to `.lock`), so a crash
 * never leaves an empty one; a lock whose content is not "<pid> <host>" anyway (written by
 * hand, cut by a full disk, or a file system without hard links) is taken over, with a note,
 * once it is UNREADABLE_GRACE_MS old — younger, it may be another process between writing
 * and filling it.
 *
 *   if (!tryLock(dir)) throw new MdmtError('EBUSY', 'train', busyMessage(dir));  try { ... } finally { unlock(dir); }
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { makeDirs } from '../dirs';
import { show } from '../errors';
import { native } from '../native/binding';

const LOCK = '.lock';
/** How old an unreadable lock must be before it is taken over. */
export const UNREADABLE_GRACE_MS = 5000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How much later than the lock was written its pid's process must have started to be another one (clock skew of a shared file system). */
export const PID_REUSE_SLACK_MS = 60_000;

/**
 * Process `pid` of this host from /proc (Linux): its state letter (Z: a zombie, exited but not
 * yet reaped by its parent) and when it started (ms since the epoch; its start in clock ticks,
 * USER_HZ 100, after boot). Undefined where it cannot be read.
 */
function procStat(pid: number): { state: string; startedAt: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command name "(...)", which may hold spaces and parentheses: state is field 3, starttime 22
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    const boot = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))?.[1]);
    return Number.isFinite(start) && boot > 0 ? { state: fields[0], startedAt: (boot + start / 100) * 1000 } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the lock's process is gone: dead, a zombie (a sweep killed under a wrapper that does
 * not reap it answers kill(pid, 0) as alive), or its pid now another process's, one started
 * after the lock was written (a node rebooted or a long-gone sweep: a live process of the
 * same pid kept the run directory busy for good, every sweep waiting on it).
 */
function stale(pid: number, lockAgeMs: number): boolean {
  if (!alive(pid)) return true;
  const p = procStat(pid);
  return p !== undefined && (p.state === 'Z' || p.state === 'X' || p.startedAt > Date.now() - lockAgeMs + PID_REUSE_SLACK_MS);
}

/** The lock file's text and age, or undefined when there is none. */
function readLock(f: string): { text: string; ageMs: number } | undefined {
  try {
    const text = fs.readFileSync(f, 'utf8');
    return { text, ageMs: Date.now() - fs.statSync(f).mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** "<pid> <host>" → its parts; anything else (empty, garbled, pid 0) → undefined. */
function parse(text: string): { pid: number; host: string } | undefined {
  const m = /^(\d{1,10}) (\S+)$/.exec(text.trim());
  return m && Number(m[1]) > 0 ? { pid: Number(m[1]), host: m[2] } : undefined;
}

/**
 * The lock file of `dir`, by its real path: the key of `held` and of the process-wide claim
 * (two threads reaching one run directory through a symlink or a bind mount claim one key).
 */
function lockFile(dir: string): string {
  try {
    return path.join(fs.realpathSync(dir), LOCK);
  } catch {
    // gone (deleted while locked) or not there yet: the key it was locked under, if any
    return keyOf.get(path.resolve(dir)) ?? path.resolve(dir, LOCK);
  }
}

/** The key one run directory has in this process, whatever path reaches it (its real path). */
export function runKey(dir: string): string {
  return path.dirname(lockFile(dir));
}

/** path.resolve(dir) → lockFile(dir) of the locks this thread holds, for unlock() after the directory is gone. */
const keyOf = new Map<string, string>();

/**
 * The holder of `dir`'s lock ("<pid> <host>"), or undefined when it is free or unreadable;
 * `mine` when this thread holds it (another thread of this process holding it is not).
 */
export function lockHolder(dir: string): { pid: number; host: string; mine: boolean } | undefined {
  const f = lockFile(dir);
  const h = parse(readLock(f)?.text ?? '');
  return h && { ...h, mine: h.pid === process.pid && h.host === os.hostname() && held.has(f) };
}

/** Why tryLock(dir) said no, for the caller's error: who holds it, or what is wrong with it. */
export function busyMessage(dir: string): string {
  const f = path.join(dir, LOCK);
  const l = readLock(f);
  const h = l && parse(l.text);
  if (h?.pid === process.pid && h.host === os.hostname())
    return `${dir} is being trained by another thread of this process (worker_threads; ${f}): wait for it, or use another outDir`;
  if (h) return `${dir} is being trained by process ${h.pid} on ${h.host} (${f}): wait for it, or use another outDir`;
  if (!l) return `${dir} was locked by another process that has let it go (${f}): try again`;
  return `${dir} is locked by ${f}, whose content ${show(l.text.slice(0, 80))} is unreadable (not "<pid> <host>"): ` +
    `if no process is training in ${dir}, delete it (it is taken over once ${UNREADABLE_GRACE_MS / 1000} s old)`;
}

/** Creates `f` holding `text`, atomically: false when it exists already. */
function create(f: string, text: string): boolean {
  const tmp = `${f}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  try {
    fs.writeFileSync(tmp, text);
    fs.linkSync(tmp, f);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  // no hard links on this file system: create, then write (the grace period covers the gap)
  try {
    fs.writeFileSync(f, text, { flag: 'wx' });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Takes `dir`'s lock (creating dir): true when this process now holds it. `note` hears of an
 * unreadable lock taken over (default: stderr).
 */
export function tryLock(dir: string, note: (msg: string) => void = (m) => process.stderr.write(`mdmt: ${m}\n`)): boolean {
  makeDirs(dir);
  const f = lockFile(dir);
  // another thread of this process holds it (its lock file names this pid, as a stale one would)
  if (!held.has(f) && !native().claimRun(f)) return false;
  try {
    const took = takeFile(f, note);
    if (took) keyOf.set(path.resolve(dir), f);
    return took;
  } finally {
    // not taken (or the file could not be written: a full disk): the claim goes too, or this
    // process would find the directory busy for good
    if (!held.has(f)) native().releaseRun(f);
  }
}

/** tryLock once this thread holds the claim: the lock file itself. */
function takeFile(f: string, note: (msg: string) => void): boolean {
  const me = `${process.pid} ${os.hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (create(f, me)) {
      held.add(f);
      return true;
    }
    const l = readLock(f);
    if (!l) continue; // released meanwhile
    const h = parse(l.text);
    if (h) {
      // this pid: no other thread claims it (a terminated Worker's), or this thread's own
      if (h.host === os.hostname() && (h.pid === process.pid || stale(h.pid, l.ageMs))) fs.rmSync(f, { force: true });
      else return false;
    } else if (l.ageMs >= UNREADABLE_GRACE_MS) {
      note(`taking over ${f}: its content ${show(l.text.slice(0, 80))} is unreadable (not "<pid> <host>") and ${(l.ageMs / 1000).toFixed(0)} s old`);
      fs.rmSync(f, { force: true });
    } else return false;
  }
  return false;
}

/** Releases `dir`'s lock. */
export function unlock(dir: string): void {
  const f = lockFile(dir);
  const mine = held.delete(f);
  for (const [k, v] of keyOf) if (v === f) keyOf.delete(k);
  fs.rmSync(f, { force: true });
  if (mine) native().releaseRun(f);
}

/** Lock files this process created and has not released. */
const held = new Set<string>();

/**
 * Releases every lock this process holds (the CLI's SIGINT / SIGTERM handler: a lock left by a
 * killed process is taken over on its own host, but another host's sweep waited on it for
 * good). Returns how many were released.
 */
export function releaseHeldLocks(): number {
  const n = held.size;
  for (const f of held) {
    fs.rmSync(f, { force: true });
    native().releaseRun(f);
  }
  held.clear();
  keyOf.clear();
  return n;
}
