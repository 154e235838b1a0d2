#!/usr/bin/env python3
"""Writes the ImageNet weights of mdmt's backbones as safetensors with their torchvision / timm
state_dict keys, so mdmt starts from them without PyTorch or a network (the paper starts every
backbone from ImageNet):

    python3 scripts/export_weights.py --all --out-dir weights       # all 19: weights/<backbone>.safetensors
    export MDMT_WEIGHTS=$PWD/weights                                # or --pretrained-dir weights
    python3 scripts/export_weights.py --models resnet18,googlenet --out-dir weights
    python3 scripts/export_weights.py --model resnet50 --out resnet50.safetensors
    python3 scripts/export_weights.py --model resnet50 --out resnet50.onnx   # ONNX initializers

Sources, as the authors' code builds them (paper.md §1.1): the five EfficientNets from timm
(`timm.create_model(name, pretrained=True)`), the rest from torchvision with the weights that
`pretrained=True` meant in the authors' torchvision 0.15 (IMAGENET1K_V1; torchvision's newer
DEFAULT is V2 for some models). Without timm installed the five timm models are skipped with a
message naming them, the others are written, and the exit status is 1. Existing files are kept
(--force rewrites them). Downloads go to torch's cache (~/.cache/torch); this machine needs
the network once, mdmt never does.

Each file's metadata records model, source, weights tag and library versions; mdmt checks that
`model` is the backbone it loads into, and records the file's SHA-256 in every run. GoogLeNet's
auxiliary heads are dropped (torchvision deletes them after loading). `--random` writes the
untrained initialisation instead (no download; metadata pretrained=False, which mdmt records as
not ImageNet). The file is the safetensors format (8-byte header length, JSON header, raw
little-endian data), written without the `safetensors` package; num_batches_tracked stays int64
as in PyTorch. With an `.onnx` output the model goes through torch.onnx.export with
TrainingMode.TRAINING and no constant folding, which keeps state_dict names on the initializers.
Not run by CI (mdmt's tests check that BACKBONES is mdmt's model list).
"""
import argparse
import json
import os
import struct
import sys

# mdmt's listModels(): the paper's 18 plus resnext50_32x4d
BACKBONES = ['densenet121', 'densenet161', 'densenet169', 'densenet201', 'efficientnet_b0', 'efficientnet_b1_pruned',
             'efficientnet_es', 'efficientnet_es_pruned', 'efficientnet_lite0', 'googlenet', 'mobilenet_v2', 'resnet101',
             'resnet18', 'resnet34', 'resnet50', 'resnext50_32x4d', 'shufflenet_v2_x0_5', 'shufflenet_v2_x1_0', 'wide_resnet50_2']
TIMM = {'efficientnet_b0', 'efficientnet_b1_pruned', 'efficientnet_es', 'efficientnet_es_pruned', 'efficientnet_lite0'}
CLASSIFIER = {'densenet': 'classifier.', 'efficientnet': 'classifier.', 'mobilenet_v2': 'classifier.1.'}
DTYPES = {'torch.float32': 'F32', 'torch.int64': 'I64', 'torch.float16': 'F16', 'torch.bfloat16': 'BF16', 'torch.int32': 'I32'}
TORCHVISION_WEIGHTS = 'IMAGENET1K_V1'


class Skipped(Exception):
    """A model this machine cannot build (its library is missing)."""


def timm_module():
    try:
        import timm
    except ImportError as e:
        raise Skipped(f'timm is not installed ({e}); pip install timm') from None
    return timm


def build(name, random):
    """Returns (model, metadata) for one backbone."""
    import torch
    if name in TIMM:
        timm = timm_module()
        m = timm.create_model(name, pretrained=not random)
        return m, {'source': 'timm', 'weights': 'timm default' if not random else 'none', 'timm': timm.__version__, 'torch': torch.__version__}
    import torchvision
    import torchvision.models as tvm
    w = None if random else TORCHVISION_WEIGHTS
    if name == 'googlenet':
        m = tvm.googlenet(weights=w, aux_logits=False, init_weights=random or None)
    else:
        m = getattr(tvm, name)(weights=w)
    return m, {'source': 'torchvision', 'weights': w or 'none', 'torchvision': torchvision.__version__, 'torch': torch.__version__}


