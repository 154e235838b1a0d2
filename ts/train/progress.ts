/**
 * What a run tells the outside while it trains: `TrainHooks` (plain callbacks the library
 * calls) and `progressHooks()`, two cli-progress bars on stderr — epochs (with the last
 * validation loss and the ETA of the run) and batches of the current epoch (running loss,
 * ETA of the epoch). Where stderr is not a terminal it prints one line per epoch instead.
 *
 *   await train(cfg, progressHooks({ label: 'resnet18 mdmt cv/0' }));
 */
import * as cliProgress from 'cli-progress';
import { check, checkOptions, nearestKey, show } from '../errors';
import type { EpochRecord } from '../report/types';

export interface TrainHooks {
  /** a run starts (or resumes at `startEpoch` > 0) */
  onStart?(info: { label: string; startEpoch: number; maxEpochs: number; batchesPerEpoch: number }): void;
  onBatch?(info: { epoch: number; batch: number; batches: number; loss: number }): void;
  onEpoch?(rec: EpochRecord): void;
  /** a one-line message (resume notices, skipped jobs) */
  onLog?(msg: string): void;
  onEnd?(): void;
}

const HOOK_KEYS = { onStart: true, onBatch: true, onEpoch: true, onLog: true, onEnd: true } as const;

/** What train() says of a run that does not begin from ImageNet, after `<run folder>: `. */
export const RANDOM_INIT_NOTE = 'random initialisation, not ImageNet (config.pretrained / pretrainedDir / $MDMT_WEIGHTS): not comparable with the paper';

/**
 * The messages of one sweep's jobs (mdmt demo, mdmt experiment), each printed once: every job
 * reads the same data and said the same data summary, and the same random-initialisation
 * notice (`fold0: `, `fold1: `, ... before it), so a 45-run demo printed its 4-line data summary
 * 46 times. `wrap(hooks)` gives a job's hooks whose onLog drops such a line (`data: ...`, the
 * notice) already printed by the sweep's own log (`seen(msg)`, where the summary comes first)
 * or by an earlier job; a run's other messages all pass. `log(fn)` is the sweep's log: it
 * marks each message seen, then hands it to `fn`.
 *
 * @example const once = onceAcrossJobs(); experiment({ ..., log: once.log(console.error), hooksFor: () => once.wrap(progressHooks()) })
 */
export function onceAcrossJobs(): { seen(msg: string): void; log(fn: (msg: string) => void): (msg: string) => void; wrap(hooks: TrainHooks): TrainHooks } {
  const said = new Set<string>();
  const key = (msg: string) => (msg.endsWith(`: ${RANDOM_INIT_NOTE}`) ? RANDOM_INIT_NOTE : msg);
  return {
    seen: (msg) => void said.add(key(msg)),
    log: (fn) => (msg) => {
      said.add(key(msg));
      fn(msg);
    },
    wrap(hooks) {
      const h = hooks as Record<string, ((...a: unknown[]) => void) | undefined>;
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(HOOK_KEYS)) if (typeof h[k] === 'function') out[k] = h[k]!.bind(hooks);
      // only what every job says alike: a run's own notices ('fold0: resuming after epoch 3')
      // read the same for another backbone's fold 0
      if (hooks.onLog) out.onLog = (msg: string) => {
        const k = key(msg);
        if (k !== RANDOM_INIT_NOTE && !msg.startsWith('data: ')) return hooks.onLog!(msg);
        if (said.has(k)) return;
        said.add(k);
        hooks.onLog!(msg);
      };
      return out as TrainHooks;
    },
  };
}

/**
 * Refuses a hooks object train() would partly ignore: `onEpochEnd` was never called. A plain
 * object may hold hooks only; an instance of a class may also keep its state in fields and
 * have helper methods, so there only a method named almost like a hook (a typo) is refused.
 */
export function checkHooks(op: string, hooks: unknown): void {
  const proto: unknown = hooks !== null && typeof hooks === 'object' ? Object.getPrototypeOf(hooks) : null;
  if (proto === null || proto === Object.prototype) checkOptions(op, hooks, HOOK_KEYS, 'hooks');
  else {
    const methods = new Set<string>();
    for (let p = proto as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null)
      for (const k of Object.getOwnPropertyNames(p)) if (k !== 'constructor') methods.add(k);
    for (const k of Object.keys(hooks as object)) if (typeof (hooks as Record<string, unknown>)[k] === 'function') methods.add(k);
    for (const k of methods) {
      if (k in HOOK_KEYS) continue;
      const near = nearestKey(k, HOOK_KEYS as Record<string, true>);
      check(!near, 'EINVAL', op, () => `hooks method '${k}' is not a hook and would never be called; did you mean ${near}? (hooks: ${Object.keys(HOOK_KEYS).join(', ')})`);
    }
  }
  for (const k of Object.keys(HOOK_KEYS)) {
    const f = (hooks as Record<string, unknown> | undefined)?.[k];
    check(f === undefined || typeof f === 'function', 'EINVAL', op, () => `hook '${k}' must be a function, got ${show(f)}`);
  }
}

/**
 * `hooks` whose returned promises are kept: a hook's type returns void, which an async function
 * satisfies, and its rejection was unhandled and ended the Node process. `settle()` awaits what
 * the hooks returned so far and throws the first rejection, as a hook that throws stops train().
 */
