#!/usr/bin/env python3
"""The peer of //qres/bench:train_step_bench in Python PyTorch: the same nets, optimizer and step.

Prints the median milliseconds of one training step (zero_grad, forward, cross-entropy, backward,
optimizer step) on a fixed synthetic batch. Run by tools/bench_train_step.sh.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--net", default="CNN", choices=["CNN", "LeNet"])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--algo", default="Adam", choices=["Adam", "SGD"])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = {"CNN": CNN, "LeNet": LeNet}[args.net](args.channels, args.size)
    optimizer = (torch.optim.Adam if args.algo == "Adam" else torch.optim.SGD)(net.parameters(), lr=args.lr)
    images = torch.randn(args.batch, args.channels, args.size, args.size)
    labels = torch.randint(0, 10, (args.batch,))
    times = []
    for i in range(args.steps + 10):
        start = time.perf_counter()
        optimizer.zero_grad()
        F.cross_entropy(net(images), labels).backward()
        optimizer.step()
        if i >= 10:
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"{times[len(times) // 2]:.4f}")


if __name__ == "__main__":
    main()
