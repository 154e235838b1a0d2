// The terminal after a Ctrl-C: progress bars hide the cursor and turn off line wrapping while they
// draw, so the CLI's signal handler stops them before exiting; the shell got back a terminal
// with no visible cursor and lines that no longer wrapped.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { progressHooks, stopProgressBars } from '../../ts/train/progress';

const SHOW_CURSOR = '\x1b[?25h', HIDE_CURSOR = '\x1b[?25l', WRAP_ON = '\x1b[?7h', WRAP_OFF = '\x1b[?7l';
const START = { label: 'r', startEpoch: 0, maxEpochs: 3, batchesPerEpoch: 2 };

/** A stream that says it is a terminal and keeps what is written to it. */
function fakeTty(): NodeJS.WriteStream & { text: string } {
  const s = { isTTY: true, columns: 120, text: '', write(c: string | Uint8Array) { s.text += String(c); return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('stopProgressBars() stops the bars still drawing: cursor and line wrapping restored, their timer gone', () => {
  const before = timers();
  const tty = fakeTty();
  const hooks = progressHooks({ stream: tty });
  hooks.onStart!(START);
  assert.ok(tty.text.includes(HIDE_CURSOR) && tty.text.includes(WRAP_OFF), 'the bars draw');
  assert.is(stopProgressBars(), 1);
  assert.ok(tty.text.lastIndexOf(SHOW_CURSOR) > tty.text.lastIndexOf(HIDE_CURSOR), 'the cursor is shown again');
  assert.ok(tty.text.lastIndexOf(WRAP_ON) > tty.text.lastIndexOf(WRAP_OFF), 'lines wrap again');
  assert.is(timers(), before, 'no redraw timer left');
  hooks.onEnd!(); // the run's own end afterwards is harmless
  assert.is(stopProgressBars(), 0, 'a bar ended by onEnd is not stopped twice');
});

test('Ctrl-C in the CLI while bars draw: the terminal gets its cursor and line wrapping back', () => {
  // a child process with the CLI's signal handlers, a progress bar on a stderr that says it is a terminal, then SIGINT
  const js = path.extname(__filename) === '.js';
  const dir = path.join(__dirname, '..', '..', 'ts'), ext = js ? '.js' : '.ts'; // dist/ts from dist/test
  const script = `${js ? '' : `require(${JSON.stringify(require.resolve('tsx/cjs'))});`}
    process.stderr.isTTY = true; process.stderr.columns = 120;
    require(${JSON.stringify(path.join(dir, 'cli', `main${ext}`))}).exitOnSignals();
    require(${JSON.stringify(path.join(dir, 'train', `progress${ext}`))}).progressHooks().onStart(${JSON.stringify(START)});
    setTimeout(() => process.kill(process.pid, 'SIGINT'), 50);`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.is(r.status, 130, r.stderr);
  assert.ok(r.stderr.includes(HIDE_CURSOR), 'the bars drew');
  assert.ok(r.stderr.lastIndexOf(SHOW_CURSOR) > r.stderr.lastIndexOf(HIDE_CURSOR), `cursor shown again before exit: ${JSON.stringify(r.stderr.slice(-200))}`);
  assert.ok(r.stderr.lastIndexOf(WRAP_ON) > r.stderr.lastIndexOf(WRAP_OFF), 'lines wrap again');
  assert.match(r.stderr, 'mdmt: interrupted (SIGINT)');
});

test.run();
