#!/usr/bin/python3
"""Writes test/models/expected/torchvision.json.gz: for every torchvision backbone of the zoo,
the backbone-only state_dict (classifier replaced by Identity, as the authors' change_head
does) as "key shape dtype" lines, plus the parameter count. The zoo test compares mdmt's
stateDict() against it, so names, order, shapes and counts are checked against PyTorch
itself rather than against our reading of the torchvision source.

Run (Debian: apt-get install python3-torch python3-torchvision):
    /usr/bin/python3 scripts/model_keys.py
Generated with torch 1.13.1 / torchvision 0.14.1. No weights are downloaded.
"""
import gzip
import json
import os

import torch
import torchvision.models as tvm

NAMES = [
    'densenet121', 'densenet161', 'densenet169', 'densenet201', 'googlenet', 'mobilenet_v2',
    'resnet18', 'resnet34', 'resnet50', 'resnet101', 'wide_resnet50_2', 'resnext50_32x4d',
    'shufflenet_v2_x0_5', 'shufflenet_v2_x1_0',
]


def backbone(name):
    if name == 'googlenet':
        m = tvm.googlenet(weights=None, aux_logits=False, init_weights=True)
    else:
        m = getattr(tvm, name)(weights=None)
    if name.startswith('densenet'):
        m.classifier = torch.nn.Identity()
    elif name == 'mobilenet_v2':
        m.classifier[-1] = torch.nn.Identity()
    else:
        m.fc = torch.nn.Identity()
    return m


def main():
    out = {}
    for name in NAMES:
        m = backbone(name)
        sd = m.state_dict()
        out[name] = {
            'params': sum(p.numel() for p in m.parameters()),
            'param_tensors': len(list(m.parameters())),
            'keys': [f"{k} [{','.join(map(str, v.shape))}] {str(v.dtype).replace('torch.', '')}" for k, v in sd.items()],
        }
        print(name, out[name]['params'], len(sd))
    path = os.path.join(os.path.dirname(__file__), '..', 'test', 'models', 'expected', 'torchvision.json.gz')
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # gzip: ~7000 keys are 400 kB of JSON, 25 kB compressed (mtime 0: reproducible bytes)
    with gzip.GzipFile(path, 'wb', mtime=0) as f:
        f.write((json.dumps(out, separators=(',', ':')) + '\n').encode())


if __name__ == '__main__':
    main()
