/**
 * The data loader: decode + preprocess + augment in a pool of worker threads, `prefetch`
 * batches ahead, batches that mix the two tasks (at random in proportion to their sizes, as
 * the authors' single shuffled DataLoader, or a fixed AFC fraction), and a per-sample
 * dataset id that becomes the loss indicator. Batches are host typed arrays; the image
 * buffer is shared memory the workers write into, and `toTensors` uploads it once.
 */
import * as os from 'os';
import { ensureDir } from '../dirs';
import { MdmtError } from '../errors';
import { AugmentOptions, drawAugment } from './augment';
import { BadRecord, DataRecord, OnBad, Task, TASK_ID } from './records';
import { Pool, type Outcome } from './pool';
import { rng, seedOf } from './rng';
import { DecodedSample, runSample, SampleResult, SampleTask } from './sample';
import type { PreprocessOptions } from './preprocess';
import { ImageWarnings } from './warnings';
import { tensor, type Tensor } from '../tensor';

export interface LoaderOptions {
  /** output side (default 256) */
  size?: number;
  batchSize?: number;
  /** training: shuffle every epoch and augment (default false) */
  train?: boolean;
  /** augmentation settings, or false for none even when training */
  augment?: AugmentOptions | false;
  /** ImageNet mean/std after [0,1] (default true) */
  normalize?: boolean;
  seed?: number;
  /** training: 'proportional' (default) or the AFC fraction of every batch; an evaluation
   * loader (train false) visits every record exactly once and takes no fraction */
  mix?: 'proportional' | { afcFraction: number };
  /** worker threads (default ¾ of the cores, at most cores − 1, at least 1; 16 cores → 12, the
   * measured best); 0 = run in this thread */
  workers?: number;
  /** batches in flight ahead of the consumer (default 2) */
  prefetch?: number;
  /** 'memory' (default; size² × 2 bytes per record, 128 KB at 256², ~0.8 GB for all 6.3k real
   * images), 'disk' (memory + files in cacheDir, reused by later runs) or 'none' */
  cache?: 'memory' | 'disk' | 'none';
  cacheDir?: string;
  onBadRecord?: OnBad;
  dropLast?: boolean;
  preprocess?: Omit<PreprocessOptions, 'size'>;
  /** where warnings and skip notices go (default stderr) */
  log?: (msg: string) => void;
  /**
   * the image warnings' printer, to share one between loaders (train()'s train, val and test
   * loaders print each kind once for the run); its owner flushes it. Default: the loader's own,
   * flushed after scan() and close()
   */
  warnings?: ImageWarnings;
  /** also hand back each sample's decoded image and crop (Batch.decoded), e.g. for overlays (default false) */
  keepDecoded?: boolean;
}

export interface Batch {
  epoch: number;
  index: number;
  /** samples in this batch (≤ batchSize; fewer at the end or after skips) */
  n: number;
  size: number;
  /** N×3×S×S float32 */
  images: Float32Array;
  /** class per task, −1 where the sample belongs to the other task */
  labels: { afc: Int32Array; bx: Int32Array };
  /** the paper's indicator per task (1 = the sample counts for that task's loss) */
  masks: { afc: Float32Array; bx: Float32Array };
  /** 0 = AFC, 1 = BX */
  datasetIds: Int32Array;
  ids: string[];
  /** with keepDecoded: each sample's decoded image and crop, in the order of ids */
  decoded?: DecodedSample[];
}

export interface LoaderReport {
  skipped: (BadRecord & { id: string; task: Task })[];
  warnings: { id: string; warning: string }[];
  cached: number;
}

/**
 * Creates a loader over records of both tasks (AFC and BX records in one list).
 *
 *   const loader = new Loader([...afcTrain, ...bxTrain], { train: true, batchSize: 32, size: 128, seed: 0 });
 *   for await (const b of loader.epoch(0)) { const t = toTensors(b, 'cpu'); ... }
 *   await loader.close();  console.log(loader.report().skipped.length);
 */
