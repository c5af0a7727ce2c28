#!/usr/bin/env python3
"""Writes the optimizer trajectories that //qres/tests:golden_test checks qres against.

Two kinds of case:
- qres's own arithmetic (SGD, QSGD, the reference form of AdamW, QtAdam, QtAdamW, stdSGD): an
  independent implementation of the reference update rules (algorithm.md §1-2) in plain eager
  PyTorch, one tensor at a time, as the reference's optimizers do (stdSGD: torch.optim.SGD). qres computes these in its own loops, which
  round explicitly (qres/optim/step_math.h), so their bits do not depend on the CPU: the files are
  golden, checked in under qres/tests/golden.
- torch.optim's arithmetic (Adam, AdamW form=torch, NAdam, RAdam, ASGD): torch.optim itself
  (its single-tensor path, what it runs on CPU tensors). qres follows it through ATen's ops, whose
  bits depend on the CPU (MKL's vectorised sqrt takes other paths on other makes and widths of
  CPU; ATen's scalar kernels round a multiply-add twice where its AVX2/AVX-512 kernels use FMA).
  These are made at test time on the machine that runs the test (--torch_cases), never checked in.

Each case runs an optimizer for STEPS steps on a small fixed problem (tensors of odd sizes,
optionally a tensor whose gradient is always zero) and saves the inputs, the parameters every
SNAPSHOT_EVERY steps and the quantization index after every step.

    python3 tools/golden/make_golden.py qres/tests/golden             # (re)write the golden files
    python3 tools/golden/make_golden.py --check qres/tests/golden     # exit 1 if they would change
    python3 tools/golden/make_golden.py --torch_cases /tmp/torch_cases  # the torch.optim cases

The zero test of the bump rule sums the rounded integers exactly (as int64), and the reference
form's √v is correctly rounded (float64, then float32), as qres computes both on every device.
Stochastic rounding draws its numbers as qres/optim/counter_rng.h does (a pure function of seed,
step, tensor and element), so its trajectories are golden too. The inputs come from Python's own
generator, so they are the same on every CPU.
"""
import argparse
import math
import os
import random
import sys
import zlib

import numpy
import torch

STEPS = 100
SNAPSHOT_EVERY = 5
SHAPES = [(7,), (5, 3), (2, 1, 3, 3), (1,)]
ZERO_SHAPE = (4,)

