#!/usr/bin/python3
"""Writes test/models/expected/golden.json.gz: torchvision's own eval-mode features for a
2x3x64x64 input, one model per torchvision family, with weights that both sides compute
from a formula (no weight files): for the k-th state_dict entry and element j, s = sin(0.37*j + k),
  conv/linear weight  sqrt(4/fan_in) * s      (fan_in = numel / out)
  BN weight           1 + 0.2 * s
  bias (any)          0.1 * s
  running_mean        0.1 * s
  running_var         1 + 0.5 * |s|
each rounded to float32; input x[i] = sin(0.01*i). test/models/golden.test.ts builds the same
weights in mdmt and compares. GoogLeNet uses transform_input=True (mdmt's default).

Run (Debian: apt-get install python3-torch python3-torchvision):
    /usr/bin/python3 scripts/golden_models.py
Generated with torch 1.13.1 / torchvision 0.14.1.
"""
import base64
import gzip
import json
import os

import numpy as np
import torch
import torchvision.models as tvm

NAMES = ['resnet18', 'resnext50_32x4d', 'densenet121', 'googlenet', 'mobilenet_v2', 'shufflenet_v2_x1_0']


def backbone(name):
    if name == 'googlenet':
        m = tvm.googlenet(weights=None, aux_logits=False, init_weights=True, transform_input=True)
    else:
        m = getattr(tvm, name)(weights=None)
    if name.startswith('densenet'):
        m.classifier = torch.nn.Identity()
    elif name == 'mobilenet_v2':
        m.classifier[-1] = torch.nn.Identity()
    else:
        m.fc = torch.nn.Identity()
    return m


def formula_weights(m):
    sd = m.state_dict()
    out = {}
    for k, (name, t) in enumerate(sd.items()):
        if name.endswith('num_batches_tracked'):
            out[name] = t
            continue
        s = np.sin(0.37 * np.arange(t.numel(), dtype=np.float64) + k)
        if name.endswith('running_var'):
            v = 1 + 0.5 * np.abs(s)
        elif name.endswith('running_mean') or name.endswith('.bias'):
            v = 0.1 * s
        elif t.dim() == 1:
            v = 1 + 0.2 * s
        else:
            v = np.sqrt(4.0 / (t.numel() / t.shape[0])) * s
        out[name] = torch.from_numpy(v.astype(np.float32)).reshape(t.shape)
    m.load_state_dict(out)


def torch_onnx_fixture():
    """test/io/fixtures/torch_small.onnx: a tiny Sequential exported by torch.onnx with
    TrainingMode.TRAINING and no constant folding (so initializers keep their state_dict
    names), plus its eval output in torch_small.json: the ONNX import test reads PyTorch's
    own protobuf encoding."""
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1, bias=False))
    with torch.no_grad():
        m[1].weight.uniform_(0.5, 1.5)
        m[1].bias.uniform_(-0.2, 0.2)
        m[1].running_mean.uniform_(-0.2, 0.2)
        m[1].running_var.uniform_(0.5, 1.5)
    m.eval()
    x = torch.from_numpy(np.sin(0.1 * np.arange(75)).astype(np.float32)).reshape(1, 3, 5, 5)
    d = os.path.join(os.path.dirname(__file__), '..', 'test', 'io', 'fixtures')
    os.makedirs(d, exist_ok=True)
    torch.onnx.export(m, x, os.path.join(d, 'torch_small.onnx'), opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.TRAINING, input_names=['input'], output_names=['output'])
    with torch.no_grad():
        y = m.eval()(x)
    with open(os.path.join(d, 'torch_small.json'), 'w') as f:
        json.dump({'input_shape': list(x.shape), 'output_shape': list(y.shape), 'output': [float(v) for v in y.flatten()]}, f)
        f.write('\n')


