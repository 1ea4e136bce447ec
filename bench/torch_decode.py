#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch CPU peer of bench_moe's BM_adaptor_decode_step: one decode step of an MoE adaptor.

The same module as beacon's adaptor<float, instance_anchor_router<top_k<1>>, swiglu_expert>, written
the way a PyTorch user would: E SwiGLU experts (nn.Linear without bias, d = 1024, F = 1408), each
sequence routed by the cosine of its centred prompt embedding to per-expert anchors (top-1), and the
step's tokens dispatched with the usual loop over the experts that received tokens:

    for i in ids.unique(): rows = (ids == i).nonzero(); out[rows] = g * down(silu(gate(x)) * up(x))

Sequence b's prompt is expert (b mod E)'s anchor, so a step touches min(B, E) experts, as in
bench_moe. route_again = 0 keeps the prompts' route (computed once); 1 routes the prompts again
every step. B in {1, 64}, E in {8, 64}. Each case runs calls for at least --min-time seconds after
one warm-up call, under torch.inference_mode(), and prints the mean and the minimum of --repeats
such runs in microseconds.

    /usr/bin/python3 bench/torch_decode.py [--threads N] [--min-time S] [--repeats R] [--json FILE]

Needs torch (Debian: apt-get install python3-torch); exits 77 when it is missing.
"""
import argparse
import json
import sys

from peer_timing import timed

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"torch not available: {e}")
    sys.exit(77)


class swiglu(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate = nn.Linear(d, f, bias=False)
        self.up = nn.Linear(d, f, bias=False)
        self.down = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class anchor_moe(nn.Module):
    def __init__(self, d, f, anchors, threshold=0.5):
        super().__init__()
        self.experts = nn.ModuleList(swiglu(d, f) for _ in range(anchors.shape[0]))
        self.register_buffer("mean", anchors.mean(dim=0))
        self.register_buffer("unit", F.normalize(anchors - anchors.mean(dim=0), dim=1))
        self.threshold = threshold

    def route(self, e):
        cos = F.normalize(e - self.mean, dim=1) @ self.unit.T
        g, ids = cos.max(dim=1)
        ids = torch.where(g >= self.threshold, ids, torch.full_like(ids, -1))
        return torch.ones_like(g), ids  # top-1 over experts: gate 1 (softmax_all not used by anchors)

    def forward(self, x, route):
        gates, ids = route
        out = torch.zeros_like(x)
        for i in ids.unique().tolist():
            if i < 0:
                continue
            rows = (ids == i).nonzero(as_tuple=True)[0]
            out[rows] = gates[rows, None] * self.experts[i](x[rows])
        return out




def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=0.3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(42)
    d, f = 1024, 1408
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| case | B | E | route_again | us/step (mean of runs) | us/step (min) |")
    print("|---|---|---|---|---|---|")
    rows = []
    for e in (8, 64):
        anchors = torch.randn(e, d)
        m = anchor_moe(d, f, anchors).eval()
        for b in (1, 64):
            prompts = anchors[torch.arange(b) % e]
            x = torch.randn(b, d)
            with torch.inference_mode():
                kept = m.route(prompts)
                assert len(kept[1].unique()) == min(b, e), "routing must touch min(B, E) experts"
                for again in (0, 1):
                    fn = (lambda: m(x, m.route(prompts))) if again else (lambda: m(x, kept))
                    runs = [timed(fn, a.min_time) for _ in range(a.repeats)]
                    mean, best = sum(runs) / len(runs) * 1e6, min(runs) * 1e6
                    rows.append({"B": b, "E": e, "route_again": again, "us_mean": mean, "us_min": best})
                    print(f"| torch_decode | {b} | {e} | {again} | {mean:.0f} | {best:.0f} |", flush=True)
    if a.json:
        with open(a.json, "w") as out:
            json.dump({"torch": torch.__version__, "threads": a.threads, "cases": rows}, out, indent=1)


if __name__ == "__main__":
    main()
