// The plain-text progress lines (no terminal: CI logs, pipes) say what they count, in the
// right number, and what an epoch line's * means.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { progressHooks } from '../../ts/train/progress';

/** A non-TTY stream that keeps what is written. */
function sink(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = { isTTY: false, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

test('the starting line counts epochs and batches in the right number and explains the best-epoch mark', () => {
  const one = sink();
  progressHooks({ stream: one.stream, label: 'run' }).onStart!({ label: 'run', startEpoch: 0, maxEpochs: 1, batchesPerEpoch: 1 });
  assert.match(one.text(), 'run: starting, up to 1 epoch × 1 batch (* on an epoch line: a new best validation loss, the AFC one in a two-task run, counted after the warm-up)');
  const many = sink();
  progressHooks({ stream: many.stream, label: 'run' }).onStart!({ label: 'run', startEpoch: 2, maxEpochs: 6, batchesPerEpoch: 5 });
  assert.match(many.text(), 'run: resuming after epoch 2, up to 6 epochs × 5 batches (');
});

test('an epoch line of a two-task run shows both task losses beside the total (the * follows the AFC one), and its seconds are the run\'s so far', () => {
  const out = sink();
  const h = progressHooks({ stream: out.stream, label: 'run' });
  h.onStart!({ label: 'run', startEpoch: 0, maxEpochs: 2, batchesPerEpoch: 1 });
  h.onEpoch!({ epoch: 1, trainLoss: 1.5, valLoss: 1.25, valAfcLoss: 0.5, valBxLoss: 0.75, valAcc: 0.5, lr: 1e-3, isBest: true });
  h.onEpoch!({ epoch: 2, trainLoss: 1.5, valLoss: 0.75, lr: 1e-3, isBest: false });
  const lines = out.text().split('\n');
  assert.match(lines[1], /^run: epoch 1 train 1\.5000 val 1\.2500 \(afc 0\.5000 bx 0\.7500\) acc 50\.0% \* lr 1\.00e-3 \(\d+ s elapsed\)$/);
  assert.match(lines[2], /^run: epoch 2 train 1\.5000 val 0\.7500 lr 1\.00e-3 \(\d+ s elapsed\)$/, 'one task: the total alone');
});

test('a terminal\'s batch bar, reset after an epoch, shows no ETA rather than a garbled one (it read "ETA NFs": cli-progress\'s INF cut to two characters)', async () => {
  const tty = { isTTY: true, columns: 120, text: '', write(c: string) { tty.text += c; return true; }, cursorTo() {}, clearLine() {}, moveCursor() {}, on() {}, removeListener() {} };
  const h = progressHooks({ stream: tty as unknown as NodeJS.WriteStream, label: 'run' });
  h.onStart!({ label: 'run', startEpoch: 0, maxEpochs: 2, batchesPerEpoch: 3 });
  for (let b = 1; b <= 3; b++) {
    h.onBatch!({ epoch: 1, batch: b, batches: 3, loss: 0.5 });
    await new Promise((r) => setTimeout(r, 30));
  }
  h.onEpoch!({ epoch: 1, trainLoss: 0.5, valLoss: 0.6, lr: 1e-3, isBest: false });
  await new Promise((r) => setTimeout(r, 300)); // the bars redraw 5 times a second
  h.onEnd!();
  const etas = new Set((tty.text.match(/ETA \S*/g) ?? []).map((e) => e.split(String.fromCharCode(27))[0]));
  assert.ok(etas.size > 0, tty.text);
  for (const e of etas) assert.match(e, /^ETA (\d+[hms](\d+[ms])?|–)$/, [...etas].join(', '));
});

test.run();