# name: algorithm, lr, qp, optim_params, quant_params, zero-gradient tensor, batches/epoch, epochs,
# and optionally grid=True: inputs on a grid of 1/8 and curvature 1, so that with lr 0.5 the scaled
# updates land on exact ties (x.5) for the rounding modes to break; big=True: one more tensor of
# BIG_NUMEL elements, for the CPU loops' chunked, multi-threaded paths and the norm's chunks;
# lr_gamma: a learning-rate schedule, lr_t = lr_{t-1}·lr_gamma before every step (torch's
# ExponentialLR stepped per batch), which the optimizer must read at every step; nonfinite: one
# gradient element made NaN or infinite (NONFINITE_AT), which stays non-finite while the rest of
# its tensor trains on (algorithm.md Q3).
CASES = {
    "sgd_plain": ("SGD", 0.1, 0, "", "", False, 0, 0),
    "sgd_momentum_nesterov": ("SGD", 0.05, 0, "momentum=0.9,nesterov=true,weight_decay=0.01", "", False, 0, 0),
    "sgd_momentum_dampening": ("SGD", 0.05, 0, "momentum=0.8,dampening=0.3", "", False, 0, 0),
    "adam": ("Adam", 1e-2, 0, "weight_decay=0.01", "", False, 0, 0),
    "adamw_reference": ("AdamW", 1e-2, 0, "weight_decay=0.05", "", False, 0, 0),
    "adamw_torch": ("AdamW", 1e-2, 0, "form=torch,weight_decay=0.05", "", False, 0, 0),
    "qsgd_bump": ("QSGD", 0.05, 2, "", "", False, 0, 0),
    "qsgd_bump_zero_tensor": ("QSGD", 0.05, 2, "", "bump_on_zero_update=true", True, 0, 0),
    "qsgd_bump_limit": ("QSGD", 0.05, 0, "", "index_limit=6", False, 0, 0),
    "qsgd_bump_momentum": ("QSGD", 0.02, 1, "momentum=0.9,weight_decay=0.01", "", False, 0, 0),
    "qtadamw_bump": ("QtAdamW", 1e-2, 0, "weight_decay=0.01", "", False, 0, 0),
    "qtadamw_bump_floor": ("QtAdamW", 1e-2, 3, "", "rounding=floor", False, 0, 0),
    "qtadamw_bump_nearest_even_per_tensor": (
        "QtAdamW", 1e-2, 0, "", "rounding=nearest_even,scope=per_tensor,zero_test=all_zero,bump_on_zero_update=true",
        True, 0, 0),
    "qtadamw_bump_zero_tensor_unchecked_first": (
        "QtAdamW", 1e-2, 1, "", "check_first_step=false,bump_on_zero_update=true", True, 0, 0),
    "qtadam_bump": ("QtAdam", 1e-2, 3, "weight_decay=0.01", "", False, 0, 0),
    "qtadamw_log_floor": ("QtAdamW", 1e-2, 0, "", "schedule=log,rounding=floor,eta=64", False, 10, 20),
    "qtadamw_log_half_up": ("QtAdamW", 1e-2, 0, "", "schedule=log,eta=1024,warmup=0.5", False, 10, 10),
    "qsgd_log_nearest_even": (
        "QSGD", 0.05, 0, "", "schedule=log,rounding=nearest_even,eta=256,kappa=1", True, 10, 20),
    "qsgd_bump_nearest_even_ties": ("QSGD", 0.5, 3, "", "rounding=nearest_even", False, 0, 0, True),
    "qsgd_bump_half_up_ties": ("QSGD", 0.5, 3, "", "", False, 0, 0, True),
    "qtadamw_bump_stochastic": ("QtAdamW", 1e-2, 0, "", "rounding=stochastic,seed=7", False, 0, 0),
    "qsgd_log_stochastic": (
        "QSGD", 0.05, 0, "momentum=0.5", "schedule=log,rounding=stochastic,seed=11,eta=256", True, 10, 20),
    "qtadamw_none": ("QtAdamW", 1e-2, 0, "weight_decay=0.01", "schedule=none", False, 0, 0),
    "qtadamw_log_no_offset": ("QtAdamW", 1e-2, 0, "", "schedule=log,offset=false,eta=1024", False, 10, 10),
    "qtadam_log_weight_decay": ("QtAdam", 1e-2, 0, "weight_decay=0.01", "schedule=log,eta=256", False, 10, 10),
    "qsgd_bump_checked_nesterov": (
        "QSGD", 0.02, 1, "momentum=0.9,nesterov=true,weight_decay=0.01", "check_first_step=true", True, 0, 0),
    "qsgd_bump_dampening": ("QSGD", 0.02, 1, "momentum=0.8,dampening=0.3", "", False, 0, 0),
    "qtadamw_bump_limit": ("QtAdamW", 1e-2, 0, "", "index_limit=4", False, 0, 0),
    "qsgd_bump_per_tensor_sum": ("QSGD", 0.05, 2, "", "scope=per_tensor,bump_on_zero_update=true", True, 0, 0),
    "qtadamw_bump_betas_eps": ("QtAdamW", 1e-2, 0, "betas=0.8:0.99,eps=1e-4", "", False, 0, 0),
    "qtadamw_bump_big": ("QtAdamW", 1e-2, 0, "weight_decay=0.01", "", False, 0, 0, False, True),
    "qsgd_log_big": ("QSGD", 0.05, 0, "momentum=0.9", "schedule=log,eta=4096", False, 10, 10, False, True),
    # A case's seed is its index among the sorted names: a new name shifts the seeds (and the
    # golden files) of the names after it.
    "with_schedule_qsgd_log": ("QSGD", 0.05, 0, "", "schedule=log,eta=256,kappa=1", False, 10, 20, False, False, 0.9),
    "with_schedule_qtadamw_bump": ("QtAdamW", 1e-2, 2, "weight_decay=0.05", "", False, 0, 0, False, False, 0.93),
    "torch_asgd": ("ASGD", 0.05, 0, "weight_decay=0.01", "", False, 0, 0),
    "torch_nadam": ("NAdam", 2e-3, 0, "", "", False, 0, 0),
    "torch_nadam_weight_decay": ("NAdam", 2e-2, 0, "weight_decay=0.05", "", True, 0, 0),
    "torch_radam": ("RAdam", 1e-3, 0, "", "", False, 0, 0),
    "torch_radam_weight_decay": ("RAdam", 1e-2, 0, "weight_decay=0.05", "", True, 0, 0),
    "torch_std_sgd": ("stdSGD", 0.1, 0, "", "", False, 0, 0),
    # AdamW form=torch takes torch.optim.AdamW's defaults (eps 1e-8, weight_decay 0.01).
    "torch_adamw_defaults": ("AdamW", 1e-2, 0, "form=torch", "", False, 0, 0),
    # An update that is zero before rounding (the zero-gradient tensor's; an lr of 0) bumps
    # nothing by default: the cases above with bump_on_zero_update=true keep the reference's rule.
    "zero_update_qsgd_bump": ("QSGD", 0.05, 2, "", "check_first_step=true", True, 0, 0),
    "zero_update_qtadamw_per_tensor": ("QtAdamW", 1e-2, 0, "", "scope=per_tensor", True, 0, 0),
    # One NaN (or infinite) gradient element: it takes no part in the bump test or the log
    # schedule's norm, so the index still rises and the rest of its tensor trains on. (zz_: the
    # last names, so that the other cases keep their seeds.)
    "zz_nonfinite_qtadamw_bump": ("QtAdamW", 1e-2, 0, "", "", False, 0, 0, False, False, None, float("nan")),
    "zz_nonfinite_qsgd_log": ("QSGD", 0.05, 0, "", "schedule=log,eta=256", False, 10, 10, False, False, None,
                              float("inf")),
}
# (tensor, step, element) of a nonfinite case's bad gradient element: tensor 1's, from step 3 on.
NONFINITE_AT = (1, 2, 4)

