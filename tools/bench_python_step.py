#!/usr/bin/env python3
"""Times one optimizer step from Python: qres.optim against torch.optim.AdamW (its for-loop,
foreach and fused implementations), in one process, in turns, on CPU float32 parameters.

    bazel run //qres/python:install && python3 tools/bench_python_step.py [--sets cnn,resnet18] [--rounds 7]

Each round times every candidate once (--steps steps after one warm-up step, the per-step mean); the
table shows each candidate's median over the rounds and its ratio to torch.optim.AdamW(fused=True).
Run it on a quiet machine (`uptime`): the ratios of candidates timed in turns survive some load, the
absolute figures do not.
"""
import argparse
import statistics
import time

import torch

import qres


def cnn_shapes():
    """The seed's CNN on 1x28x28, 10 classes (qres/models/cnn.cc): 50,186 parameters in 6 tensors."""
    return [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,), (10, 64 * 7 * 7), (10,)]


def resnet18_shapes():
    """torchvision's ResNet-18 (11,689,512 parameters in 62 tensors: convolutions, batch norms, fc)."""
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    channels = 64
    for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            shapes += [(width, channels, 3, 3), (width,), (width,), (width, width, 3, 3), (width,), (width,)]
            if block == 0 and (stride != 1 or channels != width):
                shapes += [(width, channels, 1, 1), (width,), (width,)]
            channels = width
    return shapes + [(1000, 512), (1000,)]


SETS = {"cnn": cnn_shapes, "resnet18": resnet18_shapes}

CANDIDATES = {
    "qres AdamW (reference form)": lambda ps: qres.optim.AdamW(ps, lr=1e-3),
    "qres AdamW form=torch": lambda ps: qres.optim.AdamW(ps, lr=1e-3, form="torch"),
    "qres QtAdamW": lambda ps: qres.optim.QtAdamW(ps, lr=1e-3),
    "qres QSGD momentum 0.9": lambda ps: qres.optim.QSGD(ps, lr=1e-2, momentum=0.9),
    "torch AdamW (for-loop)": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=False),
    "torch AdamW foreach": lambda ps: torch.optim.AdamW(ps, lr=1e-3, foreach=True),
    "torch AdamW fused": lambda ps: torch.optim.AdamW(ps, lr=1e-3, fused=True),
}
PEER = "torch AdamW fused"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="cnn,resnet18", help="parameter sets: " + ", ".join(SETS))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=0, help="steps per timing (0: 200 for cnn, 10 otherwise)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, qres {qres.__file__}")
    for name in args.sets.split(","):
        if name not in SETS:
            parser.error(f"--sets: unknown set '{name}'; use: {', '.join(SETS)}")
        shapes = SETS[name]()
        steps = args.steps or (200 if name == "cnn" else 10)
        generator = torch.Generator().manual_seed(0)
        runs = {}
        for label, make in CANDIDATES.items():
            params = [torch.randn(s, generator=generator).requires_grad_() for s in shapes]
            for p in params:
                p.grad = torch.randn(p.shape, generator=generator) * 1e-3
            optimizer = make(params)
            optimizer.step()  # warm-up: states made
            runs[label] = (optimizer, [])
        for _ in range(args.rounds):
            for label, (optimizer, times) in runs.items():
                start = time.perf_counter()
                for _ in range(steps):
                    optimizer.step()
                times.append((time.perf_counter() - start) / steps)
        numel = sum(torch.Size(s).numel() for s in shapes)
        peer = statistics.median(runs[PEER][1])
        print(f"\n{name}: {numel:,} parameters in {len(shapes)} tensors; median of {args.rounds} rounds of "
              f"{steps} steps")
        print(f"  {'optimizer':30s} {'us/step':>10s} {'min':>10s} {'max':>10s}  vs fused AdamW")
        for label, (_, times) in runs.items():
            median = statistics.median(times)
            print(f"  {label:30s} {median * 1e6:10.1f} {min(times) * 1e6:10.1f} {max(times) * 1e6:10.1f}  "
                  f"{median / peer:.2f}x")


if __name__ == "__main__":
    main()
