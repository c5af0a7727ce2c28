#!/usr/bin/env python3
"""Writes qres/sched/schedules_golden.txt: lr sequences of torch.optim.lr_scheduler (and of the
follow-up's schedules built from torch's classes, algorithm.md §3) that qres's schedulers must
equal bit for bit. One case per line, '|'-separated:

    qres name | epochs | steps per epoch | lr (hex) | --scheduler_params | lr_0 lr_1 ... (hex)

lr_t is the lr of scheduler step t (t = 0: before the first step()), as get_last_lr() reports it.

    python3 tools/golden/make_schedule_golden.py qres/sched/schedules_golden.txt
    python3 tools/golden/make_schedule_golden.py --check qres/sched/schedules_golden.txt
"""
import argparse
import math
import sys

import torch
from torch.optim import lr_scheduler as S


def sequence(lr, make, steps):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    scheduler = make(optimizer)
    values = [scheduler.get_last_lr()[0]]
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
        values.append(scheduler.get_last_lr()[0])
    return values


def quarters(epochs):  # the follow-up's LambdaLR multiplier
    return lambda e: (1.0 if e < epochs / 4 else 0.618 ** 2 if e < epochs / 2
                      else 0.618 ** 4 if e < 3 * epochs / 4 else 0.618 ** 6)


def cases():
    # (qres name, epochs, steps per epoch, lr, params, torch constructor, steps)
    yield "constant", 12, 1, 0.01, "", lambda o: S.ConstantLR(o, factor=1.0, total_iters=12), 12
    yield "exp", 40, 1, 0.01, "", lambda o: S.ExponentialLR(o, gamma=0.95), 40
    yield "ExponentialLR", 10, 1, 0.3, "gamma=0.7", lambda o: S.ExponentialLR(o, gamma=0.7), 10
    yield "LambdaLR", 20, 1, 0.01, "", lambda o: S.LambdaLR(o, quarters(20)), 20
    yield "LambdaLR", 3, 7, 0.05, "", lambda o: S.LambdaLR(o, quarters(21)), 21
    yield "cyclicLR", 40, 1, 0.01, "", lambda o: S.CyclicLR(
        o, base_lr=0.1 * 0.01, max_lr=0.01, step_size_up=10, mode="exp_range", gamma=0.95,
        cycle_momentum=False), 40
    yield "cyclicLR", 9, 1, 0.2, "gamma=0.9", lambda o: S.CyclicLR(
        o, base_lr=0.1 * 0.2, max_lr=0.2, step_size_up=2, mode="exp_range", gamma=0.9,
        cycle_momentum=False), 9
    yield "CAWR", 80, 1, 0.01, "", lambda o: S.CosineAnnealingWarmRestarts(
        o, T_0=10, T_mult=2, eta_min=0.1 * 0.01), 80
    yield "CosineAnnealingWarmRestarts", 30, 1, 0.1, "T_0=7,T_mult=1,eta_min_factor=0", \
        lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=1, eta_min=0 * 0.1), 30
    yield "StepLR", 20, 1, 0.1, "step_size=3,gamma=0.5", lambda o: S.StepLR(o, step_size=3, gamma=0.5), 20
    yield "MultiStepLR", 12, 1, 0.1, "milestones=5:8:8", \
        lambda o: S.MultiStepLR(o, milestones=[5, 8, 8], gamma=0.1), 12
    yield "CosineAnnealingLR", 35, 1, 0.05, "T_max=10,eta_min=0.001", \
        lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=0.001), 35
    yield "CosineAnnealingLR", 15, 1, 0.01, "", lambda o: S.CosineAnnealingLR(o, T_max=15), 15
    yield "OneCycleLR", 30, 1, 0.1, "", lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=30,
                                                                 cycle_momentum=False), 30
    yield "OneCycleLR", 4, 25, 0.003, "pct_start=0.25,div_factor=10,final_div_factor=100", \
        lambda o: S.OneCycleLR(o, max_lr=0.003, total_steps=100, pct_start=0.25, div_factor=10,
                               final_div_factor=100, cycle_momentum=False), 100


def render():
    lines = [f"# written by tools/golden/make_schedule_golden.py with torch {torch.__version__.split('+')[0]}"]
    for name, epochs, per_epoch, lr, params, make, steps in cases():
        values = " ".join(float(v).hex() for v in sequence(lr, make, steps))
        lines.append(f"{name}|{epochs}|{per_epoch}|{float(lr).hex()}|{params}|{values}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("path")
    args = parser.parse_args()
    text = render()
    if args.check:
        with open(args.path) as f:
            old = f.read()
        # The torch version line may differ; the values may not.
        strip = lambda t: [l for l in t.splitlines() if not l.startswith("#")]
        if strip(old) != strip(text):
            sys.exit(f"{args.path} is stale: run python3 tools/golden/make_schedule_golden.py {args.path}")
        print(f"{args.path}: up to date")
        return
    with open(args.path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
