#!/usr/bin/env python3
"""Make a PyTorch reference for checking this project's U-Net against PyTorch.

It made tests/fixtures/pytorch_unet/ (PyTorch 1.13.1 from Debian 12's python3-torch,
default arguments). With PyTorch installed (the `safetensors` package is optional):

    python docs/export_pytorch.py --out pytorch_ref             # random weights, n_down 5, ngf 8, 64x64
    python docs/export_pytorch.py --out ref --weights net_G.pth  # your trained generator (n_down/ngf must match)

writes

    OUT/generator.safetensors  the generator's state_dict (names model.model..., F32, I64 counters)
    OUT/reference.safetensors  "input" [1,1,S,S] in [-1,1] and "output" [1,2,S,S] = net(input) in eval mode

then, in the repository:

    deno task import OUT/generator.safetensors model.safetensors --verify OUT/reference.safetensors
    PIX2PIX_PYTORCH_REF=OUT deno test -A tests/checkpoint_test.ts   # the parity test on OUT

Both require max |ours - PyTorch| <= 1e-3. See docs/CHECKPOINTS.md.
"""

import argparse
import os
import sys

import torch
from torch import nn

try:
    from safetensors.torch import load_file, save_file
except ImportError:  # Debian 12 packages PyTorch (python3-torch) but not safetensors
    load_file = None

    def save_file(tensors, path, metadata=None):
        """The safetensors format: u64 header length, JSON header, raw little-endian tensors."""
        import json
        import struct

        names = {torch.float32: "F32", torch.int64: "I64"}
        header, blobs, offset = {}, [], 0
        if metadata:
            header["__metadata__"] = metadata
        for name in sorted(tensors):
            t = tensors[name].contiguous().cpu()
            blob = t.numpy().tobytes()
            header[name] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
            blobs.append(blob)
            offset += len(blob)
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# The reference models live in docs/pix2pix_torch.py, beside this script.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pix2pix_torch import Unet  # noqa: E402


def load_weights(path):
    if path.endswith(".safetensors") and load_file is None:
        raise SystemExit("reading .safetensors weights needs the safetensors package (pip install safetensors)")
    sd = load_file(path) if path.endswith(".safetensors") else torch.load(path, map_location="cpu")
    if "generator.model.model.0.weight" in sd:  # one of this project's checkpoints
        return {k[len("generator."):]: v.float() for k, v in sd.items() if k.startswith("generator.")}
    out = {}
    for k, v in sd.items():
        for prefix in ("net_G.module.", "net_G.", "module."):
            if k.startswith(prefix):
                k = k[len(prefix):]
                break
        if not k.startswith("net_D."):
            out[k] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="pytorch_ref", help="output folder")
    ap.add_argument("--n-down", type=int, default=5)
    ap.add_argument("--ngf", type=int, default=8)
    ap.add_argument("--size", type=int, default=64, help="input side, a multiple of 2^n_down")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", help="a generator state dict (.pth or .safetensors) instead of random weights")
    a = ap.parse_args()
    if a.size % 2 ** a.n_down:
        ap.error(f"--size {a.size} is not a multiple of 2^n_down = {2 ** a.n_down}")

    torch.manual_seed(a.seed)
    net = Unet(1, 2, a.n_down, a.ngf)
    if a.weights:
        net.load_state_dict(load_weights(a.weights))
    else:
        # Weights that keep activations of order 1 (He init) and BatchNorm statistics collected from
        # forward passes, so that eval mode exercises every layer: pix2pix's own N(0, 0.02) init gives
        # outputs of ~1e-3, where a 1e-3 comparison would prove nothing.
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, a=0.2)
                if m.bias is not None:
                    nn.init.uniform_(m.bias, -0.1, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.uniform_(m.weight, 0.6, 1.4)
                nn.init.uniform_(m.bias, -0.1, 0.1)
        net.train()
        with torch.no_grad():
            for _ in range(10):
                net(torch.rand(4, 1, a.size, a.size) * 2 - 1)
    net.eval()
    x = torch.rand(1, 1, a.size, a.size) * 2 - 1
    with torch.no_grad():
        y = net(x)

    os.makedirs(a.out, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, os.path.join(a.out, "generator.safetensors"))
    save_file(
        {"input": x.contiguous(), "output": y.contiguous()},
        os.path.join(a.out, "reference.safetensors"),
        metadata={"n_down": str(a.n_down), "ngf": str(a.ngf), "size": str(a.size), "torch": torch.__version__},
    )
    print(
        f"wrote {a.out}/generator.safetensors and {a.out}/reference.safetensors "
        f"(output range [{y.min().item():.3f}, {y.max().item():.3f}], std {y.std().item():.3f})"
    )


if __name__ == "__main__":
    main()
