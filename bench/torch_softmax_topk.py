#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch CPU reference for bench_core's BM_softmax_top_k (same sizes, same byte model).

Times the router the way Hugging Face's Mixtral/Switch code does it:
    w = softmax(logits, dim=-1, dtype=float32); w, ids = topk(w, k); (k > 1) w /= w.sum(-1, keepdim)
on T x E fp32 logits drawn i.i.d. N(0, 1) (torch.manual_seed(42)); T in {1024, 16384},
E in {8, 64, 256}, k in {1, 2}; warm (one logits tensor) and cold (cycling through copies that
together exceed 3 x LLC, as bench_core does). Each repetition runs calls for >= --min-time seconds
and reports the mean per call; the table shows the median and the minimum over --repetitions.

    /usr/bin/python3 bench/torch_softmax_topk.py [--threads N] [--min-time S] [--repetitions R]

Needs torch (Debian: apt-get install python3-torch); exits 77 when it is missing.
"""
import argparse
import os
import statistics
import sys
import time


def llc_bytes():
    best, best_level = 0, 0
    for i in range(16):
        d = f"/sys/devices/system/cpu/cpu0/cache/index{i}/"
        try:
            level = int(open(d + "level").read())
            size = open(d + "size").read().strip()
        except OSError:
            break
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1], 1)
        n = int(size.rstrip("KMG")) * mult
        if level >= best_level:
            best, best_level = n, level
    return best or 32 << 20


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--repetitions", type=int, default=5)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch not installed (Debian: apt-get install python3-torch); skipping", file=sys.stderr)
        return 77
    torch.set_num_threads(args.threads)
    llc = llc_bytes()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, LLC {llc >> 20} MiB")
    print()
    print("| T | E | k | cold | median µs | min µs | GB/s at median (model bytes) |")
    print("|---|---|---|---|---|---|---|")
    for cold in (0, 1):
        for t in (1024, 16384):
            for e in (8, 64, 256):
                for k in (1, 2):
                    copies = int(3 * llc / (4 * t * e)) + 1 if cold else 1
                    torch.manual_seed(42)
                    pool = torch.randn(copies, t, e, dtype=torch.float32)

                    def router(x):
                        w = torch.softmax(x, dim=-1, dtype=torch.float32)
                        w, ids = torch.topk(w, k, dim=-1)
                        if k > 1:
                            w = w / w.sum(dim=-1, keepdim=True)
                        return w, ids

                    for c in range(min(copies, 3)):
                        router(pool[c])  # warm-up
                    per_call = []
                    c = 0
                    for _ in range(args.repetitions):
                        n = 0
                        t0 = time.perf_counter()
                        while True:
                            router(pool[c])
                            c = c + 1 if c + 1 < copies else 0
                            n += 1
                            el = time.perf_counter() - t0
                            if el >= args.min_time:
                                break
                        per_call.append(el / n)
                    med, mn = statistics.median(per_call), min(per_call)
                    model_bytes = 4 * t * e + 12 * t * k
                    print(f"| {t} | {e} | {k} | {cold} | {med * 1e6:.1f} | {mn * 1e6:.1f} | {model_bytes / med / 1e9:.2f} |")
                    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