export class Loader {
  readonly opts: Required<Omit<LoaderOptions, 'cacheDir' | 'mix' | 'augment' | 'preprocess' | 'log' | 'warnings'>> &
    Pick<LoaderOptions, 'cacheDir' | 'mix' | 'augment' | 'preprocess'>;
  private pool?: Pool;
  private memCache = new Map<string, SharedArrayBuffer>();
  private bad = new Map<string, BadRecord & { id: string; task: Task }>();
  private warned = new Map<string, string>();
  private log: (msg: string) => void;
  /** inside scan(): a bad record is collected, whatever onBadRecord says */
  private scanning = false;
  /** bad records scan() returned (its caller reports them; close() counts the others) */
  private scanned = 0;
  private warnings: ImageWarnings;
  /** the warnings printer is this loader's own (flushed by scan() and close()) */
  private ownWarnings: boolean;

  constructor(readonly records: DataRecord[], opts: LoaderOptions = {}) {
    const cores = os.cpus().length;
    const workers = opts.workers ?? Math.max(1, Math.min(cores - 1, Math.round(cores * 0.75)));
    this.opts = {
      size: opts.size ?? 256, batchSize: opts.batchSize ?? 128, train: opts.train ?? false, normalize: opts.normalize ?? true,
      seed: opts.seed ?? 0, workers, prefetch: Math.max(1, opts.prefetch ?? 2), cache: opts.cache ?? 'memory',
      onBadRecord: opts.onBadRecord ?? 'error', dropLast: opts.dropLast ?? false, keepDecoded: opts.keepDecoded ?? false,
      cacheDir: opts.cacheDir, mix: opts.mix, augment: opts.augment, preprocess: opts.preprocess,
    };
    this.log = opts.log ?? ((m) => process.stderr.write(`mdmt data: ${m}\n`));
    this.ownWarnings = !opts.warnings;
    this.warnings = opts.warnings ?? new ImageWarnings(this.log, 'loader.report().warnings lists them');
    if (!(this.opts.batchSize >= 1)) throw new MdmtError('EINVAL', 'Loader', `batchSize ${this.opts.batchSize} must be ≥ 1`);
    if (this.opts.cache === 'disk' && !this.opts.cacheDir) throw new MdmtError('ECONFIG', 'Loader', "cache 'disk' needs cacheDir");
    // a file in the way is an ECONFIG naming the setting now, not a raw EEXIST at the first cached image
    if (this.opts.cache === 'disk') ensureDir(this.opts.cacheDir!, 'Loader', 'cacheDir (data.cacheDir, --cache-dir)');
    const f = typeof this.opts.mix === 'object' ? this.opts.mix.afcFraction : 0;
    if (!(f >= 0 && f <= 1)) throw new MdmtError('EINVAL', 'Loader', `mix.afcFraction ${f} must be in [0, 1]`);
    // a fixed fraction draws records cyclically (some twice, others never in an epoch): never for evaluation
    if (typeof this.opts.mix === 'object' && !this.opts.train)
      throw new MdmtError('EINVAL', 'Loader', `mix.afcFraction ${f} is for training loaders: evaluation (train: false) must see every record exactly once`);
  }

  private live(): DataRecord[] {
    return this.records.filter((r) => !this.bad.has(key(r)));
  }

  /** The sample order of one epoch, cut into batches. */
  plan(epoch: number): DataRecord[][] {
    const B = this.opts.batchSize;
    const recs = this.live();
    const r = rng(seedOf(this.opts.seed, 'order', epoch));
    const batches: DataRecord[][] = [];
    if (typeof this.opts.mix === 'object') {
      const a = recs.filter((x) => x.task === 'AFC');
      const b = recs.filter((x) => x.task === 'BX');
      if (this.opts.train) { r.shuffle(a); r.shuffle(b); }
      const nA = a.length && b.length ? Math.round(this.opts.mix.afcFraction * B) : a.length ? B : 0;
      const nb = Math.ceil(recs.length / B);
      for (let i = 0; i < nb; i++) {
        const batch: DataRecord[] = [];
        for (let j = 0; j < nA; j++) batch.push(a[(i * nA + j) % a.length]);
        for (let j = 0; j < B - nA && b.length; j++) batch.push(b[(i * (B - nA) + j) % b.length]);
        batches.push(this.opts.train ? r.shuffle(batch) : batch);
      }
    } else {
      const order = this.opts.train ? r.shuffle([...recs]) : recs;
      for (let i = 0; i < order.length; i += B) batches.push(order.slice(i, i + B));
    }
    return this.opts.dropLast ? batches.filter((b) => b.length === B) : batches;
  }

  /** Batches per epoch (before skips). */
  get length(): number {
    return this.plan(0).length;
  }

