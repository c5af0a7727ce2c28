#!/usr/bin/env python3
"""torch_nn02.py with qres.optim: the seed's training script, short, in plain PyTorch.

Trains the reference's CNN or LeNet on MNIST or Fashion-MNIST (the IDX files in --data_dir) with
one of qres's optimizers, and writes the seed's files: torch_nn02<net><algo>.pt (the weights),
error_<net><algo><epochs>.pickle (the training cost of each epoch) and operation_<net><algo><epochs>.txt
(the run's log). Install the package first: bazel run //qres/python:install

    python3 examples/python/torch_nn02.py -d FashionMNIST -e 2 -n CNN -qp 2 -l 0.001 -m QtAdamW
"""
import argparse
import gzip
import os
import pickle
import time

import numpy
import torch
import torch.nn as nn
import torch.nn.functional as F

import qres


class CNN(nn.Module):
    """The reference's MNIST net: conv 3x3 (32) - ReLU - pool - conv 3x3 (64) - ReLU - pool - linear."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 7 * 7, 10)
        nn.init.xavier_uniform_(self.fc.weight)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class LeNet(nn.Module):
    """LeNet-5 on 28x28 images padded to 32x32, log-probabilities out (as the reference)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(F.pad(x, (2, 2, 2, 2)))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc2(F.relu(self.fc1(x.flatten(1)))))
        return F.log_softmax(self.fc3(x), 1)


def read_idx(path):
    """An IDX file (gzipped or not) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    found = [name for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte")
             if os.path.exists(os.path.join(data_dir, name))]
    if not found:
        raise SystemExit(f"torch_nn02.py: no {prefix}-images-idx3-ubyte[.gz] in --data_dir={data_dir}")
    images = read_idx(os.path.join(data_dir, found[0]))
    labels = read_idx(os.path.join(data_dir, found[0].replace("images-idx3", "labels-idx1")))
    return torch.from_numpy(images.copy()).float().div_(255).unsqueeze(1), torch.from_numpy(labels.copy()).long()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-g", "--device", type=int, default=0, help="[0] CPU or [1] GPU")
    parser.add_argument("-l", "--learning_rate", type=float, default=1e-3)
    parser.add_argument("-e", "--training_epochs", type=int, default=2)
    parser.add_argument("-b", "--batch_size", type=int, default=100)
    parser.add_argument("-m", "--model_name", default="QtAdamW", help="QSGD, QtAdam, QtAdamW, AdamW, SGD")
    parser.add_argument("-n", "--net_name", default="CNN", choices=["CNN", "LeNet"])
    parser.add_argument("-d", "--data_set", default="FashionMNIST", choices=["MNIST", "FashionMNIST"])
    parser.add_argument("-qp", "--quantization_index", type=int, default=0, help="the initial index (Q_p = 2^qp)")
    parser.add_argument("--data_dir", default="/usr/share/datasets/fashion-mnist",
                        help="the data set's IDX files (Fashion-MNIST: Debian's dataset-fashion-mnist)")
    args = parser.parse_args()

    device = torch.device("cuda" if args.device and torch.cuda.is_available() else "cpu")
    torch.manual_seed(1)
    train_x, train_y = load(args.data_dir, "train")
    test_x, test_y = load(args.data_dir, "test")
    model = (CNN if args.net_name == "CNN" else LeNet)().to(device)
    quantized = args.model_name in ("QSGD", "QtAdam", "QtAdamW")
    optimizer = qres.optim.create(args.model_name, model.parameters(), lr=args.learning_rate,
                                  **({"qp": args.quantization_index} if quantized else {}))
    name = f"{args.net_name}{args.model_name}"
    log = [f"{args.data_set}, {name}, {optimizer.description}, lr {args.learning_rate}, batch {args.batch_size}"]
    print(log[0])
    costs = []
    for epoch in range(1, args.training_epochs + 1):
        start, total = time.time(), 0.0
        order = torch.randperm(len(train_x))
        batches = range(0, len(train_x), args.batch_size)
        model.train()
        for first in batches:
            index = order[first:first + args.batch_size]
            x, y = train_x[index].to(device), train_y[index].to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y) if args.net_name == "CNN" else F.nll_loss(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        costs.append(total / len(batches))
        model.eval()
        with torch.no_grad():
            correct = sum((model(test_x[i:i + 1000].to(device)).argmax(1).cpu() == test_y[i:i + 1000]).sum().item()
                          for i in range(0, len(test_x), 1000))
        line = (f"[Epoch : {epoch:4d}] cost = {costs[-1]:.9f}  QP Index: {optimizer.index:g}  "
                f"test acc {correct / len(test_x):.4f}  {time.time() - start:.1f} s")
        print(line)
        log.append(line)
    epochs = args.training_epochs
    torch.save(model.state_dict(), f"torch_nn02{name}.pt")
    with open(f"error_{name}{epochs}.pickle", "wb") as f:
        pickle.dump(costs, f)
    with open(f"operation_{name}{epochs}.txt", "w") as f:
        f.write("\n".join(log) + "\n")
    print(f"wrote torch_nn02{name}.pt, error_{name}{epochs}.pickle, operation_{name}{epochs}.txt")


if __name__ == "__main__":
    main()