# More than two of qres/optim/fused_cpu.cc's kGrain (2^18) elements: the big tensor's loops and
# sums run in three chunks on several threads. Its inputs are not stored but made from a counter
# hash (hashed_uniform, and golden_test.cc's HashedUniform), its noise is one tensor scaled per
# step, and its snapshots are CRC-32s of the parameter bytes, so the file stays small.
BIG_NUMEL = 3 * (1 << 18) + 5

# Exact ties (x - floor(x) == 0.5) the rounding met, per case: the tie cases must meet some.
ties = 0


def parse(text):
    out = {}
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        out[key] = value
    return out


MASK = (1 << 64) - 1


def mix64(x):
    """SplitMix64's finaliser, as qres/optim/counter_rng.h, on numpy uint64 values (wrapping)."""
    x = numpy.asarray(x, dtype=numpy.uint64)
    with numpy.errstate(over="ignore"):
        x = x + numpy.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> numpy.uint64(30))) * numpy.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> numpy.uint64(27))) * numpy.uint64(0x94D049BB133111EB)
    return x ^ (x >> numpy.uint64(31))


def to_float32(bits, scale):
    """24-bit integers times a power of two: exact in float32."""
    return torch.from_numpy(bits.astype(numpy.float32) * numpy.float32(scale))