def classifier_prefix(name):
    for k, v in CLASSIFIER.items():
        if name.startswith(k):
            return v
    return 'fc.'


def save(state, path, metadata):
    import torch
    header, chunks, off = {'__metadata__': metadata}, [], 0
    for k, t in state.items():
        t = t.detach().cpu().contiguous()
        data = t.view(dtype=torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[k] = {'dtype': DTYPES[str(t.dtype)], 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        chunks.append(data)
        off += len(data)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)  # a killed export leaves no half-written file


def export(name, out, random, backbone_only):
    m, meta = build(name, random)
    m = m.eval()
    if out.endswith('.onnx'):
        import torch
        if backbone_only:
            print('--backbone-only is ignored for .onnx output', file=sys.stderr)
        torch.onnx.export(m, torch.zeros(1, 3, 224, 224), out, opset_version=13, do_constant_folding=False,
                          training=torch.onnx.TrainingMode.TRAINING, input_names=['input'], output_names=['output'])
        print(f'wrote {out}', file=sys.stderr)
        return
    state = m.state_dict()
    if backbone_only:
        pre = classifier_prefix(name)
        state = {k: v for k, v in state.items() if not k.startswith(pre)}
    save(state, out, {'format': 'pt', 'model': name, 'pretrained': str(not random), **meta})
    n = sum(v.numel() for k, v in state.items() if 'running' not in k and 'num_batches' not in k)
    print(f'wrote {out}: {len(state)} tensors, {n} values in parameters ({meta["source"]}, {meta["weights"]})', file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', help='one backbone (with --out)')
    p.add_argument('--out', help='output file: .safetensors or .onnx')
    p.add_argument('--all', action='store_true', help=f'every backbone ({len(BACKBONES)}) into --out-dir')
    p.add_argument('--models', help='comma-separated backbones into --out-dir')
    p.add_argument('--out-dir', help='folder of <backbone>.safetensors (what --pretrained-dir / MDMT_WEIGHTS point at)')
    p.add_argument('--force', action='store_true', help='rewrite files that exist')
    p.add_argument('--backbone-only', action='store_true', help='drop the classifier keys (mdmt drops them anyway)')
    p.add_argument('--random', action='store_true', help='untrained weights (no download; not ImageNet)')
    a = p.parse_args()
    if a.model:
        if not a.out or a.all or a.models or a.out_dir:
            p.error('--model takes --out (and neither --all, --models nor --out-dir)')
        names, outs = [a.model], [a.out]
    elif a.all or a.models:
        if not a.out_dir or a.out:
            p.error('--all / --models take --out-dir (not --out)')
        names = BACKBONES if a.all else [s.strip() for s in a.models.split(',') if s.strip()]
        os.makedirs(a.out_dir, exist_ok=True)
        outs = [os.path.join(a.out_dir, f'{n}.safetensors') for n in names]
    else:
        p.error('give --model NAME --out FILE, or --all / --models LIST with --out-dir DIR')
    unknown = [n for n in names if n not in BACKBONES]
    if unknown:
        p.error(f'unknown backbone(s) {", ".join(unknown)}; mdmt has {", ".join(BACKBONES)}')
    skipped, kept = [], []
    for name, out in zip(names, outs):
        if a.out_dir and os.path.exists(out) and not a.force:
            kept.append(name)
            continue
        try:
            export(name, out, a.random, a.backbone_only)
        except Skipped as e:
            skipped.append((name, str(e)))
    if kept:
        print(f'kept {len(kept)} existing file(s) (--force rewrites): {", ".join(kept)}', file=sys.stderr)
    if skipped:
        print(f'SKIPPED {len(skipped)} of {len(names)} backbone(s), no file written for them:', file=sys.stderr)
        for name, why in skipped:
            print(f'  {name}: {why}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
