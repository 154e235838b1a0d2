/**
 * The benchmarks' one parser for their settings: environment variables (BENCH_ROUNDS=3) and
 * command-line options (`--rounds=3` or `--rounds 3`, forwarded by scripts/bench.js after
 * `--`). Integers, numbers, lists and choices are checked against their range; an option
 * no benchmark setting reads is refused. A bad value is a BenchArgError that names the
 * setting and the value; `parseSettings` prints it as one line and exits with status 2.
 *
 *   const cfg = parseSettings('bench/ops/cpu-kernels', (a) => ({
 *     reps: a.int('--reps', 7, { min: 1 }), models: a.models('BENCH_MODELS', ['resnet18']) }));
 */
import { listModels, modelInfo } from '../../ts/models/zoo';

export class BenchArgError extends Error {}

/** Exit status of a benchmark given a bad setting. */
export const EXIT_BAD_ARGS = 2;

interface Range { min?: number; max?: number }

function range({ min = -Infinity, max = Infinity }: Range, integer: boolean): string {
  const kind = integer ? 'an integer' : 'a number';
  if (min > -Infinity && max < Infinity) return `${kind} in [${min}, ${max}]`;
  if (min > -Infinity) return `${kind} ≥ ${min}`;
  return max < Infinity ? `${kind} ≤ ${max}` : kind;
}

/** Reads settings from argv (names starting with `--`) and the environment (the other names). */
export class Args {
  private readonly used = new Set<number>();
  private readonly known = new Set<string>();

  constructor(private readonly argv: readonly string[], private readonly env: NodeJS.ProcessEnv) {}

  /** The raw text of a setting (undefined when absent; an empty environment variable counts as absent). */
  raw(name: string): string | undefined {
    if (!name.startsWith('--')) return this.env[name] === '' ? undefined : this.env[name];
    this.known.add(name);
    let value: string | undefined;
    for (let i = 0; i < this.argv.length; i++) {
      const a = this.argv[i];
      if (a.startsWith(`${name}=`)) {
        this.used.add(i);
        value = a.slice(name.length + 1);
      } else if (a === name) {
        if (i + 1 >= this.argv.length || this.argv[i + 1].startsWith('--')) throw new BenchArgError(`${name} needs a value`);
        this.used.add(i).add(i + 1);
        value = this.argv[++i];
      }
    }
    return value;
  }

  /** An option without a value (`--quick`), or an environment variable 0 / 1. */
  flag(name: string, def = false): boolean {
    if (!name.startsWith('--')) return this.choice(name, def ? '1' : '0', ['0', '1']) === '1';
    this.known.add(name);
    let on = false;
    this.argv.forEach((a, i) => {
      if (a.startsWith(`${name}=`)) throw new BenchArgError(`${name} takes no value, got '${a}'`);
      if (a === name) {
        this.used.add(i);
        on = true;
      }
    });
    return on;
  }

  str(name: string, def: string): string {
    return this.raw(name) ?? def;
  }

  int(name: string, def: number, r: Range = {}): number {
    return this.number(name, def, r, true);
  }

  num(name: string, def: number, r: Range = {}): number {
    return this.number(name, def, r, false);
  }

  private number(name: string, def: number, r: Range, integer: boolean): number {
    const v = this.raw(name);
    if (v === undefined) return def;
    const n = Number(v);
    const syntax = integer ? /^[-+]?\d+$/ : /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
    if (!syntax.test(v.trim()) || !Number.isFinite(n) || n < (r.min ?? -Infinity) || n > (r.max ?? Infinity))
      throw new BenchArgError(`${name} must be ${range(r, integer)}, got '${v}'`);
    return n;
  }

  choice<T extends string>(name: string, def: T, allowed: readonly T[]): T {
    const v = this.raw(name) ?? def;
    if (!allowed.includes(v as T)) throw new BenchArgError(`${name} must be one of ${allowed.join(' | ')}, got '${v}'`);
    return v as T;
  }

  /**
   * A --filter: comma-separated parts (`--filter=resnet18,mobilenet`); `keeps(label)` is true
   * when the label contains one of them, or when none is given. `text` is the value as given.
   */
  filter(name: string): { text: string; keeps: (label: string) => boolean; given: boolean } {
    const text = this.str(name, '');
    const parts = text.split(',').map((f) => f.trim()).filter(Boolean);
    return { text, given: parts.length > 0, keeps: (label) => !parts.length || parts.some((f) => label.includes(f)) };
  }

  /** A comma-separated list, each item one of `allowed` when given. */
  list(name: string, def: readonly string[], allowed?: readonly string[]): string[] {
    const v = this.raw(name);
    if (v === undefined) return [...def];
    const items = v.split(',').map((s) => s.trim());
    if (!items.length || items.some((s) => !s)) throw new BenchArgError(`${name} must be a comma-separated list without empty items, got '${v}'`);
    const bad = allowed && items.find((s) => !allowed.includes(s));
    if (bad !== undefined) throw new BenchArgError(`${name}: '${bad}' is not one of ${allowed!.join(', ')}`);
    return items;
  }

  /** A comma-separated list of integers in a range. */
  ints(name: string, def: readonly number[], r: Range = {}): number[] {
    const v = this.raw(name);
    if (v === undefined) return [...def];
    return v.split(',').map((s) => {
      if (!/^[-+]?\d+$/.test(s.trim()) || Number(s) < (r.min ?? -Infinity) || Number(s) > (r.max ?? Infinity))
        throw new BenchArgError(`${name} must be comma-separated ${range(r, true).replace(/^an integer/, 'integers')}, got '${v}'`);
      return Number(s);
    });
  }

  /** Model-zoo names. */
  models(name: string, def: readonly string[]): string[] {
    return this.list(name, def, listModels());
  }

  /** Every argv entry no setting read: refused, so that a mistyped option does not silently run the defaults. */
  done(): void {
    const left = this.argv.filter((_, i) => !this.used.has(i));
    if (left.length)
      throw new BenchArgError(`unknown option${left.length > 1 ? 's' : ''} ${left.map((a) => `'${a}'`).join(' ')} (options: ${this.known.size ? [...this.known].join(' ') : 'none'})`);
  }
}

/** Refuses an input size below any of the models' smallest (the zoo's modelInfo(name).minSize). */
export function checkSize(models: readonly string[], size: number, setting: string): void {
  for (const m of models) {
    const min = modelInfo(m).minSize;
    if (size < min) throw new BenchArgError(`${setting}=${size} is below ${m}'s smallest input size ${min}`);
  }
}

/** The settings `read` returns; a BenchArgError becomes `<who>: <message>` on stderr and exit status 2. */
export function parseSettings<T>(who: string, read: (a: Args) => T, argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): T {
  const a = new Args(argv, env);
  try {
    const v = read(a);
    a.done();
    return v;
  } catch (e) {
    if (!(e instanceof BenchArgError)) throw e;
    console.error(`${who}: ${e.message}`);
    process.exit(EXIT_BAD_ARGS);
  }
}
