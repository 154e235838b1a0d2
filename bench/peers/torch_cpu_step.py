#!/usr/bin/env python3
"""The PyTorch CPU peer of bench/train/step.ts: the MDMT training step of bench/peers/torch_step.py
(same model, heads, masked cross-entropy and Adam lr 1e-3 wd 1e-4) on the CPU, driven over
stdin so that the benchmark can alternate engines step by step in one run:
  load <model> <batch> <size> <threads>   build the model, warm up 2 steps  -> {"ok": true, ...}
  steps <k>                               k steps, each timed               -> {"ms": [...], "cpu": [...]}
(cpu: process CPU time of the step, all threads: a measure that a loaded machine distorts less)
  quit
One JSON line answers each command. Uses Debian's python3-torch (1.13) and python3-torchvision.
The batch's masks and labels are torch_step.labels(): half the rows tau1 with labels 0 and 1,
half tau2 with 0..3, like bench/train/step.ts's batch.
Knob: PyTorch's OpenMP threads busy-wait (spin) between parallel regions by default, so on a
loaded machine they compete with everything else and its times swing with the load.
OMP_WAIT_POLICY=PASSIVE in the environment of `npm run bench:train` makes them sleep
instead (GNU OpenMP also reads GOMP_SPINCOUNT). This peer leaves the OpenMP settings as they
are: what the table shows is PyTorch's default behaviour, under the load printed with it.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_step import MDMT, labels, masked_xent  # noqa: E402


class Step:
    def __init__(self, name, n, s, threads):
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.model = MDMT(name)
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, weight_decay=1e-4)
        self.x = torch.randn(n, 3, s, s)
        self.is_afc, self.afc_y, self.bx_y = labels(n)

    def __call__(self):
        self.opt.zero_grad(set_to_none=True)
        afc, bx = self.model(self.x)
        loss = masked_xent(afc, self.afc_y, self.is_afc) + masked_xent(bx, self.bx_y, 1 - self.is_afc)
        loss.backward()
        self.opt.step()
        return loss.item()


def main():
    step = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        try:
            if cmd[0] == "load":
                step = Step(cmd[1], int(cmd[2]), int(cmd[3]), int(cmd[4]))
                for _ in range(2):
                    step()
                out = {"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()}
            elif cmd[0] == "steps":
                ms, cpu = [], []
                for _ in range(int(cmd[1])):
                    t, c = time.perf_counter(), time.process_time()
                    step()
                    ms.append((time.perf_counter() - t) * 1000)
                    cpu.append((time.process_time() - c) * 1000)
                out = {"ms": ms, "cpu": cpu}
            elif cmd[0] == "quit":
                return
            else:
                out = {"error": f"unknown command {cmd[0]}"}
        except Exception as e:  # report, keep serving
            out = {"error": f"{type(e).__name__}: {e}"[:300]}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
