"""qres.optim on CUDA tensors against the same optimizer on CPU tensors, bit for bit (the GPU
bundle runs it: tools/gpu_bundle.sh). Prints one line per case and exits non-zero on a difference."""
import sys

import torch

import qres

CASES = [
    ("QtAdamW", {"weight_decay": 0.01, "qp": 2}),
    ("QtAdamW", {"rounding": "stochastic", "seed": 7}),
    ("QtAdam", {"schedule": "log", "epochs": 1, "batches_per_epoch": 20}),
    ("QSGD", {"momentum": 0.9, "qp": 1}),
    ("AdamW", {"weight_decay": 0.05}),
]


def trajectory(device, algorithm, options, steps=20):
    generator = torch.Generator().manual_seed(0)
    shapes = [(64, 3, 3, 3), (64,), (10, 4096), (10,)]
    params = [torch.randn(s, generator=generator).to(device).requires_grad_() for s in shapes]
    targets = [torch.randn(s, generator=generator).to(device) for s in shapes]
    optimizer = qres.optim.create(algorithm, params, lr=1e-2, **options)
    for _ in range(steps):
        for p, t in zip(params, targets):
            p.grad = (p.detach() - t) * 0.5
        optimizer.step()
    return [p.detach().cpu() for p in params], optimizer.index


failed = 0
for algorithm, options in CASES:
    cpu, cpu_index = trajectory("cpu", algorithm, options)
    gpu, gpu_index = trajectory("cuda", algorithm, options)
    same = cpu_index == gpu_index and all(torch.equal(a, b) for a, b in zip(cpu, gpu))
    failed += not same
    print(f"{'same' if same else 'DIFFERENT'}: {algorithm} {options}, index {cpu_index} / {gpu_index}")
sys.exit(1 if failed else 0)
