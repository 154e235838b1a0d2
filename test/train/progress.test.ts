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
  assert.match(one.text(), 'run: starting, up to 1 epoch × 1 batch (* on an epoch line: a new best validation loss, counted after the warm-up)');
  const many = sink();
  progressHooks({ stream: many.stream, label: 'run' }).onStart!({ label: 'run', startEpoch: 2, maxEpochs: 6, batchesPerEpoch: 5 });
  assert.match(many.text(), 'run: resuming after epoch 2, up to 6 epochs × 5 batches (');
});

test.run();
