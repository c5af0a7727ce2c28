#!/usr/bin/env python3
"""Writes a tiny MNIST in the official gzipped IDX format, for the tools' end-to-end tests:

    python3 qres/tests/tiny_mnist.py <folder> [train images, default 64] [test images, default 16]

Image i is byte (13 i + j) mod 256 at pixel j, its label i mod 10: deterministic, no torch.
"""
import gzip
import struct
import sys


def main():
    folder = sys.argv[1]
    train = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    test = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    for split, n in (("train", train), ("t10k", test)):
        pixels = bytes((i * 13 + j) % 256 for i in range(n) for j in range(784))
        with gzip.open(f"{folder}/{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 28, 28) + pixels)
        with gzip.open(f"{folder}/{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))


if __name__ == "__main__":
    main()