def uniforms(seed, call, tensor, shape):
    """Stochastic rounding's numbers in [0, 1) for a tensor at a quantizer call (counter_rng.h)."""
    with numpy.errstate(over="ignore"):
        key = mix64(mix64(numpy.uint64(seed) ^ mix64(call)) + numpy.uint64(tensor))
        j = numpy.arange(math.prod(shape), dtype=numpy.uint64)
        bits = mix64(key ^ (j * numpy.uint64(0xD6E8FEB86659FD93))) >> numpy.uint64(40)
    return to_float32(bits, 1.0 / (1 << 24)).view(shape)


def hashed_uniform(seed, numel):
    """float32 values in [-1, 1) with 24 bits of mix64(seed * 2^32 + j): exact integer arithmetic,
    the same on every machine (golden_test.cc's HashedUniform)."""
    j = numpy.arange(numel, dtype=numpy.uint64)
    with numpy.errstate(over="ignore"):
        bits = mix64(j + numpy.uint64((seed << 32) & MASK)) >> numpy.uint64(40)
    return to_float32(bits.astype(numpy.int64) - (1 << 23), 1.0 / (1 << 23))


def round_scaled(h, scale, mode, u=None):
    global ties
    x = h * scale
    ties += int((x - torch.floor(x) == 0.5).sum().item())
    if mode == "stochastic":
        return torch.floor(x + u)
    if mode == "half_up":
        return torch.floor(x + 0.5)
    if mode == "floor":
        return torch.floor(x)
    if mode == "nearest_even":
        return torch.round(x)
    raise ValueError(mode)


class BumpQuantizer:
    """G1's Q_process: Q_p = 2^max(n,0), bump while the quantized update is zero."""

    def __init__(self, qp, q):
        self.n = qp
        self.per_tensor = {}
        self.limit = int(q.get("index_limit", 32))
        self.rounding = q.get("rounding", "half_up")
        self.zero_test = q.get("zero_test", "sum")
        self.scope = q.get("scope", "global")
        self.check_first = None  # set by the optimizer
        self.bump_on_zero_update = q.get("bump_on_zero_update", "false") == "true"
        self.qp = qp
        self.seed = int(q.get("seed", 0))
        self.calls = 0  # optimizer steps so far: the stochastic stream's counter

    @staticmethod
    def resolution(n):
        return 2.0 ** max(n, 0)

    def is_zero(self, h, q):
        q = torch.where(torch.isfinite(h), q, 0.0)  # non-finite elements of h take no part
        if self.zero_test == "sum":
            return torch.sum(q, dtype=torch.int64).item() == 0
        return not torch.any(q).item()

    def quantize(self, h, tensor_id, step, first, lam):
        n = self.n if self.scope == "global" else self.per_tensor.get(tensor_id, self.qp)
        u = uniforms(self.seed, self.calls, tensor_id, h.shape) if self.rounding == "stochastic" else None
        q = round_scaled(h, self.resolution(n), self.rounding, u)
        # An update that is zero before rounding carries no evidence for a finer grid.
        finite_nonzero = bool(torch.any(torch.where(torch.isfinite(h), h, 0.0)))
        if (self.check_first or not first) and (self.bump_on_zero_update or finite_nonzero):
            while self.is_zero(h, q) and n <= self.limit:
                n += 1
                q = round_scaled(h, self.resolution(n), self.rounding, u)
        if self.scope == "global":
            self.n = n
        else:
            self.per_tensor[tensor_id] = n
        return q / self.resolution(n)

    def finish_step(self):
        self.calls += 1

    def index(self):
        if self.scope == "global" or not self.per_tensor:
            return float(self.n)
        return float(max(self.per_tensor.values()))