  /** Runs tasks in chunks (about two per worker per batch, at most 8 samples each). */
  private async runAll(tasks: SampleTask[]): Promise<Outcome[]> {
    if (this.opts.workers === 0) {
      const out: Outcome[] = [];
      for (const t of tasks) {
        try {
          out.push({ ok: true, result: await runSample(t) });
        } catch (error) {
          out.push({ ok: false, error });
        }
      }
      return out;
    }
    const pool = (this.pool ??= new Pool(this.opts.workers));
    const c = Math.max(1, Math.min(8, Math.ceil(tasks.length / (2 * pool.size))));
    const chunks: Promise<Outcome[]>[] = [];
    for (let i = 0; i < tasks.length; i += c) chunks.push(pool.run(tasks.slice(i, i + c)));
    return (await Promise.all(chunks)).flat();
  }

  private async build(epoch: number, index: number, recs: DataRecord[]): Promise<Batch> {
    const S = this.opts.size;
    const per = 3 * S * S;
    const out = new SharedArrayBuffer(recs.length * per * 4);
    const augOn = this.opts.train && this.opts.augment !== false && !this.scanning; // scan(): the decode, not an epoch
    const tasks = recs.map((rec, i): SampleTask => {
      const k = key(rec);
      return {
        id: rec.id, image: rec.image, mask: rec.mask, box: rec.box, size: S, pre: this.opts.preprocess ?? {},
        cached: this.memCache.get(k), wantCache: this.opts.cache !== 'none' && !this.memCache.has(k),
        cacheDir: this.opts.cache === 'disk' ? this.opts.cacheDir : undefined,
        aug: augOn ? drawAugment(S, { seed: this.opts.seed, key: k, epoch }, this.opts.augment || {}) : null,
        normalize: this.opts.normalize, out, offset: i * per, ...(this.opts.keepDecoded ? { keepDecoded: true } : {}),
      };
    });
    const outcomes = await this.runAll(tasks);
    const ok = outcomes.map((o, i) => {
      const rec = recs[i];
      const k = key(rec);
      if (o.ok) {
        const res = o.result;
        if (res.cache && this.opts.cache !== 'none') this.memCache.set(k, res.cache);
        if (res.warning && !this.warned.has(k)) {
          this.warned.set(k, res.warning);
          // a data set without masks would print one line per image: each kind once, then counts
          const file = res.warning.startsWith(`${rec.image}: `) ? rec.image : undefined;
          this.warnings.add(rec.id, file, file ? res.warning.slice(file.length + 2) : res.warning);
        }
        return true;
      }
      const e = o.error;
      if ((this.opts.onBadRecord === 'error' && !this.scanning) || !(e instanceof MdmtError)) throw e;
      if (!this.bad.has(k)) {
        this.bad.set(k, { id: rec.id, task: rec.task, where: rec.where, file: rec.image, error: e.message });
        if (this.opts.onBadRecord === 'skip') this.log(`skipped ${rec.id} (${rec.where}): ${e.message}`);
      }
      return false;
    });
    const keep = recs.map((_, i) => i).filter((i) => ok[i]);
    const n = keep.length;
    const all = new Float32Array(out);
    const images = n === recs.length ? all : new Float32Array(n * per);
    if (images !== all) keep.forEach((src, dst) => images.set(all.subarray(src * per, (src + 1) * per), dst * per));
    const b: Batch = {
      epoch, index, n, size: S, images,
      labels: { afc: new Int32Array(n), bx: new Int32Array(n) },
      masks: { afc: new Float32Array(n), bx: new Float32Array(n) },
      datasetIds: new Int32Array(n), ids: [],
    };
    keep.forEach((src, j) => {
      const r = recs[src];
      const afc = r.task === 'AFC';
      b.labels.afc[j] = afc ? r.label : -1;
      b.labels.bx[j] = afc ? -1 : r.label;
      b.masks.afc[j] = afc ? 1 : 0;
      b.masks.bx[j] = afc ? 0 : 1;
      b.datasetIds[j] = TASK_ID[r.task];
      b.ids.push(r.id);
    });
    if (this.opts.keepDecoded) b.decoded = keep.map((i) => (outcomes[i] as { result: SampleResult }).result.decoded!);
    return b;
  }

