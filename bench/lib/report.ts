/**
 * What every benchmark prints besides its numbers, one way: the median (the true median: the
 * mean of the two middle samples for an even count), the geometric mean, the machine (CPU
 * model, cores, the ISA mdmt's CPU backend reports, threads), the git commit and the load
 * average, with a warning when the machine is busier than the benchmark's threads.
 *
 *   console.log(machineLine(threads)); const warn = busyWarning(threads); if (warn) console.log(warn);
 */
import { execSync } from 'child_process';
import * as os from 'os';
import { devices } from '../../ts/devices';
import { packageRoot } from '../../ts/native/binding';

/** The median of xs (NaN when empty). */
export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** The geometric mean of xs (NaN when empty). */
export function geomean(xs: readonly number[]): number {
  return xs.length ? Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length) : NaN;
}

/** `git rev-parse --short HEAD` of the package, with "(+ uncommitted changes)" when tracked files differ; 'unknown' outside a checkout. */
export function gitCommit(): string {
  const sh = (c: string) => execSync(c, { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const h = sh('git rev-parse --short HEAD');
    return sh('git status --porcelain --untracked-files=no') ? `${h} (+ uncommitted changes)` : h;
  } catch {
    return 'unknown';
  }
}

/** The 1, 5 and 15 minute load averages. */
export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

/** A warning line when the 1-minute load exceeds the threads the benchmark uses, else ''. */
export function busyWarning(threads: number, load1 = os.loadavg()[0]): string {
  return load1 > threads
    ? `WARNING: 1-minute load ${load1.toFixed(2)} exceeds the ${threads} thread(s) of this run: the machine is busy, timings and ratios are unreliable`
    : '';
}

/** `# machine: <CPU>, <n> logical cores, ISA <isa>, <threads> threads; node <v>; commit <c>; load <1 5 15>`. */
export function machineLine(threads: number): string {
  const isa = devices().find((d) => d.type === 'cpu')?.props.isa ?? '?';
  return `# machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} logical cores, ISA ${isa}, ${threads} threads; ` +
    `node ${process.version}; commit ${gitCommit()}; load ${loadAverage()}`;
}

/** The machine line, then the busy warning when there is one: what a benchmark prints before its table. */
export function printPreamble(threads: number): void {
  console.log(machineLine(threads));
  const warn = busyWarning(threads);
  if (warn) console.log(warn);
}

/**
 * `text` (bench/RESULTS.md) with `lines` added at the end of the section headed `head` (before
 * the next "## " heading), the section created at the end when missing: earlier runs stay.
 * @example appendToSection('## A\n\nold\n', '## A', ['### new']) // '## A\n\nold\n\n### new\n'
 */
export function appendToSection(text: string, head: string, lines: readonly string[]): string {
  if (!text.split('\n').includes(head)) text = `${text.trimEnd()}\n\n${head}\n`;
  const at = text.startsWith(`${head}\n`) ? 0 : text.indexOf(`\n${head}\n`) + 1;
  const next = text.indexOf('\n## ', at + head.length);
  const end = next < 0 ? text.length : next;
  return `${text.slice(0, end).trimEnd()}\n\n${lines.join('\n').trim()}\n${next < 0 ? '' : `\n${text.slice(end).replace(/^\n+/, '')}`}`;
}
