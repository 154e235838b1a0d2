/**
 * Run-directory locks: `<dir>/.lock` holds "<pid> <host>" while a process trains the run, so
 * two processes never train one directory at once (their logs and checkpoints would
 * interleave). A lock whose process is gone (killed) on this host is stale and taken over;
 * a lock this process already holds is its own. experiment() locks each job; train() —
 * and so `mdmt train` — takes the same lock unless its caller already holds it.
 *
 *   if (!tryLock(dir)) throw ...;  try { ... } finally { unlock(dir); }
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const LOCK = '.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder of `dir`'s lock ("<pid> <host>"), or undefined when it is free. */
export function lockHolder(dir: string): { pid: number; host: string; mine: boolean } | undefined {
  try {
    const [pid, host] = fs.readFileSync(path.join(dir, LOCK), 'utf8').trim().split(' ');
    return { pid: Number(pid), host, mine: Number(pid) === process.pid && host === os.hostname() };
  } catch {
    return undefined;
  }
}

/** Takes `dir`'s lock (creating dir): true when this process now holds it. */
export function tryLock(dir: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  const f = path.join(dir, LOCK);
  const me = `${process.pid} ${os.hostname()}`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(f, me, { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const [pid, host] = fs.readFileSync(f, 'utf8').split(' ');
      if (host === os.hostname() && (Number(pid) === process.pid || !alive(Number(pid)))) fs.rmSync(f, { force: true });
      else return false;
    }
  }
  return false;
}

/** Releases `dir`'s lock. */
export function unlock(dir: string): void {
  fs.rmSync(path.join(dir, LOCK), { force: true });
}
