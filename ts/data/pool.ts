/**
 * The loader's sample workers: a fixed pool of worker_threads running ts/data/worker (decode,
 * crop, resize, augment, normalise), each message a chunk of samples. The least loaded worker
 * takes the next chunk; an idle worker never keeps the process alive; a worker that dies fails
 * its own chunks with a named error and is replaced.
 *
 *   const pool = new Pool(3);
 *   const outcomes = await pool.run(tasks);   // [{ ok: true, result } | { ok: false, error }, ...]
 *   await pool.close();
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import { MdmtError, MdmtErrorCode } from '../errors';
import type { SampleResult, SampleTask } from './sample';

export type Outcome = { ok: true; result: SampleResult } | { ok: false; error: unknown };
interface Pending { resolve: (r: Outcome[]) => void; reject: (e: unknown) => void }
type WireOutcome = { ok: boolean; result?: SampleResult; error?: { code: MdmtErrorCode; message: string; mdmt: boolean } };

/** A fixed pool of sample workers; each message carries a chunk of samples. */
export class Pool {
  private workers: Worker[] = [];
  private load: number[] = [];
  private pending = new Map<number, Pending & { worker: number }>();
  private seq = 0;
  private closing = false;
  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      this.workers.push(this.spawn(i));
      this.load.push(0);
    }
  }
  private spawn(i: number): Worker {
    const ext = path.extname(__filename);
    const file = path.join(__dirname, `worker${ext}`);
    // from TypeScript sources (tsx), register tsx's CommonJS hook inside the worker first
    const w = ext === '.ts'
      ? new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(file)});`, { eval: true, execArgv: [] })
      : new Worker(file);
    w.on('message', (m: { seq: number; out: WireOutcome[] }) => {
      const p = this.pending.get(m.seq);
      this.pending.delete(m.seq);
      if (--this.load[i] === 0) w.unref(); // idle workers never keep the process alive
      if (!p) return;
      p.resolve(m.out.map((o): Outcome => (o.ok ? { ok: true, result: o.result! } : {
        ok: false, error: o.error!.mdmt ? new MdmtError(o.error!.code, '', o.error!.message) : new Error(o.error!.message),
      })));
    });
    // a dead worker fails its own chunks (not silently: they reject the batch) and is replaced
    const died = (why: string) => {
      if (this.workers[i] !== w) return;
      for (const [seq, p] of this.pending)
        if (p.worker === i) {
          this.pending.delete(seq);
          p.reject(new MdmtError('EINTERNAL', 'Loader', `data worker thread ${i} died: ${why}`));
        }
      this.load[i] = 0;
      if (!this.closing) this.workers[i] = this.spawn(i);
    };
    w.on('error', (e) => died(e instanceof Error ? e.message : String(e)));
    w.on('exit', (code) => died(`exit code ${code}`));
    w.unref();
    return w;
  }
  get size(): number {
    return this.workers.length;
  }
  run(tasks: SampleTask[]): Promise<Outcome[]> {
    let best = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i] < this.load[best]) best = i;
    const seq = ++this.seq;
    this.load[best]++;
    this.workers[best].ref();
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject, worker: best });
      this.workers[best].postMessage({ seq, tasks });
    });
  }
  async close(): Promise<void> {
    this.closing = true;
    // A terminating worker does not keep the event loop alive (ref() or not). On an error path
    // (train() failing mid-epoch) nothing else may be pending, so without this timer the process
    // exited with code 0 before close() returned and the rejection was never delivered.
    const keepAlive = setInterval(() => {}, 60_000);
    try {
      await Promise.all(this.workers.map((w) => w.terminate()));
    } finally {
      clearInterval(keepAlive);
    }
    this.workers = [];
  }
  /** test hook: ends one worker as a crash would */
  async kill(i: number): Promise<void> {
    await this.workers[i].terminate();
  }
}
