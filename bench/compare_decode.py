#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Decode-step latency of the adaptor beside PyTorch, interleaved in one process tree (make compare-decode).

Runs bench_moe's BM_adaptor_decode_step and bench/torch_decode.py alternately (A B A B ...,
--repeats times), then prints and writes a Markdown table: per case (B sequences of one token, E
experts, kept route or routed again) the median and minimum step time of each, beacon / PyTorch
(median), and beacon's roofline fraction (roofline.hpp; above 1 means the touched experts stay in
the last-level cache between steps).

    python3 bench/compare_decode.py [--bench build/bin/bench_moe] [--repeats 3] [--threads 2] [--out DIR]

PyTorch runs under /usr/bin/python3 (Debian's python3-torch; exits 77 when it is missing) with the
BLAS that Debian's alternatives select; OPENBLAS_CORETYPE in the environment reaches it unchanged.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def run_beacon(bench, threads, out):
    subprocess.run([bench, f"--benchmark_filter=BM_adaptor_decode_step/.*threads:{threads}/", "--benchmark_min_time=0.3",
                    f"--benchmark_out={out}", "--benchmark_out_format=json"], check=True, stdout=subprocess.DEVNULL)
    rows = {}
    for b in json.load(open(out))["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit(f"beacon case failed: {b['name']}: {b.get('error_message')}")
        args = dict(kv.split(":") for kv in b["name"].split("/")[1:] if ":" in kv)
        key = (int(args["B"]), int(args["E"]), int(args["route_again"]))
        scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[b["time_unit"]]
        rows[key] = (b["real_time"] * scale, b.get("roofline"), b.get("experts_touched"))
    return rows


def run_torch(threads, out):
    r = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "torch_decode.py"), "--threads", str(threads),
                        "--repeats", "1", "--json", out], stdout=subprocess.PIPE, text=True)
    if r.returncode == 77:
        print(r.stdout)
        sys.exit(77)
    r.check_returncode()
    data = json.load(open(out))
    return data["torch"], {(c["B"], c["E"], c["route_again"]): c["us_mean"] for c in data["cases"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", default="build/bin/bench_moe")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="build/compare")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    beacon, torch, roof, version = {}, {}, {}, ""
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeats):
            print(f"repetition {r + 1}/{a.repeats}: beacon ...", flush=True)
            for k, (us, rf, _) in run_beacon(a.bench, a.threads, os.path.join(tmp, "b.json")).items():
                beacon.setdefault(k, []).append(us)
                roof.setdefault(k, []).append(rf)
            print(f"repetition {r + 1}/{a.repeats}: pytorch ...", flush=True)
            version, cases = run_torch(a.threads, os.path.join(tmp, "t.json"))
            for k, us in cases.items():
                torch.setdefault(k, []).append(us)
    lines = [f"Decode step, {a.threads} threads, {a.repeats} interleaved repetitions (beacon, PyTorch {version}); "
             "d = 1024, F = 1408, SwiGLU experts, instance-anchor routing, top-1; times in µs",
             "", "| B | E | route | beacon median | beacon min | PyTorch median | PyTorch min | beacon / PyTorch | beacon roofline |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k in sorted(beacon):
        b, t = beacon[k], torch.get(k)
        if not t:
            continue
        route = "routed again" if k[2] else "kept"
        rf = statistics.median(x for x in roof[k] if x is not None)
        lines.append(f"| {k[0]} | {k[1]} | {route} | {statistics.median(b):.0f} | {min(b):.0f} | {statistics.median(t):.0f} | {min(t):.0f} | "
                     f"{statistics.median(b) / statistics.median(t):.2f} | {rf:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(a.out, "decode.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "decode.json"), "w") as f:
        json.dump({"threads": a.threads, "torch": version,
                   "cases": [{"B": k[0], "E": k[1], "route_again": k[2], "beacon_us": beacon[k], "torch_us": torch.get(k, [])} for k in sorted(beacon)]},
                  f, indent=1)
    print(f"wrote {a.out}/decode.md and {a.out}/decode.json")


if __name__ == "__main__":
    main()