export function settlingHooks(hooks: TrainHooks): { hooks: TrainHooks; settle: () => Promise<void> } {
  let pending: Promise<unknown>[] = [], failed: { e: unknown } | undefined;
  const h = hooks as Record<string, ((...a: unknown[]) => unknown) | undefined>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(HOOK_KEYS)) {
    const f = h[k];
    if (typeof f !== 'function') continue;
    out[k] = (...a: unknown[]) => {
      const r = f.apply(hooks, a);
      // a handler now: a rejection left without one until settle() ends the process
      if (r !== null && typeof (r as { then?: unknown } | undefined)?.then === 'function')
        pending.push(Promise.resolve(r).catch((e: unknown) => void (failed ??= { e })));
    };
  }
  return {
    hooks: out as TrainHooks,
    settle: async () => {
      while (pending.length) {
        const now = pending;
        pending = [];
        await Promise.all(now);
      }
      if (failed) throw failed.e;
    },
  };
}

/** The progress bars drawing now (started by onStart, not yet ended by onEnd). */
const drawing = new Set<cliProgress.MultiBar>();

/**
 * Stops every progress bar still drawing, which gives the terminal back its cursor and line
 * wrapping (the bars hide the one and turn off the other while they draw); returns how many.
 * The CLI's SIGINT / SIGTERM handler calls it before exiting: a Ctrl-C during training left
 * the shell with no visible cursor and lines that no longer wrapped.
 */
export function stopProgressBars(): number {
  const n = drawing.size;
  for (const m of drawing) m.stop();
  drawing.clear();
  return n;
}

/**
 * Hooks that draw progress bars (TTY) or print a line per epoch (not a TTY).
 *
 * @example const hooks = progressHooks({ label: 'demo stl_afc' });
 */
export function progressHooks(o: { label?: string; stream?: NodeJS.WriteStream } = {}): TrainHooks {
  const stream = o.stream ?? process.stderr;
  const tty = Boolean(stream.isTTY);
  let multi: cliProgress.MultiBar | null = null;
  let epochBar: cliProgress.SingleBar | null = null;
  let batchBar: cliProgress.SingleBar | null = null;
  let label = o.label ?? '';
  let runningLoss = 0;
  let seen = 0;
  let lastVal = '';
  const t0 = Date.now();
  return {
    onStart(info) {
      label = o.label ?? info.label;
      if (!tty) {
        const n = info.batchesPerEpoch;
        stream.write(`${label}: ${info.startEpoch > 0 ? `resuming after epoch ${info.startEpoch}` : 'starting'}, up to ${info.maxEpochs} epoch${info.maxEpochs === 1 ? '' : 's'} × ${n} batch${n === 1 ? '' : 'es'}` +
          ' (* on an epoch line: a new best validation loss, the AFC one in a two-task run, counted after the warm-up)\n');
        return;
      }
      multi = new cliProgress.MultiBar({
        stream, clearOnComplete: false, hideCursor: true, etaBuffer: 20, fps: 5,
        format: '{label} |{bar}| {value}/{total} {unit} | {info} | ETA {eta_formatted}', barsize: 24,
        // an ETA cli-progress cannot estimate yet is 'INF' or 'NULL', which its formatter cut to 'NF' ('ETA NFs')
        formatTime: (t, opts, round) => (typeof t === 'number' ? cliProgress.Format.TimeFormat(t, opts, round) : '–'),
      }, cliProgress.Presets.shades_classic);
      drawing.add(multi);
      const w = Math.min(48, Math.max(24, label.length));
      epochBar = multi.create(info.maxEpochs, info.startEpoch, { label: label.padEnd(w).slice(0, w), unit: 'epochs ', info: 'val –' });
      batchBar = multi.create(info.batchesPerEpoch, 0, { label: '  batches'.padEnd(w), unit: 'batches', info: 'loss –' });
    },
    onBatch(b) {
      runningLoss += b.loss;
      seen++;
      if (batchBar) {
        if (b.batch === 1) batchBar.setTotal(b.batches);
        batchBar.update(b.batch, { info: `loss ${(runningLoss / seen).toFixed(4)}` });
      }
    },
    onEpoch(r) {
      runningLoss = 0;
      seen = 0;
      // a two-task run selects on the AFC loss (the * ), so both task losses are shown beside the total
      const tasks = r.valAfcLoss !== undefined && r.valBxLoss !== undefined ? ` (afc ${r.valAfcLoss.toFixed(4)} bx ${r.valBxLoss.toFixed(4)})` : '';
      lastVal = `val ${r.valLoss.toFixed(4)}${tasks}${r.valAcc !== undefined ? ` acc ${(100 * r.valAcc).toFixed(1)}%` : ''}${r.isBest ? ' *' : ''}`;
      if (epochBar) {
        epochBar.update(r.epoch, { info: lastVal });
        batchBar?.update(0, { info: 'loss –' });
      } else {
        stream.write(`${label}: epoch ${r.epoch} train ${r.trainLoss.toFixed(4)} ${lastVal} lr ${r.lr.toExponential(2)} (${((Date.now() - t0) / 1000).toFixed(0)} s elapsed)\n`);
      }
    },
    onLog(msg) {
      if (multi) multi.log(`${msg}\n`);
      else stream.write(`${msg}\n`);
    },
    onEnd() {
      if (multi) {
        drawing.delete(multi);
        multi.stop();
        multi = null;
      }
    },
  };
}

/**
 * Hooks that print only the messages (data summary and warnings, skipped records, resume and
 * initialisation notices), one line each: the CLI's `--no-progress`, which drops the bars, not
 * what the run has to say.
 *
 * @example await train(cfg, logHooks());
 */
export function logHooks(stream: NodeJS.WritableStream = process.stderr, prefix = ''): TrainHooks {
  return { onLog: (msg) => stream.write(`${prefix}${msg}\n`) };
}

/** Hooks that do nothing (library default). */
export const SILENT: TrainHooks = {};
