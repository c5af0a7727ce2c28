#!/usr/bin/env python3
"""The peer of //qres/bench:train_step_bench in Python PyTorch: the same nets, optimizer and step.

Prints the median milliseconds of one training step (zero_grad, forward, cross-entropy, backward,
optimizer step) on a fixed synthetic batch, timed as the C++ bench times it: in groups of 10 steps,
waiting for the device at the end of each group. Run by tools/bench_train_step.sh on the CPU and by
the GPU bundle's run.sh (tools/gpu_bundle.sh) on the GPU.
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN(nn.Module):
    def __init__(self, channels, size, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * (size // 4) * (size // 4), classes)
        nn.init.xavier_uniform_(self.fc.weight)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class LeNet(nn.Module):
    def __init__(self, channels, size, classes=10):
        super().__init__()
        self.pad = 2 if size == 28 else 0
        self.conv1 = nn.Conv2d(channels, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, classes)

    def forward(self, x):
        if self.pad:
            x = F.pad(x, (2, 2, 2, 2))
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        x = F.relu(self.fc2(x))
        return F.log_softmax(self.fc3(x), 1)


class BasicBlock(nn.Module):
    """qres/models/resnet.cc's block: option-A shortcut (zero channels, subsampled)."""

    def __init__(self, inputs, outputs, stride):
        super().__init__()
        self.extra, self.stride = outputs - inputs, stride
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.extra:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
        if self.stride > 1:
            shortcut = shortcut[:, :, :: self.stride, :: self.stride]
        return F.relu(out + shortcut)


class ResNet(nn.Module):
    """CIFAR ResNet of depth 6n + 2, as qres/models/resnet.cc."""

    def __init__(self, channels, size, classes=10, layers=3):
        super().__init__()
        self.conv = nn.Conv2d(channels, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, inputs = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for b in range(layers):
                blocks.append(BasicBlock(inputs, width, 2 if stage > 0 and b == 0 else 1))
                inputs = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", default="CNN", choices=["CNN", "LeNet", "ResNet"])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--net_params", default="",
                        help="as train_step_bench: ResNet's layers=n (3 is ResNet-20; 5, the default, ResNet-32)")
    parser.add_argument("--algo", default="Adam", choices=["Adam", "AdamW", "SGD"])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.0, help="SGD momentum")
    parser.add_argument("--fused", action="store_true", help="PyTorch's fused Adam/AdamW/SGD kernels")
    parser.add_argument("--steps", type=int, default=100, help="timed steps, in groups of 10")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: torch.autocast around forward and loss")
    parser.add_argument("--channels_last", action="store_true", help="net and images in channels_last memory")
    parser.add_argument("--compile", action="store_true", help="torch.compile the net (the default inductor backend)")
    parser.add_argument("--compile_mode", default="default", choices=["default", "reduce-overhead", "max-autotune"],
                        help="torch.compile's mode (reduce-overhead: CUDA graphs on a GPU); implies --compile")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.net == "ResNet":
        options = dict(kv.split("=", 1) for kv in args.net_params.split(",") if kv)
        unknown = set(options) - {"layers"}
        if unknown:
            parser.error(f"--net_params: ResNet has no option {sorted(unknown)[0]}")
        net = ResNet(args.channels, args.size, layers=int(options.get("layers", 5)))
    else:
        net = {"CNN": CNN, "LeNet": LeNet}[args.net](args.channels, args.size)
    net = net.to(args.device)
    # AdamW as qres's (reference form): no weight decay, eps 1e-6.
    options = {"Adam": {}, "AdamW": {"weight_decay": 0.0, "eps": 1e-6}, "SGD": {"momentum": args.momentum}}
    if args.fused:
        options[args.algo]["fused"] = True
    optimizer = getattr(torch.optim, args.algo)(net.parameters(), lr=args.lr, **options[args.algo])
    images = torch.randn(args.batch, args.channels, args.size, args.size).to(args.device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
        images = images.to(memory_format=torch.channels_last)
    compile_net = args.compile or args.compile_mode != "default"
    model = torch.compile(net, mode=args.compile_mode) if compile_net else net
    labels = torch.randint(0, 10, (args.batch,)).to(args.device)

    def wait_for_device():
        if args.device == "cuda":
            torch.cuda.synchronize()

    def step():
        optimizer.zero_grad()
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    for _ in range(10):
        step()
    wait_for_device()
    ms_per_step = []
    for done in range(0, args.steps, 10):
        group = min(10, args.steps - done)
        start = time.perf_counter()
        for _ in range(group):
            step()
        wait_for_device()
        ms_per_step.append((time.perf_counter() - start) * 1000 / group)
    ms_per_step.sort()
    print(f"{ms_per_step[len(ms_per_step) // 2]:.4f}")


if __name__ == "__main__":
    main()
