#!/usr/bin/env python3
"""The PyTorch peer of bench/gpu/step.ts: the same MDMT training step (shared backbone with
its classifier removed, the authors' AFC head Linear(in,128)-ReLU-Dropout-Linear(128,32)-
ReLU-Dropout-Linear(32,2) and BX head ReLU-Dropout-Linear(in,4), indicator-masked
cross-entropy divided by the batch size for each task, Adam lr 1e-3 wd 1e-4), batch 128,
3x256x256, median step time after warm-up (each step ended by a device sync), images/s and
peak allocated and reserved memory (reserved: what the caching allocator held, the
comparable figure to mdmt's live + cached + graph-pool bytes). Modes:
  fp32    float32 with TF32 allowed (torch.backends.{cuda.matmul,cudnn}.allow_tf32 = True)
  bf16    autocast bfloat16 + channels_last
  graph   bf16 + channels_last with the whole step captured in one CUDA graph (capturable Adam)
Usage: python3 bench/peers/torch_step.py [--models a,b] [--modes fp32,bf16,graph] [--steps 10]
       [--warmup 3] [--batch 128] [--size 256] [--device cuda:0] [--json out.jsonl]
bench/gpu/step.ts runs it in the same run as mdmt, in the mode matching mdmt's.
The batch (labels()): the even rows tau1 (2 classes, labels 0 1 0 1 ...), the odd rows tau2 (4
classes, 0 1 2 3 ...), as mdmt's side draws them. googlenet takes transform_input=True, as
mdmt's googlenet does (and torchvision's pretrained one).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TIMM = {"efficientnet_b0", "efficientnet_b1_pruned", "efficientnet_es", "efficientnet_es_pruned", "efficientnet_lite0"}
ALL = ["densenet121", "densenet161", "densenet169", "densenet201", "efficientnet_b0", "efficientnet_b1_pruned",
       "efficientnet_es", "efficientnet_es_pruned", "efficientnet_lite0", "googlenet", "mobilenet_v2", "resnet18",
       "resnet34", "resnet50", "resnet101", "wide_resnet50_2", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0"]


def backbone(name):
    if name in TIMM:
        import timm
        return timm.create_model(name, pretrained=False, num_classes=0)
    import torchvision.models as tvm
    kw = {"aux_logits": False, "init_weights": True, "transform_input": True} if name == "googlenet" else {}
    m = getattr(tvm, name)(weights=None, **kw)
    for attr in ("fc", "classifier"):
        if hasattr(m, attr):
            setattr(m, attr, nn.Identity())
    return m


class MDMT(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.backbone = backbone(name)
        with torch.no_grad():
            d = self.backbone.eval()(torch.zeros(1, 3, 64, 64)).shape[1]
        self.backbone.train()
        self.afc_head = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 32), nn.ReLU(),
                                      nn.Dropout(0.5), nn.Linear(32, 2))
        self.bx_head = nn.Sequential(nn.ReLU(), nn.Dropout(0.5), nn.Linear(d, 4))

    def forward(self, x):
        h = self.backbone(x)
        return self.afc_head(h), self.bx_head(h)


def masked_xent(logits, labels, mask):
    ce = F.cross_entropy(logits.float(), labels.clamp(min=0), reduction="none")
    return (ce * mask).sum() / logits.shape[0]


def labels(n, device=None):
    """The task masks and labels of a batch of n: (is_afc, afc_y, bx_y), -1 where a row has no label."""
    i = torch.arange(n, device=device)
    is_afc = (i % 2 == 0).float()
    afc_y = torch.where(is_afc > 0, (i // 2) % 2, -1)
    bx_y = torch.where(is_afc > 0, -1, (i // 2) % 4)
    return is_afc, afc_y, bx_y


def bench(name, mode, a):
    torch.manual_seed(0)
    dev = torch.device(a.device)
    model = MDMT(name).to(dev)
    cl = mode in ("bf16", "graph")
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4, capturable=(mode == "graph"))
    N, S = a.batch, a.size
    x = torch.randn(N, 3, S, S, device=dev)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    is_afc, afc_y, bx_y = labels(N, dev)

    def step():
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cl):
            afc, bx = model(x)
        loss = masked_xent(afc, afc_y, is_afc) + masked_xent(bx, bx_y, 1 - is_afc)
        loss.backward()
        opt.step()
        return loss

    torch.cuda.reset_peak_memory_stats()
    if mode == "graph":
        # the capture pool holds every activation of the step: its reserved bytes are the graph's footprint
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                step()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            static_loss = step()
        run = lambda: g.replay()  # noqa: E731
    else:
        run = step
    times = []
    for i in range(a.warmup + a.steps):
        torch.cuda.synchronize()
        t = time.perf_counter()
        run()
        torch.cuda.synchronize()
        if i >= a.warmup:
            times.append((time.perf_counter() - t) * 1000)
    med = statistics.median(times)
    params = sum(p.numel() for p in model.backbone.parameters())
    return {"model": name, "mode": mode, "batch": N, "size": S, "backbone_params_m": round(params / 1e6, 2),
            "step_ms": round(med, 2), "images_per_s": round(N / med * 1000, 1),
            "peak_alloc_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--models", default=",".join(ALL))
    p.add_argument("--modes", default="fp32,bf16,graph")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", default="")
    a = p.parse_args()
    if torch.device(a.device).index is not None:  # "cuda" alone: the current device
        torch.cuda.set_device(torch.device(a.device))
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    print(f"# torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name()}", flush=True)
    for name in a.models.split(","):
        for mode in a.modes.split(","):
            try:
                r = bench(name, mode, a)
            except Exception as e:  # keep going: report the failure in the table
                r = {"model": name, "mode": mode, "error": f"{type(e).__name__}: {e}"[:300]}
            print(json.dumps(r), flush=True)
            if a.json:
                with open(a.json, "a") as f:
                    f.write(json.dumps(r) + "\n")
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
