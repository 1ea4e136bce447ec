#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch CPU reference for bench_moe's routing grid (BM_route_softmax_gate, BM_route_kv_anchor).

Same sizes and the same math, fp32, on torch.randn data (torch.manual_seed(42)):
    softmax gate:  logits = x @ W_g.T;  w, ids = topk(softmax(logits), k)
    KV anchor:     v = silu(e @ W_down.T) @ W_up.T  (r = H/4, d_k = H);  scores = v @ K.T;
                   w, ids = topk(softmax(scores), k)
T in {1024, 16384, 65536}, H in {1024, 4096}, E in {8, 64, 256}, k in {1, 2}. Each case runs
calls for at least --min-time seconds (at least one call, after one warm-up call) and prints the
mean per call, with GFLOP/s on the same FLOP model as bench_moe.cpp.

    /usr/bin/python3 bench/torch_routing.py [--threads N] [--min-time S] [--filter REGEX]

Needs torch (Debian: apt-get install python3-torch); exits 77 when it is missing.
"""
import argparse
import re
import sys

from peer_timing import timed

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch not available: {e}")
    sys.exit(77)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.2)
    ap.add_argument("--filter", default=".*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| case | T | H | E | k | ms/call | GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for t in (1024, 16384, 65536):
        for h in (1024, 4096):
            x = torch.randn(t, h)
            r = h // 4
            down, up = torch.randn(r, h), torch.randn(h, r)
            for e in (8, 64, 256):
                gate = torch.randn(e, h)
                keys = torch.randn(e, h)
                for k in (1, 2):
                    cases = {
                        "softmax_gate": (lambda: torch.topk(torch.softmax(x @ gate.T, dim=-1), k, dim=-1),
                                         2.0 * t * h * e),
                        "kv_anchor": (lambda: torch.topk(torch.softmax((F.silu(x @ down.T) @ up.T) @ keys.T, dim=-1), k, dim=-1),
                                      4.0 * t * h * r + 2.0 * t * h * e),
                    }
                    for name, (fn, flops) in cases.items():
                        label = f"{name}/T:{t}/H:{h}/E:{e}/k:{k}"
                        if not re.search(a.filter, label):
                            continue
                        with torch.no_grad():
                            sec = timed(fn, a.min_time)
                        print(f"| {name} | {t} | {h} | {e} | {k} | {sec * 1e3:.2f} | {flops / sec / 1e9:.1f} |", flush=True)


if __name__ == "__main__":
    main()
