/**
 * Worker thread body of the loader: receives SampleTasks, runs them, answers with the result
 * or the error (code + message) so the main thread can raise or skip.
 */
import { parentPort } from 'worker_threads';
import { MdmtError } from '../errors';
import { runSample, SampleTask } from './sample';

if (parentPort) {
  const port = parentPort;
  // one message carries a chunk of samples; the answer lists one outcome per sample
  const answer = async (m: { seq: number; tasks: SampleTask[] }): Promise<void> => {
    const out = [];
    for (const task of m.tasks) {
      try {
        out.push({ ok: true, result: await runSample(task) });
      } catch (e) {
        const code = e instanceof MdmtError ? e.code : 'EINTERNAL';
        out.push({ ok: false, error: { code, message: e instanceof Error ? e.message : String(e), mdmt: e instanceof MdmtError } });
      }
    }
    port.postMessage({ seq: m.seq, out });
  };
  // answer() catches every sample's error itself, so its promise never rejects
  port.on('message', (m: { seq: number; tasks: SampleTask[] }) => void answer(m));
}
