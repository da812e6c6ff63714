#!/usr/bin/python3
"""Issue #30, item 2: PyTorch's own per-operator profile of the neighbourhood networks at their
papers' sizes (the networks of neighbourhood_nets.py), to set beside `perf` on pointlime's tract
run of the same exports (docs/models.md, "Where the time goes").

    /usr/bin/python3 benches/peers/profile_torch.py [--points 1024] [--batch 1] [--threads 2]
"""
import argparse

import torch

import neighbourhood_nets as nets  # beside this script, which Python puts first on sys.path


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.rand(a.batch, 3, a.points) * 2 - 1
    for name, net in nets.networks().items():
        net.eval()
        with torch.no_grad():
            for _ in range(2):
                net(x)
            with torch.autograd.profiler.profile() as prof:
                for _ in range(5):
                    net(x)
        print(f"== {name}: batch {a.batch}, {a.points} points, {a.threads} threads, 5 runs")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=a.rows))


if __name__ == "__main__":
    main()
