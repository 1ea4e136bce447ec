#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Markdown tables from a Google Benchmark JSON file written by a bench_<module> binary.

    build/bin/bench_core --benchmark_repetitions=5 --benchmark_display_aggregates_only=true \
        --benchmark_out=core.json --benchmark_out_format=json
    python3 bench/summarize.py core.json [more.json ...] [--filter REGEX]

Uses the per-repetition rows (run_type "iteration"), so the file must not be written with
--benchmark_report_aggregates_only. Per case: median and min wall time over repetitions, the
median model bandwidth (GB/s, 1e9) and FLOP rate (GFLOP/s), and the roofline counters of
roofline.hpp (bw_frac, flop_frac, roofline) at the median, plus roofline at the fastest repetition.
The probe's peaks (JSON "context") head the output; with several files (e.g. one per
--benchmark_filter chunk) the cases are concatenated and each distinct context value is listed.
"""
import argparse
import collections
import json
import re
import statistics
import sys


def fmt_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def to_ns(value, unit):
    return value * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def opt(x, f):
    return f.format(x) if x is not None else "–"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json", nargs="+")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    files = [json.load(open(f)) for f in args.json]
    ctx = collections.OrderedDict()
    for data in files:
        for key, value in data.get("context", {}).items():
            if key in ("date", "host_name", "num_cpus", "mhz_per_cpu", "library_build_type") or key.startswith("beacon_"):
                ctx.setdefault(key, [])
                if value not in ctx[key]:
                    ctx[key].append(value)
    for key, values in ctx.items():
        shown = values if key != "date" or len(values) <= 2 else [min(values), max(values)]
        print(f"- {key}: {' … '.join(map(str, shown)) if key == 'date' else ' / '.join(map(str, shown))}")
    print()
    runs = collections.OrderedDict()
    for b in (b for data in files for b in data["benchmarks"]):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"])
        if args.filter and not re.search(args.filter, name):
            continue
        runs.setdefault(name, []).append(b)
    print("| case | label | reps | median | min | GB/s | GFLOP/s | bw_frac | flop_frac | roofline (median) | roofline (best) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, reps in runs.items():
        times = [to_ns(r["real_time"], r.get("time_unit", "ns")) for r in reps]

        def med(key):
            vals = [r[key] for r in reps if key in r]
            return statistics.median(vals) if vals else None

        bw = med("bytes_per_second")
        fl = med("flops")
        roof = [r["roofline"] for r in reps if "roofline" in r]
        short = name.replace("/real_time", "")
        print(
            f"| `{short}` | {reps[0].get('label', '')} | {len(reps)} | {fmt_time(statistics.median(times))} | "
            f"{fmt_time(min(times))} | {opt(bw and bw / 1e9, '{:.2f}')} | {opt(fl and fl / 1e9, '{:.2f}')} | "
            f"{opt(med('bw_frac'), '{:.3f}')} | {opt(med('flop_frac'), '{:.3f}')} | "
            f"{opt(statistics.median(roof) if roof else None, '{:.3f}')} | {opt(max(roof) if roof else None, '{:.3f}')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
