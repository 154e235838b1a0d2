/**
 * Worker thread body of the loader: receives SampleTasks, runs them, answers with the result
 * or the error (code + message) so the main thread can raise or skip.
 */
import { parentPort } from 'worker_threads';
import { MdmtError } from '../errors';
import { runSample, SampleTask } from './sample';

if (parentPort) {
  const port = parentPort;
  port.on('message', async (m: { seq: number; task: SampleTask }) => {
    try {
      const r = await runSample(m.task);
      port.postMessage({ seq: m.seq, ok: true, result: r });
    } catch (e) {
      const code = e instanceof MdmtError ? e.code : 'EINTERNAL';
      port.postMessage({ seq: m.seq, ok: false, error: { code, message: e instanceof Error ? e.message : String(e), mdmt: e instanceof MdmtError } });
    }
  });
}
