/**
 * The `mdmt` command line: a thin shell over the library (commander). Subcommands:
 * demo, train, experiment, report, predict, doctor, synth, inspect, export, each defined by
 * its own file in ./commands. Exit codes scripts can trust:
 * 0 success, 1 failure (bad data, I/O, training error), 2 usage (unknown command or flag,
 * bad flag value, invalid configuration). Errors name the flag or file; MDMT_DEBUG=1 adds
 * the stack.
 *
 *   mdmt --help;  mdmt demo;  mdmt experiment --help
 */
import { Command, CommanderError } from 'commander';
import { MdmtError } from '../errors';
import { packageVersion } from '../native/binding';
import { releaseHeldLocks } from '../train/lock';
import { stopProgressBars } from '../train/progress';
import * as demo from './commands/demo';
import * as doctor from './commands/doctor';
import * as experiment from './commands/experiment';
import * as exportCmd from './commands/export';
import * as inspect from './commands/inspect';
import * as predictCmd from './commands/predict';
import * as report from './commands/report';
import * as synth from './commands/synth';
import * as trainCmd from './commands/train';
import { EXIT, withFlags } from './options';

/**
 * Subcommand definitions, each with `register(program)`, in --help order. A definition holds
 * the flags, the help and the usage checks, and imports only commander, ./options and
 * train/config; its action imports the command's work (ts/cli/<command>.ts, which loads the
 * engine, sharp, protobufjs ...) when the command runs, so `--help` and usage errors load
 * none of that (test/cli/lazy.test.ts).
 */
const COMMANDS = [demo, trainCmd, experiment, report, predictCmd, doctor, synth, inspect, exportCmd];

/**
 * The commander program with every subcommand (exitOverride: errors are thrown, not exited).
 *
 * @example await buildProgram().parseAsync(['node', 'mdmt', 'doctor'])
 */
export function buildProgram(): Command {
  const v = packageVersion();
  const program = new Command('mdmt')
    .description('multi-dataset multi-task CNN training (Ruffini et al., MICCAI 2024) on a native CPU/CUDA engine')
    .version(v)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const c of COMMANDS) c.register(program);
  for (const c of program.commands) {
    c.exitOverride().showHelpAfterError('(run with --help for usage)');
    unknownBeforeMissing(c);
  }
  return program;
}

/**
 * commander checks required options before unknown ones, so `mdmt train --backbon resnet18 …`
 * said "required option '--backbone <name>' not specified" to a user who gave it, misspelt. The
 * unknown flag (with commander's "Did you mean --backbone?") is reported first instead. The
 * hook is commander's own (not in its typings); a later commander without it keeps its order.
 */
function unknownBeforeMissing(c: Command): void {
  const cmd = c as Command & { missingMandatoryOptionValue?: (o: unknown) => never; unknownOption?: (flag: string) => never };
  const missing = cmd.missingMandatoryOptionValue, unknown = cmd.unknownOption;
  if (typeof missing !== 'function' || typeof unknown !== 'function') return;
  cmd.missingMandatoryOptionValue = (o: unknown): never => {
    const flag = cmd.args.find((a) => a.length > 1 && a.startsWith('-'));
    if (flag) unknown.call(cmd, flag.split('=')[0]);
    return missing.call(cmd, o);
  };
}

/** Maps a thrown error to an exit code and prints it (commander already printed its own). */
export function exitCodeOf(e: unknown, stderr: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
    if (e.code === 'commander.executeSubCommandAsync') return e.exitCode;
    return EXIT.usage;
  }
  if (e instanceof MdmtError) {
    stderr(`mdmt: ${withFlags(e.message)}\n`);
    if (process.env.MDMT_DEBUG === '1') stderr(`${e.stack}\n`);
    return e.code === 'ECONFIG' ? EXIT.usage : EXIT.failure;
  }
  stderr(`mdmt: ${e instanceof Error ? e.message : String(e)}\n`);
  if (process.env.MDMT_DEBUG === '1' && e instanceof Error) stderr(`${e.stack}\n`);
  return EXIT.failure;
}

/**
 * Runs the CLI on `argv` (process.argv shape) and returns the exit code.
 *
 * @example process.exitCode = await main(process.argv)
 */
export async function main(argv: string[]): Promise<number> {
  let program: Command;
  try {
    program = buildProgram();
  } catch (e) {
    return exitCodeOf(e);
  }
  if (argv.length <= 2) {
    program.outputHelp();
    return EXIT.usage;
  }
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    return exitCodeOf(e);
  }
}

/**
 * Ctrl-C (SIGINT) and SIGTERM (a scheduler's preemption) end the process after stopping the
 * progress bars (the terminal's cursor and line wrapping back) and releasing the
 * run-directory locks it holds and saying how to resume; without this they stayed behind.
 * Installed by bin/mdmt.js, not by main() (tests run main() in-process).
 */
export function exitOnSignals(argv: readonly string[] = process.argv): void {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const)
    process.once(sig, () => {
      stopProgressBars(); // the terminal's cursor and line wrapping back
      const n = releaseHeldLocks();
      process.stderr.write(`\nmdmt: interrupted (${sig})${n ? `; released ${n} run-directory lock${n > 1 ? 's' : ''}` : ''}${afterInterrupt(argv)}\n`);
      process.exit(code);
    });
}

/**
 * What to do after an interrupted command. Only train, experiment and demo resume; an
 * interrupted synth told to "run the same command again to resume" was then refused, its
 * half-written folder not being empty.
 */
export function afterInterrupt(argv: readonly string[]): string {
  const command = argv.slice(2).find((a) => !a.startsWith('-'));
  if (command === 'train' || command === 'experiment' || command === 'demo') return '; run the same command again to resume';
  if (command === 'synth') return '; the output folder is incomplete: run the same command with --force to write it again';
  return '';
}

if (require.main === module) {
  exitOnSignals();
  void main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