def norm_in_order(h):
    """‖h‖ as qres sums it on every device (qres/optim/step_math.h): float64 squares; per chunk of
    2048 elements 256 lanes, lane l summing elements l, l + 256, ... in order; lanes added as a
    tree; chunks added in order; non-finite elements left out. (The reference's float32 norm
    differs in the last bits.)"""
    x = h.detach().double().flatten()
    x = torch.where(torch.isfinite(x), x, 0.0)
    chunks = (x.numel() + 2047) // 2048
    squares = torch.zeros(chunks * 2048, dtype=torch.float64)
    squares[:x.numel()] = x * x
    squares = squares.view(chunks, 8, 256)
    lanes = torch.zeros(chunks, 256, dtype=torch.float64)
    for e in range(8):
        lanes = lanes + squares[:, e, :]
    width = 128
    while width >= 1:
        lanes = torch.cat([lanes[:, :width] + lanes[:, width:2 * width], lanes[:, 2 * width:]], dim=1)
        width //= 2
    total = 0.0
    for value in lanes[:, 0].tolist():
        total += value
    return math.sqrt(total)


class LogQuantizer:
    """G2's schedule: Q_p = eta * b^floor(log_b ln(t_e + 2)) with the warm-up offset."""

    def __init__(self, q, batches_per_epoch, epochs):
        self.base = float(q.get("base", 2.0))
        self.eta = float(q.get("eta", 524288.0))
        self.kappa = float(q.get("kappa", 2.0))
        self.warmup = float(q.get("warmup", 0.2))
        self.rounding = q.get("rounding", "half_up")
        self.offset = q.get("offset", "true") == "true"
        self.seed = int(q.get("seed", 0))
        self.calls = 0
        self.nb = batches_per_epoch
        self.tau0 = epochs * self.warmup
        self.resolution = self.eta * self.base ** math.floor(math.log(math.log(2.0)) / math.log(self.base))

    def quantize(self, h, tensor_id, step, first, lam):
        te = step / self.nb
        p = math.floor(math.log(math.log(te + 2.0)) / math.log(self.base))
        qp = self.eta * self.base ** p
        u = h
        if self.offset:
            norm = norm_in_order(h)
            if norm > 0.0:
                s = 0.5 * (1.0 + math.tanh(-self.kappa * (te - self.tau0)))
                u = h + h * (s * lam / norm)
        self.resolution = qp
        random = uniforms(self.seed, self.calls, tensor_id, h.shape) if self.rounding == "stochastic" else None
        return round_scaled(u, qp, self.rounding, random) / qp

    def finish_step(self):
        self.calls += 1

    def index(self):
        return math.log2(self.resolution)


def make_quantizer(algo, qp, quant_params, nb, epochs):
    q = parse(quant_params)
    if q.get("schedule", "bump") == "none":
        return None  # the unquantized algorithm: QtAdamW is AdamW, QSGD is SGD
    if q.get("schedule", "bump") == "log":
        return LogQuantizer(q, nb, epochs)
    quantizer = BumpQuantizer(int(q.get("qp", qp)), q)
    default_check = algo != "QSGD"  # QtSGD counts from 0 and skips the check at step 0
    quantizer.check_first = q.get("check_first_step", str(default_check).lower()) == "true"
    return quantizer


class Sgd:
    def __init__(self, params, lr, o, quantizer):
        self.params, self.lr, self.quantizer = params, lr, quantizer
        self.momentum = float(o.get("momentum", 0.0))
        self.dampening = float(o.get("dampening", 0.0))
        self.wd = float(o.get("weight_decay", 0.0))
        self.nesterov = o.get("nesterov", "false") == "true"
        self.buf = [None] * len(params)
        self.s = [0] * len(params)

    def step(self):
        for i, p in enumerate(self.params):
            d = p.grad
            if self.wd != 0:
                d = d.add(p, alpha=self.wd)
            if self.momentum != 0:
                if self.buf[i] is None:
                    self.buf[i] = torch.clone(d).detach()
                else:
                    self.buf[i].mul_(self.momentum).add_(d, alpha=1 - self.dampening)
                d = d.add(self.buf[i], alpha=self.momentum) if self.nesterov else self.buf[i]
            if self.quantizer is None:
                p.add_(d, alpha=-self.lr)
            else:
                h = d * (-self.lr)
                p.add_(self.quantizer.quantize(h, i, self.s[i], self.s[i] == 0, self.lr))
            self.s[i] += 1


