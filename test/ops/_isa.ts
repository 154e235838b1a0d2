/**
 * Every ISA path of the CPU kernels (generic, AVX2+FMA, AVX-512) checked on one machine:
 * a suite calls `rerunUnderIsaCaps(__filename)`, which adds a test that runs the same
 * compiled file again in child processes with MDMT_CPU_ISA=generic and =avx2 (the cap the
 * whole backend obeys, read once at load), asserting that each child reports that ISA and
 * passes. The parent process itself runs the best ISA here. Kernels whose ISA is chosen
 * per call by an attribute (the GEMM's `isa`) need not use this.
 */
import { spawnSync } from 'child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { native } from '../../ts/native/binding';
import { DEVICE } from '../helpers';

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'); // uvu's colours

/** True in a child started by rerunUnderIsaCaps (it must not spawn children again). */
export const ISA_CHILD = process.env.MDMT_ISA_CHILD === '1';

/** The CPU ISA the backend runs in this process: 'avx512f', 'avx2+fma' or 'generic'. */
export const cpuIsa = (): string => native().devices().find((d) => d.name === 'cpu')!.props.isa;

/** Caps below this machine's best ISA, each with the ISA the backend must report under it. */
function caps(): [string, string][] {
  const best = cpuIsa();
  const out: [string, string][] = [];
  if (best !== 'generic') out.push(['generic', 'generic']);
  if (best === 'avx512f') out.push(['avx2', 'avx2+fma']);
  return out;
}

export function rerunUnderIsaCaps(file: string, suite: string): void {
  if (ISA_CHILD || DEVICE !== 'cpu') return;
  test(`${suite}: the same suite under MDMT_CPU_ISA=generic / avx2 (child processes)`, () => {
    for (const [cap, expect] of caps()) {
      const probe = `const m=require(${JSON.stringify(require.resolve('../../ts/native/binding'))});console.log(m.native().devices().find((d)=>d.name==='cpu').props.isa)`;
      const env = { ...process.env, MDMT_CPU_ISA: cap, MDMT_ISA_CHILD: '1' };
      const p = spawnSync(process.execPath, ['-e', probe], { env, encoding: 'utf8' });
      assert.is(p.stdout.trim().split('\n').pop(), expect, `MDMT_CPU_ISA=${cap}: backend ISA (${p.stderr})`);
      const r = spawnSync(process.execPath, [file], { env, encoding: 'utf8' });
      const out = (r.stdout + r.stderr).replace(ANSI, '');
      assert.ok(r.status === 0 && /Passed:\s+\d+/.test(out) && !/FAIL/.test(out), `${suite} under MDMT_CPU_ISA=${cap} failed:\n${out.slice(-3000)}`);
    }
  });
}
