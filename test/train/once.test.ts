// onceAcrossJobs: a sweep's jobs print the shared data summary and the random-initialisation
// notice once (mdmt demo printed its 4-line summary 46 times over 45 runs), and every other
// message of a run, resume notices included, as before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { onceAcrossJobs, RANDOM_INIT_NOTE, type TrainHooks } from '../../ts/train/progress';

class Collect implements TrainHooks {
  lines: string[] = [];
  ended = 0;
  onLog(msg: string) { this.lines.push(msg); }
  onEnd() { this.ended++; }
}

test('onceAcrossJobs: the summary and the notice once across jobs, a run\'s own messages always', () => {
  const once = onceAcrossJobs();
  once.seen('data: AIforCOVID x.xlsx: 10 rows, 10 records kept; nothing dropped');
  const a = new Collect(), b = new Collect();
  const ha = once.wrap(a), hb = once.wrap(b);
  for (const [h, fold] of [[ha, 'fold0'], [hb, 'fold1']] as const) {
    h.onLog!('data: AIforCOVID x.xlsx: 10 rows, 10 records kept; nothing dropped');
    h.onLog!('data: reading the 7 images of the split once before training (the epochs read them from the cache)');
    h.onLog!(`${fold}: ${RANDOM_INIT_NOTE}`);
    h.onLog!('fold0: resuming after epoch 3');
    h.onEnd!();
  }
  assert.equal(a.lines, ['data: reading the 7 images of the split once before training (the epochs read them from the cache)', `fold0: ${RANDOM_INIT_NOTE}`, 'fold0: resuming after epoch 3']);
  assert.equal(b.lines, ['fold0: resuming after epoch 3'], 'another backbone\'s fold 0 resuming is said again');
  assert.is(a.ended + b.ended, 2, 'the other hooks are called, on their own object');
  assert.not.ok('onBatch' in ha, 'hooks the job has not are not added');
});

test('onceAcrossJobs: a fold\'s note on its split (train() says it as data:) once for all the fold\'s jobs', () => {
  const once = onceAcrossJobs();
  const note = 'data: warning: AFC fold cureus.com: the test part holds one class only (MILD 0, SEVERE 6): its F1 and G-mean say little (a model answering that class always scores ACC 100, GM 0)';
  const jobs = ['stl_afc', 'ft', 'mdmt'].map(() => new Collect());
  for (const j of jobs) once.wrap(j).onLog!(note);
  assert.equal(jobs.map((j) => j.lines.length), [1, 0, 0]);
  const other = new Collect();
  once.wrap(other).onLog!(note.replace('cureus.com', 'eurorad.org'));
  assert.is(other.lines.length, 1, 'another fold\'s note is said');
});

test.run();
