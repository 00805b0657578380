#!/usr/bin/env python3
"""Generates the PyTorch reference fixtures that Skipjack's tests and benchmarks compare against.

Uses Debian's PyTorch 1.13 / torchvision 0.14 (python3-torch, python3-torchvision). Everything is seeded, so
the same script and library versions give the same files. Nothing here is committed: the output folder is a
cache (see ensure-fixtures.sh). Layout, per model <m>:

  <m>/checkpoint.pt         torch.save(state_dict), default (zip) format
  <m>/tensors.json          [{name, dtype, shape, sha256}] of each tensor's float32 (int64) contiguous LE bytes
  <m>/info.json             torchvision architecture parameters
  <m>/input_<HxW>.f32       float32 LE [4][3][H][W], seeded
  <m>/logits_<HxW>.f32      PyTorch float32 eval-mode logits [4][classes]
  <m>/logits_<HxW>.f64      the same model and input in float64: the exact answer fidelity is judged against
  <m>/model.onnx            ONNX export (only where asked), input "input" [N,3,H,W], output "logits"
  formats/<variant>.pt|.json  the tiny_basic state_dict saved the ways torch.save users do (see FORMATS)
  image/...                 test images and torchvision's preprocessing of them
  manifest.json             what was generated, with PyTorch's own float32 error per model and size
"""
import argparse
import collections
import copy
import hashlib
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision
from torchvision.models import resnet as tvr

SIZES = [(224, 224), (197, 263)]
BATCH = 4

# name -> (constructor, kwargs, export onnx?)
MODELS = collections.OrderedDict([
    ("tiny_basic", (tvr.ResNet, dict(block=tvr.BasicBlock, layers=[1, 1, 1, 1], num_classes=10), False)),
    ("tiny_bottleneck", (tvr.ResNet, dict(block=tvr.Bottleneck, layers=[1, 2, 1, 1], groups=2,
                                          width_per_group=32, num_classes=10), False)),
    ("resnet18", (tvr.resnet18, {}, True)),
    ("resnet50", (tvr.resnet50, {}, True)),
    ("resnet34", (tvr.resnet34, {}, False)),
    ("resnext50_32x4d", (tvr.resnext50_32x4d, {}, False)),
    ("wide_resnet50_2", (tvr.wide_resnet50_2, {}, False)),
    ("resnet101", (tvr.resnet101, {}, False)),
    ("resnet152", (tvr.resnet152, {}, False)),
])


def log(msg):
    print("[fixtures] " + msg, file=sys.stderr, flush=True)


def realistic(model, seed):
    """Seeded weights with batch norm statistics a trained network would have, not the defaults 0 and 1.

    Running statistics are measured on random inputs (train-mode forward passes with a cumulative average), then
    the affine parameters are spread out, so folding batch norm into the convolutions is really exercised.
    """
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over the calibration batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 3, 128, 128))
        last = set()
        for blk in model.modules():
            if isinstance(blk, tvr.Bottleneck):
                last.add(blk.bn3)
            elif isinstance(blk, tvr.BasicBlock):
                last.add(blk.bn2)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = 0.1
                # A trained network keeps its residual stream bounded: the branch's last batch norm ends up
                # with small scales (the effect zero_init_residual aims for), the others spread around 1.
                if m in last:
                    m.weight.uniform_(0.05, 0.35)
                else:
                    m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
        model.fc.weight.normal_(0.0, 0.05)
        model.fc.bias.normal_(0.0, 0.1)
    model.eval()
    return model


def tensor_bytes(t):
    t = t.detach()
    if t.dtype.is_floating_point:
        t = t.to(torch.float32)
    return t.contiguous().numpy().tobytes()


def describe(sd):
    out = []
    for name, t in sd.items():
        out.append({
            "name": name,
            "dtype": "float32" if t.dtype.is_floating_point else str(t.dtype).replace("torch.", ""),
            "shape": list(t.shape),
            "sha256": hashlib.sha256(tensor_bytes(t)).hexdigest(),
        })
    return out


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def gen_model(out, name, seed, manifest):
    ctor, kwargs, onnx = MODELS[name]
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    t0 = time.time()
    model = realistic(ctor(**kwargs), seed)
    sd = model.state_dict()
    torch.save(sd, os.path.join(d, "checkpoint.pt"))
    write_json(os.path.join(d, "tensors.json"), describe(sd))
    block = "BOTTLENECK" if isinstance(model.layer1[0], tvr.Bottleneck) else "BASIC"
    info = {
        "arch": name,
        "block": block,
        "stage_blocks": [len(model.layer1), len(model.layer2), len(model.layer3), len(model.layer4)],
        "groups": model.groups,
        "width_per_group": model.base_width,
        "num_classes": model.fc.out_features,
    }
    write_json(os.path.join(d, "info.json"), info)
    model64 = copy.deepcopy(model).double()
    errors = {}
    for i, (h, w) in enumerate(SIZES):
        g = torch.Generator().manual_seed(seed * 100 + i)
        x = torch.randn(BATCH, 3, h, w, generator=g)
        with torch.no_grad():
            y32 = model(x)
            y64 = model64(x.double())
        tag = "%dx%d" % (h, w) if h != w else str(h)
        x.numpy().astype("<f4").tofile(os.path.join(d, "input_%s.f32" % tag))
        y32.numpy().astype("<f4").tofile(os.path.join(d, "logits_%s.f32" % tag))
        y64.numpy().astype("<f8").tofile(os.path.join(d, "logits_%s.f64" % tag))
        errors[tag] = float((y32.double() - y64).abs().max())
    if onnx:
        torch.onnx.export(model, torch.randn(1, 3, 224, 224), os.path.join(d, "model.onnx"),
                          input_names=["input"], output_names=["logits"], opset_version=17,
                          dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "logits": {0: "N"}},
                          do_constant_folding=True)
    manifest["models"][name] = {"info": info, "pytorch_f32_max_abs_error": errors, "onnx": onnx}
    log("%-16s %5.1fs  PyTorch f32 vs f64 max abs error: %s" % (
        name, time.time() - t0, ", ".join("%s %.2e" % kv for kv in errors.items())))