class AdamFamily:
    """The reference form (algorithm.md §2): ε on the uncorrected √v, decoupled decay after the
    update. (The torch form is torch.optim's own: make_optimizer runs it.)"""

    def __init__(self, params, lr, o, quantizer, decoupled):
        self.params, self.lr, self.quantizer = params, lr, quantizer
        b = [float(x) for x in o.get("betas", "0.9:0.999").split(":")]
        self.b1, self.b2 = b
        self.eps = float(o.get("eps", 1e-6))
        self.wd = float(o.get("weight_decay", 0.0))
        self.decoupled = decoupled
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = [0] * len(params)

    def step(self):
        for i, p in enumerate(self.params):
            g, m, v = p.grad, self.m[i], self.v[i]
            self.t[i] += 1
            t = self.t[i]
            if self.wd != 0 and not self.decoupled:
                g = g.add(p, alpha=self.wd)
            m.mul_(self.b1).add_(g, alpha=1.0 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
            bias1 = 1 - self.b1 ** t
            bias2 = 1 - self.b2 ** t
            step_size = self.lr * math.sqrt(bias2) / bias1
            # Correctly rounded √v (float64, then float32), as qres computes it on every device;
            # at::sqrt on the CPU is MKL's, which is not, and differs between CPUs.
            denom = v.double().sqrt().float().add_(self.eps)
            if self.quantizer is None:
                p.addcdiv_(m, denom, value=-step_size)
            else:
                h = (m / denom) * (-step_size)
                p.add_(self.quantizer.quantize(h, i, t, t == 1, step_size))
            if self.wd != 0 and self.decoupled:
                p.add_(p, alpha=-self.lr * self.wd)


# What follows torch.optim: the follow-up's torch baselines, Adam, and AdamW with form=torch. They
# run torch.optim itself, its single-tensor path (what it runs on CPU tensors), with only lr (and
# the case's options) passed; stdSGD is SGD's plain step.
TORCH_OPTIMIZERS = {"ASGD": torch.optim.ASGD, "NAdam": torch.optim.NAdam, "RAdam": torch.optim.RAdam,
                    "stdSGD": torch.optim.SGD, "Adam": torch.optim.Adam}


def torch_peer(algo, optim_params):
    """The torch.optim class that makes a case's trajectory, or None where this file's own
    implementation of the reference does (is_torch_case says which kind a case is)."""
    if algo == "AdamW" and parse(optim_params).get("form") == "torch":
        return torch.optim.AdamW
    return TORCH_OPTIMIZERS.get(algo)


def make_optimizer(algo, params, lr, qp, optim_params, quant_params, nb, epochs):
    o = parse(optim_params)
    peer = torch_peer(algo, optim_params)
    if peer is not None:
        o.pop("form", None)
        return peer(params, lr=lr, foreach=False, **{k: float(v) for k, v in o.items()})
    quantized = algo in ("QSGD", "QtAdam", "QtAdamW")
    quantizer = make_quantizer(algo, qp, quant_params, nb, epochs) if quantized else None
    if algo in ("SGD", "QSGD"):
        return Sgd(params, lr, o, quantizer)
    if o.get("form", "reference") != "reference":
        raise ValueError(f"{algo}: form={o['form']} has no implementation here")
    return AdamFamily(params, lr, o, quantizer, decoupled=algo in ("AdamW", "QtAdamW"))


def run_case(seed, algo, lr, qp, optim_params, quant_params, zero_tensor, nb, epochs, grid=False, big=False,
             lr_gamma=None, nonfinite=None):
    global ties
    ties = 0
    # Python's own generator, not torch.randn: torch's vectorised normal sampler gives other bits
    # on a CPU without AVX2 (ATEN_CPU_CAPABILITY=default), and the inputs must not depend on it.
    rng = random.Random(seed)

    def normal(shape, scale=1.0):
        return torch.tensor([rng.gauss(0.0, 1.0) * scale for _ in range(math.prod(shape))],
                            dtype=torch.float32).view(shape)

    shapes = SHAPES + ([ZERO_SHAPE] if zero_tensor else [])
    init = [normal(s) for s in shapes]
    targets = [normal(s) for s in shapes]
    curvature = torch.tensor([rng.random() * 1.5 + 0.5 for _ in shapes], dtype=torch.float64)
    noise = [normal((STEPS,) + s, 0.05) for s in shapes]
    if grid:
        init, targets, noise = ([torch.round(x * 8) / 8 for x in xs] for xs in (init, targets, noise))
        curvature = torch.ones_like(curvature)
    if big:
        init.append(hashed_uniform(seed, BIG_NUMEL))
        targets.append(hashed_uniform(seed + 1, BIG_NUMEL))
        big_noise = hashed_uniform(seed + 2, BIG_NUMEL) * 0.05
        noise_scale = torch.tensor([rng.random() for _ in range(STEPS)], dtype=torch.float64)
        curvature = torch.cat([curvature, torch.tensor([rng.random() * 1.5 + 0.5], dtype=torch.float64)])
    if nonfinite is not None:
        tensor, step, element = NONFINITE_AT
        noise[tensor][step].view(-1)[element] = nonfinite
    zero_mask = torch.tensor([zero_tensor and i == len(shapes) - 1 for i in range(len(init))])

    params = [w.clone() for w in init]
    optimizer = make_optimizer(algo, params, lr, qp, optim_params, quant_params, nb, epochs)
    snapshots = {}
    big_crc32 = []
    index = []
    lrs = [lr]
    for _ in range(STEPS - 1):
        lrs.append(lrs[-1] * lr_gamma if lr_gamma is not None else lr)
    for step in range(STEPS):
        optimizer.lr = lrs[step]
        for i, p in enumerate(params):
            if zero_mask[i]:
                p.grad = torch.zeros_like(p)
            elif i == len(shapes):  # the big tensor
                p.grad = (p - targets[i]) * curvature[i].item() + big_noise * noise_scale[step].item()
            else:
                p.grad = (p - targets[i]) * curvature[i].item() + noise[i][step]
        optimizer.step()
        q = getattr(optimizer, "quantizer", None)
        if q is not None:
            q.finish_step()
        index.append(q.index() if q is not None else 0.0)
        if (step + 1) % SNAPSHOT_EVERY == 0:
            for i, p in enumerate(params[:len(shapes)]):
                snapshots[f"param{i}/step{step + 1}"] = p.clone()
            if big:
                big_crc32.append(zlib.crc32(params[-1].numpy().tobytes()))
    data = {
        "algorithm": algo, "lr": lr, "qp": qp, "optim_params": optim_params,
        "quant_params": quant_params, "batches_per_epoch": nb, "epochs": epochs,
        "num_tensors": len(shapes), "steps": STEPS, "snapshot_every": SNAPSHOT_EVERY,
        "curvature": curvature, "zero_mask": zero_mask, "index": torch.tensor(index, dtype=torch.float64),
    }
    for i in range(len(shapes)):
        data[f"init{i}"] = init[i]
        data[f"target{i}"] = targets[i]
        data[f"noise{i}"] = noise[i]
    if lr_gamma is not None:
        data["lrs"] = torch.tensor(lrs, dtype=torch.float64)
    if big:
        data.update({"big_numel": BIG_NUMEL, "big_seed": seed, "noise_scale": noise_scale,
                     "big_crc32": torch.tensor(big_crc32, dtype=torch.int64)})  # one per snapshot
    data.update(snapshots)
    if grid and ties == 0:
        raise AssertionError(f"a grid case met no ties: {algo} {quant_params}")
    return data


# What eager PyTorch computes without vectorised kernels (ATEN_CPU_CAPABILITY=default, or a CPU
# without AVX2): its AVX2/AVX-512 kernels of add(alpha=), addcmul, addcdiv and lerp round a
# multiply-add once (FMA), its scalar default kernels twice, so the trajectories of this script
# differ in the last bits there. The files hold the FMA results, which qres computes on every CPU
# (step_math.h rounds explicitly); there only the inputs, which come from Python's generator, are
# checked.
CAPABILITY_DEPENDENT = ("param", "index", "big_crc32")


def equal(x, y):
    """torch.equal, with NaN equal to NaN where both have one (the nonfinite cases)."""
    if x.shape != y.shape:
        return False
    if x.is_floating_point():
        return torch.allclose(x, y, rtol=0.0, atol=0.0, equal_nan=True)
    return torch.equal(x, y)


def same(a, b, inputs_only=False):
    if a.keys() != b.keys():
        return False
    for key in a:
        if inputs_only and key.startswith(CAPABILITY_DEPENDENT):
            continue
        x, y = a[key], b[key]
        if isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and x.dtype == y.dtype and equal(x, y)):
                return False
        elif x != y:
            return False
    return True