  /**
   * The batches of one epoch, `prefetch` ahead. Empty batches (all samples skipped) are left out.
   *
   *   for await (const batch of loader.epoch(3)) train(batch);
   */
  async *epoch(epoch: number): AsyncGenerator<Batch> {
    const plan = this.plan(epoch);
    const inflight: Promise<Batch>[] = [];
    let next = 0;
    const fill = () => {
      while (next < plan.length && inflight.length < this.opts.prefetch) {
        const p = this.build(epoch, next, plan[next]);
        p.catch(() => {}); // surfaced when awaited below
        inflight.push(p);
        next++;
      }
    };
    fill();
    while (inflight.length) {
      const b = await inflight.shift()!;
      fill();
      // in-process samples (workers: 0) resolve without a turn of the event loop: one per batch
      // lets signal handlers (the CLI's Ctrl-C), timers and I/O run during a training epoch
      if (this.opts.workers === 0) await new Promise((r) => setImmediate(r));
      if (b.n > 0) yield b;
    }
  }

  /**
   * Reads and preprocesses every record once, in order (filling the cache the epochs read), and
   * returns the records that cannot be read, all of them rather than the first. With
   * onBadRecord 'skip' they are left out of every epoch from now on (as when an epoch meets
   * them); with 'error' the loader is left as it was (an epoch still fails at them).
   *
   *   const bad = await loader.scan();   // [{ id, where, file, error }, ...]
   *
   * `check` runs before each batch and may throw to stop the scan (an aborted train()).
   */
  async scan(check?: () => void): Promise<(BadRecord & { id: string; task: Task })[]> {
    const before = new Set(this.bad.keys());
    const recs = this.live(), B = this.opts.batchSize;
    this.scanning = true;
    try {
      for (let i = 0; i < recs.length; i += B) {
        check?.();
        await this.build(0, i / B, recs.slice(i, i + B));
        if (this.opts.workers === 0) await new Promise((r) => setImmediate(r)); // as epoch(): signal handlers run
      }
    } finally {
      this.scanning = false;
    }
    this.flushWarnings();
    const found = [...this.bad].filter(([k]) => !before.has(k));
    if (this.opts.onBadRecord === 'error') for (const [k] of found) this.bad.delete(k);
    else this.scanned += found.length;
    return found.map(([, b]) => b);
  }

  /** Skipped records (with the reason), mask warnings and the cache size so far. */
  report(): LoaderReport {
    return { skipped: [...this.bad.values()], warnings: [...this.warned].map(([id, warning]) => ({ id, warning })), cached: this.memCache.size };
  }

  /** Ends the worker threads and prints the skip count when epochs skipped records (scan() returned its own). */
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
    const met = this.bad.size - this.scanned;
    if (met) this.log(`${met} record(s) skipped as bad input; see loader.report().skipped`);
    this.flushWarnings();
  }

  /** The counts of the image warnings not printed one by one (a shared printer: its owner's call). */
  private flushWarnings(): void {
    if (this.ownWarnings) this.warnings.flush();
  }
}

function key(r: DataRecord): string {
  return `${r.source}:${r.task}:${r.id}`;
}

export interface BatchTensors { images: Tensor; afcLabels: Tensor; bxLabels: Tensor; afcMask: Tensor; bxMask: Tensor; datasetIds: Tensor }

let sharedUploadOk = true;

/**
 * Uploads a batch to the engine, one upload per array. The image buffer is shared memory the
 * workers wrote into; it is uploaded as is when the addon accepts SharedArrayBuffer-backed
 * arrays, otherwise copied once into ordinary memory first.
 *
 *   const t = toTensors(batch, 'cuda');  ...;  Object.values(t).forEach((x) => x.dispose());
 */
export function toTensors(b: Batch, device?: string): BatchTensors {
  const o = device ? { device } : {};
  const shape = [b.n, 3, b.size, b.size];
  let images: Tensor | undefined;
  if (sharedUploadOk || !(b.images.buffer instanceof SharedArrayBuffer)) {
    try {
      images = tensor(b.images, shape, o);
    } catch (e) {
      if (!(b.images.buffer instanceof SharedArrayBuffer)) throw e;
      sharedUploadOk = false;
    }
  }
  images ??= tensor(new Float32Array(b.images), shape, o);
  return {
    images,
    afcLabels: tensor(b.labels.afc, [b.n], o),
    bxLabels: tensor(b.labels.bx, [b.n], o),
    afcMask: tensor(b.masks.afc, [b.n], o),
    bxMask: tensor(b.masks.bx, [b.n], o),
    datasetIds: tensor(b.datasetIds, [b.n], o),
  };
}
