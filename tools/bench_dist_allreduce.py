"""The peer of dist_step_bench's allreduce: one allreduce of N float32 values through Python's
torch.distributed (Gloo), timed as qres times it (a barrier, then the allreduce; the median of 20
after 5 warm-ups). Rank 0 prints the milliseconds.

    torchrun --nproc_per_node=2 tools/bench_dist_allreduce.py --numel=50186
"""
import argparse
import statistics
import time

import torch
import torch.distributed as dist


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--numel", type=int, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    flat = torch.ones(args.numel)
    times = []
    for i in range(25):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(flat)
        if i >= 5:
            times.append((time.perf_counter() - start) * 1000)
    if dist.get_rank() == 0:
        print(f"{statistics.median(times):.3f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