# torch.optim classes whose step qres computes in its own loops, not through ATen: stdSGD's
# w - lr·g is one FMA in step_math.h (as in ATen's vector kernels), so its trajectory is golden.
COMPUTED_BY_QRES = ("stdSGD",)


def is_torch_case(case):
    """Whether qres follows the case through ATen's ops (its bits then depend on the CPU)."""
    return torch_peer(case[0], case[3]) is not None and case[0] not in COMPUTED_BY_QRES


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="compare the golden files in out_dir with what this script would write")
    mode.add_argument("--torch_cases", action="store_true",
                      help="write the torch.optim cases (CPU-dependent, made at test time) instead")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    stale = []
    inputs_only = args.check and torch.backends.cpu.get_cpu_capability() == "DEFAULT"
    if inputs_only:
        print("ATen CPU capability DEFAULT (no FMA kernels): checking the golden inputs only; the trajectories "
              "are eager PyTorch's FMA results (see CAPABILITY_DEPENDENT)")
    # Seeds follow the sorted names of all cases, so either kind's inputs stay put.
    cases = [(1000 + seed, name, case) for seed, (name, case) in enumerate(sorted(CASES.items()))
             if is_torch_case(case) == args.torch_cases]
    for seed, name, case in cases:
        data = run_case(seed, *case)
        path = os.path.join(args.out_dir, name + ".pt")
        if args.check:
            if not os.path.exists(path) or not same(torch.load(path), data, inputs_only):
                stale.append(path)
        else:
            os.makedirs(args.out_dir, exist_ok=True)
            tmp = path + ".tmp"
            torch.save(data, tmp)
            os.replace(tmp, path)
            print(f"wrote {path}: {case[0]}, final index {data['index'][-1].item():g}")
    if args.check:
        known = {name + ".pt" for _, name, _ in cases}
        extra = [f for f in os.listdir(args.out_dir) if f.endswith(".pt") and f not in known]
        if stale or extra:
            for path in stale:
                print(f"stale golden file: {path}", file=sys.stderr)
            for f in extra:
                print(f"golden file without a case of qres's own arithmetic: {f}", file=sys.stderr)
            print("regenerate with: python3 tools/golden/make_golden.py qres/tests/golden", file=sys.stderr)
            return 1
        print(f"{len(cases)} golden files are up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
