#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch CPU reference for bench_semantic's BM_semantic_ce (same sizes, same loss).

Per case (BL, V) in {(4096, 32000), (16384, 50257)}, D = 1024, items of L = 8 tokens, every token
an answer token, fp32 logits 2 * N(0, 1), E ~ N(0, 1), targets (r * 104729) % V as the C++ bench:
  plain CE        F.cross_entropy(logits, y) forward + backward (what libtorch users run today)
  semantic CE     beacon's default loss written in torch: per-item mean CE, the detached distance
                  d_i = 1 - cos(mean_l E^T softmax(z_il), mean_l E[y_il]) (pooled before the GEMM,
                  the cheap order), weights w = 1 + d, loss = sum w ce / sum w; forward + backward
Prints the mean time per call over --repeats calls after one warm-up call.

    /usr/bin/python3 bench/torch_semantic_ce.py [--threads N] [--repeats R]

Needs torch (Debian: apt-get install python3-torch); exits 77 when it is missing. Debian's torch uses
the system libblas.so.3: install libopenblas0-pthread, or the matrix products run on the reference BLAS.
"""
import argparse
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch not available: {e}")
    sys.exit(77)


def semantic_ce(logits, y, emb, length):
    rows, vocab = logits.shape
    items = rows // length
    ce = F.cross_entropy(logits, y, reduction="none").view(items, length).mean(1)
    with torch.no_grad():
        p = torch.softmax(logits, dim=-1).view(items, length, vocab).mean(1)
        o = p @ emb
        t = emb[y].view(items, length, -1).mean(1)
        d = 1.0 - F.cosine_similarity(o, t, dim=-1, eps=1e-8)
        w = 1.0 + d
    return (w * ce).sum() / w.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(5)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: "
          f"{[l for l in torch.__config__.show().split(',') if 'BLAS_INFO' in l]}")
    print("| BL | V | plain CE fwd+bwd ms | semantic CE fwd+bwd ms |")
    print("|---|---|---|---|")
    for rows, vocab in ((4096, 32000), (16384, 50257)):
        dim, length = 1024, 8
        logits = (2.0 * torch.randn(rows, vocab, generator=gen)).requires_grad_(True)
        emb = torch.randn(vocab, dim, generator=gen)
        y = (torch.arange(rows, dtype=torch.int64) * 104729) % vocab
        times = []
        for fn in (lambda: F.cross_entropy(logits, y), lambda: semantic_ce(logits, y, emb, length)):
            logits.grad = None
            fn().backward()  # warm-up
            start = time.perf_counter()
            for _ in range(a.repeats):
                logits.grad = None
                fn().backward()
            times.append((time.perf_counter() - start) / a.repeats)
        print(f"| {rows} | {vocab} | {times[0] * 1e3:.0f} | {times[1] * 1e3:.0f} |", flush=True)
        del logits, emb


if __name__ == "__main__":
    main()
