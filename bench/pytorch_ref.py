#!/usr/bin/env python3
"""PyTorch (CPU) side of `deno task bench`: the same pix2pix training step, generator inference and
1024^3 matmul as bench/pix2pix.ts and bench/bench.ts, timed the same way (median of N runs after
warm-ups, wall time up to the loss or the image being known). Prints one JSON object on stdout.

bench/bench.ts runs it when Debian's python3-torch is installed, as

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=1 \
        /usr/bin/python3 bench/pytorch_ref.py --size 128 --ngf 32 --ndf 32 --n-down 6 --batch 8

(OpenBLAS rather than Debian's default reference BLAS, which is about 10x slower at matmul and would
flatter us; OpenBLAS single-threaded because torch.set_num_threads(--threads) sets the parallelism.
bench.ts also sets OMP_WAIT_POLICY=PASSIVE: on a machine shared with other jobs, OpenMP threads that
spin while they wait slow PyTorch down 3-4x, see bench/pytorch.ts.)

The models are the generator and discriminator of "Colorizing black & white images with U-Net and
conditional GAN - A Tutorial" (Moein Shariatnia, 2020), as models/unet.ts and models/patchgan.ts
build them (the U-Net is docs/export_pytorch.py's), initialised as models/init.ts does, trained as
models/pix2pix.ts's trainStep does: D on (detached) fake and real pairs with BCE-with-logits, then G
with BCE + 100 * L1, Adam(2e-4, (0.5, 0.999)) for both, batch norm in training mode, dropout 0.5.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch import nn


# The reference models live in docs/pix2pix_torch.py (also used by docs/export_pytorch.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs"))
from pix2pix_torch import PatchDiscriminator, Unet, init_weights  # noqa: E402


class Pix2Pix:
    """models/pix2pix.ts's trainStep, vanilla GAN loss, lambda_L1 = 100."""

    def __init__(self, ngf, ndf, n_down):
        self.G = Unet(1, 2, n_down, ngf)
        self.D = PatchDiscriminator(3, ndf, 3)
        init_weights(self.G)
        init_weights(self.D)
        self.optG = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optD = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCEWithLogitsLoss()
        self.l1 = nn.L1Loss()

    def set_requires_grad(self, net, flag):
        for p in net.parameters():
            p.requires_grad = flag

    def train_step(self, L, ab):
        G, D = self.G, self.D
        fake = G(L)
        fake_pair = torch.cat([L, fake], 1)
        self.set_requires_grad(D, True)
        self.optD.zero_grad()
        fake_logits = D(fake_pair.detach())
        real_logits = D(torch.cat([L, ab], 1))
        loss_d = (
            self.bce(fake_logits, torch.zeros_like(fake_logits)) + self.bce(real_logits, torch.ones_like(real_logits))
        ) * 0.5
        loss_d.backward()
        self.optD.step()
        self.optD.zero_grad()
        self.set_requires_grad(D, False)
        self.optG.zero_grad()
        logits = D(fake_pair)
        loss_g_gan = self.bce(logits, torch.ones_like(logits))
        loss_l1 = self.l1(fake, ab)
        (loss_g_gan + loss_l1 * 100).backward()
        self.optG.step()
        self.optG.zero_grad()
        self.set_requires_grad(D, True)
        # A step is done when its loss is known (ours reads lossL1 back from the GPU).
        return loss_l1.item()


def timed(fn, warmup, runs):
    """Median wall milliseconds of `runs` calls after `warmup` untimed ones, every sample, and the
    median process CPU milliseconds (all threads), which other jobs on the machine do not stretch."""
    samples, cpu = [], []
    for i in range(warmup + runs):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        if i >= warmup:
            samples.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
    return {"ms": statistics.median(samples), "samplesMs": samples, "cpuMs": statistics.median(cpu)}


def profile_step(step, groups=30):
    """torch.profiler over one training step: each op's self time, largest first. Ops are timed on
    the thread that calls them, so an op's intra-op parallel work counts once, as elapsed time, and
    the self times add up to about the step's wall time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    rows = []
    for e in prof.key_averages():
        rows.append({"name": e.key, "calls": e.count, "selfMs": e.self_cpu_time_total / 1000})
    rows.sort(key=lambda r: -r["selfMs"])
    return rows[:groups]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--ngf", type=int, default=32)
    ap.add_argument("--ndf", type=int, default=32)
    ap.add_argument("--n-down", type=int, default=7)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs")
    ap.add_argument("--runs", type=int, default=3, help="timed runs")
    ap.add_argument("--matmul", type=int, default=1024, help="side of the square matmul")
    ap.add_argument(
        "--case",
        choices=["matmul", "train", "inference", "profile"],
        action="append",
        help="what to run (repeatable; default: all but profile). profile: torch.profiler's per-op "
        "table of one training step",
    )
    a = ap.parse_args()
    cases = a.case or ["matmul", "train", "inference"]
    if a.size % 2**a.n_down:
        ap.error(f"--size {a.size} is not a multiple of 2^n_down = {2 ** a.n_down}")

    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "config": {"size": a.size, "ngf": a.ngf, "ndf": a.ndf, "nDown": a.n_down, "batch": a.batch},
    }

    if "matmul" in cases:
        n = a.matmul
        x, y = torch.rand(n, n) * 2 - 1, torch.rand(n, n) * 2 - 1
        out["matmul"] = {"shape": [n, n, n], **timed(lambda: torch.mm(x, y), a.warmup, a.runs)}

    if {"train", "inference", "profile"} & set(cases):
        model = Pix2Pix(a.ngf, a.ndf, a.n_down)
        L = torch.rand(a.batch, 1, a.size, a.size) * 2 - 1
        ab = torch.rand(a.batch, 2, a.size, a.size) * 2 - 1
        out["params"] = {
            "G": sum(p.numel() for p in model.G.parameters()),
            "D": sum(p.numel() for p in model.D.parameters()),
        }
        step = lambda: model.train_step(L, ab)  # noqa: E731
        if "train" in cases:
            out["trainStep"] = timed(step, a.warmup, a.runs)
        if "profile" in cases:
            for _ in range(a.warmup):
                step()
            t0 = time.perf_counter()
            step()
            out["stepMs"] = (time.perf_counter() - t0) * 1000
            out["profile"] = profile_step(step)
        if "inference" in cases:
            model.G.eval()

            def infer():
                with torch.no_grad():
                    # numpy() stands for our readback of the ab image.
                    model.G(L).numpy()

            out["inference"] = timed(infer, a.warmup, a.runs)

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