def noncontiguous(t):
    """Same values, non-contiguous strides (as a transposed copy viewed back)."""
    if t.dim() == 4:
        return t.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    if t.dim() == 2:
        return t.t().contiguous().t()
    if t.dim() == 1 and t.numel() > 1:
        return torch.stack([t, t], dim=1)[:, 0]  # stride 2
    return t


def shared_storage(sd):
    """Every float tensor a view at its own offset into one shared storage."""
    floats = [(k, v) for k, v in sd.items() if v.dtype.is_floating_point]
    flat = torch.empty(sum(v.numel() for _, v in floats) + 7)
    out, off = collections.OrderedDict(), 7  # a non-zero first offset on purpose
    for k, v in sd.items():
        if v.dtype.is_floating_point:
            view = flat[off:off + v.numel()].view(v.shape)
            view.copy_(v)
            out[k] = view
            off += v.numel()
        else:
            out[k] = v
    return out


def cast(sd, dtype):
    return collections.OrderedDict((k, v.to(dtype) if v.dtype.is_floating_point else v) for k, v in sd.items())


def gen_formats(out, manifest):
    d = os.path.join(out, "formats")
    os.makedirs(d, exist_ok=True)
    sd = torch.load(os.path.join(out, "tiny_basic", "checkpoint.pt"))
    variants = collections.OrderedDict()
    variants["legacy"] = (sd, dict(_use_new_zipfile_serialization=False), sd)
    variants["wrapped_state_dict"] = ({"state_dict": sd, "epoch": 7, "arch": "tiny"}, {}, sd)
    variants["wrapped_model"] = ({"model": sd}, {}, sd)
    variants["dataparallel"] = (collections.OrderedDict(("module." + k, v) for k, v in sd.items()), {}, sd)
    for dt, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16"), (torch.float64, "float64")):
        c = cast(sd, dt)
        variants[name] = (c, {}, cast(c, torch.float32))
    variants["noncontiguous"] = (collections.OrderedDict((k, noncontiguous(v)) for k, v in sd.items()), {}, sd)
    variants["shared_storage"] = (shared_storage(sd), {}, sd)
    for name, (obj, kw, expected) in variants.items():
        torch.save(obj, os.path.join(d, name + ".pt"), **kw)
        write_json(os.path.join(d, name + ".json"), describe(expected))
    manifest["formats"] = list(variants)
    log("formats: " + ", ".join(variants))


def gen_images(out, manifest):
    from PIL import Image, ImageDraw
    import torchvision.transforms as T
    d = os.path.join(out, "image")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1234)
    w, h = 320, 240
    yy, xx = np.mgrid[0:h, 0:w]
    # Smooth gradients, hard edges and noise: resampling errors show on all three.
    arr = np.stack([xx * 255.0 / w, yy * 255.0 / h, (xx + yy) % 64 * 4.0], axis=-1)
    arr += rng.normal(0, 12, arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    draw.ellipse((60, 40, 200, 180), fill=(200, 30, 40))
    draw.rectangle((210, 20, 300, 120), fill=(20, 180, 60))
    draw.line((0, 239, 319, 0), fill=(255, 255, 255), width=3)
    img.save(os.path.join(d, "test.png"))
    img.save(os.path.join(d, "test.jpg"), quality=92, progressive=False)
    img.save(os.path.join(d, "test_progressive.jpg"), quality=92, progressive=True)
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    for src, dst in (("test.png", "expected_png.f32"), ("test.jpg", "expected_jpg.f32"),
                     ("test_progressive.jpg", "expected_progressive_jpg.f32")):
        x = tf(Image.open(os.path.join(d, src)).convert("RGB"))
        x.numpy().astype("<f4").tofile(os.path.join(d, dst))
    manifest["image"] = {"size": [w, h], "transform": "Resize(256) CenterCrop(224) ToTensor Normalize(imagenet)"}
    log("images")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of: " + ", ".join(MODELS))
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    os.makedirs(args.out, exist_ok=True)
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {},
                "complete": False}
    names = [m for m in args.models.split(",") if m]
    for m in names:
        if m not in MODELS:
            sys.exit("unknown model %s (known: %s)" % (m, ", ".join(MODELS)))
    for i, m in enumerate(names):
        gen_model(args.out, m, seed=1000 + list(MODELS).index(m), manifest=manifest)
        write_json(os.path.join(args.out, "manifest.json"), manifest)
        if m == "tiny_basic":
            gen_formats(args.out, manifest)
            gen_images(args.out, manifest)
    manifest["complete"] = True
    write_json(os.path.join(args.out, "manifest.json"), manifest)
    log("done: " + args.out)


if __name__ == "__main__":
    main()
