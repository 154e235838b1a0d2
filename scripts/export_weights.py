#!/usr/bin/env python3
"""Writes a torchvision or timm model's ImageNet weights as safetensors with the
state_dict keys mdmt uses, so `mdmt` can start from them without PyTorch or a network:

    python3 scripts/export_weights.py --model resnet50 --out resnet50.safetensors
    python3 scripts/export_weights.py --model efficientnet_b0 --out b0.safetensors   # needs timm
    python3 scripts/export_weights.py --model googlenet --out g.safetensors --backbone-only

    python3 scripts/export_weights.py --model resnet50 --out resnet50.onnx   # ONNX initializers

then in mdmt: `loadWeightsFile(getModel('resnet50'), 'resnet50.safetensors')`, or
`pretrained: 'resnet50.safetensors'` in a training config (the classifier is dropped there).

The five EfficientNets come from timm (`timm.create_model(name, pretrained=True)`), the rest
from torchvision (`weights='DEFAULT'`), exactly as the authors' code builds them. GoogLeNet's
auxiliary heads are dropped (torchvision deletes them after loading). `--random` writes the
untrained initialisation instead (no download; for checking the pipeline). The file is the
safetensors format (8-byte header length, JSON header, raw little-endian data), written here
without the `safetensors` package; num_batches_tracked stays int64 as in PyTorch. With an
`.onnx` output the model goes through torch.onnx.export with TrainingMode.TRAINING and no
constant folding, the setting that keeps state_dict names on the initializers (an EVAL
export fuses BN into the convs and renames them).
Not run by CI.
"""
import argparse
import json
import struct
import sys

TIMM = {'efficientnet_b0', 'efficientnet_b1_pruned', 'efficientnet_es', 'efficientnet_es_pruned', 'efficientnet_lite0'}
CLASSIFIER = {'densenet': 'classifier.', 'efficientnet': 'classifier.', 'mobilenet_v2': 'classifier.1.'}
DTYPES = {'torch.float32': 'F32', 'torch.int64': 'I64', 'torch.float16': 'F16', 'torch.bfloat16': 'BF16', 'torch.int32': 'I32'}


def build(name, random):
    if name in TIMM:
        import timm
        return timm.create_model(name, pretrained=not random)
    import torchvision.models as tvm
    if name == 'googlenet':
        m = tvm.googlenet(weights=None if random else 'DEFAULT', aux_logits=False, init_weights=random or None)
    else:
        m = getattr(tvm, name)(weights=None if random else 'DEFAULT')
    return m


def classifier_prefix(name):
    for k, v in CLASSIFIER.items():
        if name.startswith(k):
            return v
    return 'fc.'


def save(state, path, metadata):
    header, chunks, off = {'__metadata__': metadata}, [], 0
    for k, t in state.items():
        t = t.detach().cpu().contiguous()
        data = t.numpy().tobytes() if t.dtype.__str__() != 'torch.bfloat16' else t.view(dtype=__import__('torch').int16).numpy().tobytes()
        header[k] = {'dtype': DTYPES[str(t.dtype)], 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        chunks.append(data)
        off += len(data)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--backbone-only', action='store_true', help='drop the classifier keys')
    p.add_argument('--random', action='store_true', help='untrained weights (no download)')
    a = p.parse_args()
    m = build(a.model, a.random).eval()
    state = m.state_dict()
    if a.backbone_only:
        pre = classifier_prefix(a.model)
        state = {k: v for k, v in state.items() if not k.startswith(pre)}
    if a.out.endswith('.onnx'):
        import torch
        if a.backbone_only:
            print('--backbone-only is ignored for .onnx output', file=sys.stderr)
        torch.onnx.export(m, torch.zeros(1, 3, 224, 224), a.out, opset_version=13, do_constant_folding=False,
                          training=torch.onnx.TrainingMode.TRAINING, input_names=['input'], output_names=['output'])
        print(f'wrote {a.out}', file=sys.stderr)
        return
    save(state, a.out, {'format': 'pt', 'model': a.model, 'source': 'timm' if a.model in TIMM else 'torchvision',
                        'pretrained': str(not a.random)})
    print(f'wrote {a.out}: {len(state)} tensors, {sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k)} values in parameters',
          file=sys.stderr)


if __name__ == '__main__':
    main()
