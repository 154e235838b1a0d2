/**
 * A compiled MDMT step replayed as one CUDA graph (native/cuda/graph.cc) equals the same
 * compiled step replayed op by op, bit for bit, over several steps: the loss of every step
 * and afterwards every parameter, BatchNorm statistic and Adam moment; in fp32 and in bf16 +
 * NHWC; and the graph was really launched. MDMT_DETERMINISTIC=1 (set here) admits only
 * deterministic cuDNN algorithms, without which two uncaptured runs differ already. A bad
 * label in a captured step makes that step's loss NaN and the next run throw EINVAL.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MdmtError } from '../../ts/errors';
import { setDropoutSeed } from '../../ts/ops/dropout';
import { compileStep, StepInput } from '../../ts/plan/step';
import { batch, snapshot, trainee } from '../plan/_fixture';
import { CUDA_DEVICE, cudaSkipReason } from './_cuda';

process.env.MDMT_DETERMINISTIC = '1';
const skip = cudaSkipReason() ?? (CUDA_DEVICE === 'cpu' ? 'CUDA graphs need a CUDA device (no CPU dry run)' : null);
const MODELS = (process.env.MDMT_GRAPH_MODELS ?? 'resnet18 mobilenet_v2 shufflenet_v2_x1_0').split(/[ ,]+/).filter(Boolean);
const STEPS = 5, N = 16, S = 64;

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

if (skip) test('graph replay == uncaptured replay', () => console.log(`  [skip] CUDA graph replay: ${skip}`));
else
  for (const name of MODELS)
    for (const precision of ['fp32', 'bf16'] as const) {
      test(`${name} ${precision}: ${STEPS} steps as one CUDA graph each = the same plan op by op, bit for bit`, () => {
        const a = trainee(name, 0, CUDA_DEVICE), b = trainee(name, 0, CUDA_DEVICE);
        const ga = compileStep(a.step, { device: CUDA_DEVICE, precision, cudaGraph: true });
        const gb = compileStep(b.step, { device: CUDA_DEVICE, precision });
        try {
          for (let k = 0; k < STEPS; k++) {
            const d = batch(k, N, S);
            // the same dropout masks in both: the seed stream restarts at step k for each
            setDropoutSeed(k);
            const la = ga.run(d)[0].item();
            setDropoutSeed(k);
            const lb = gb.run(d)[0].item();
            assert.ok(Object.is(la, lb), `step ${k}: loss ${la} (graph) vs ${lb} (op by op)`);
          }
          const launches = ga.cached[0].graphLaunches;
          assert.ok(launches >= STEPS - 2, `the graph was launched (${launches} launches)`);
          assert.is(gb.cached[0].graphLaunches, -1);
          const sa = snapshot(a), sb = snapshot(b);
          const differ = [...sa.keys()].filter((k2) => bits(sa.get(k2)!) !== bits(sb.get(k2)!));
          assert.equal(differ, [], `state that differs after ${STEPS} steps: ${differ.slice(0, 5).join(', ')}`);
          console.log(`  ${name} ${precision}: ${sa.size} tensors equal, ${launches} graph launches`);
          // a label outside [0, C) in a captured step: NaN now, the named error at the next run
          const bad = batch(STEPS, N, S) as { data: Int32Array; shape: number[] }[];
          const labels = Int32Array.from(bad[1].data);
          labels[0] = 7;
          const poisoned: StepInput[] = bad.map((x, i) => (i === 1 ? { data: labels, shape: x.shape } : x));
          assert.ok(Number.isNaN(ga.run(poisoned)[0].item()), 'the poisoned step returns NaN');
          try {
            ga.run(batch(STEPS + 1, N, S));
            assert.unreachable('the next run must throw');
          } catch (e) {
            assert.instance(e, MdmtError);
            assert.is((e as MdmtError).code, 'EINVAL');
            assert.match((e as Error).message, /labels.*previous step/);
          }
        } finally {
          ga.dispose();
          gb.dispose();
          a.model.dispose();
          b.model.dispose();
        }
      });
    }

test.run();