STEP_MODELS = {'shufflenet_v2_x0_5': 1024, 'densenet121': 1024}
STEP_KEYS = {
    'shufflenet_v2_x0_5': ['backbone.conv1.0.weight', 'backbone.stage3.3.branch2.3.weight', 'backbone.conv5.1.weight', 'afc_head.6.weight', 'bx_head.2.bias'],
    'densenet121': ['backbone.features.conv0.weight', 'backbone.features.denseblock2.denselayer7.norm1.weight', 'backbone.features.norm5.bias', 'afc_head.6.weight', 'bx_head.2.bias'],
}


class MDMT(torch.nn.Module):
    """The authors' ParallelMultiObjective with mdmt's submodule names, dropout 0 (deterministic)."""
    def __init__(self, bb, f):
        super().__init__()
        nn = torch.nn
        self.backbone = bb
        self.afc_head = nn.Sequential(nn.Linear(f, 128), nn.ReLU(), nn.Dropout(0), nn.Linear(128, 32), nn.ReLU(), nn.Dropout(0), nn.Linear(32, 2))
        self.bx_head = nn.Sequential(nn.ReLU(), nn.Dropout(0), nn.Linear(f, 4))

    def forward(self, x):
        h = self.backbone(x)
        return self.afc_head(h), self.bx_head(h)


def golden_step():
    """One MDMT loss + backward with formula weights, batch 4 mixing the datasets:
    loss = sum_i m_i CE_i / N per head, summed (the indicator loss). BN uses its running
    statistics (eval mode; dropout is 0 anyway): train-mode BN at batch 4 is so
    ill-conditioned that PyTorch's own float32 and float64 gradients differ by up to 80 %
    for the first conv of densenet121, while in eval mode they agree to 1e-4, so this
    checks every backward of the network against PyTorch. Records the loss, selected
    parameter gradients and the first 1024 values of the input gradient."""
    x = torch.from_numpy(np.sin(0.01 * np.arange(4 * 3 * 64 * 64)).astype(np.float32)).reshape(4, 3, 64, 64)
    ya, yb = torch.tensor([1, 0, 0, 0]), torch.tensor([0, 3, 0, 2])
    ma, mb = torch.tensor([1., 0, 1, 0]), torch.tensor([0., 1, 0, 1])
    out = {}
    for name, f in STEP_MODELS.items():
        m = MDMT(backbone(name), f).eval()
        formula_weights(m)
        xg = x.clone().requires_grad_(True)
        a, b = m(xg)
        ce = torch.nn.functional.cross_entropy
        loss = (ce(a, ya, reduction='none') * ma).sum() / 4 + (ce(b, yb, reduction='none') * mb).sum() / 4
        loss.backward()
        params = dict(m.named_parameters())
        rec = {'loss': float(loss), 'grads': {}}
        for k in STEP_KEYS[name]:
            rec['grads'][k] = base64.b64encode(params[k].grad.contiguous().numpy().astype('<f4').tobytes()).decode()
        rec['input_grad'] = base64.b64encode(xg.grad.flatten()[:1024].numpy().astype('<f4').tobytes()).decode()
        out[name] = rec
        print(name, 'loss', float(loss))
    path = os.path.join(os.path.dirname(__file__), '..', 'test', 'models', 'expected', 'golden_step.json.gz')
    with gzip.GzipFile(path, 'wb', mtime=0) as fh:
        fh.write((json.dumps(out) + '\n').encode())


def main():
    torch_onnx_fixture()
    golden_step()
    x = torch.from_numpy(np.sin(0.01 * np.arange(2 * 3 * 64 * 64)).astype(np.float32)).reshape(2, 3, 64, 64)
    golden = {}
    for name in NAMES:
        m = backbone(name).eval()
        formula_weights(m)
        with torch.no_grad():
            y = m(x).contiguous().numpy().astype('<f4')
        golden[name] = {'shape': list(y.shape), 'data': base64.b64encode(y.tobytes()).decode()}
        print(name, y.shape, float(np.abs(y).max()))
    path = os.path.join(os.path.dirname(__file__), '..', 'test', 'models', 'expected', 'golden.json.gz')
    with gzip.GzipFile(path, 'wb', mtime=0) as f:
        f.write((json.dumps(golden) + '\n').encode())


if __name__ == '__main__':
    main()
