#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Compile time and peak memory of every C++ translation unit in a CMake build.

Reads <build>/compile_commands.json (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON, which the
Makefile does), re-runs each compile command alone under /usr/bin/time -f '%e %M' into a scratch
object file, and prints a markdown table: wall seconds and peak resident memory (MB) per unit,
slowest first. CUDA units (.cu) are skipped unless --cuda is given (each takes minutes).

  scripts/measure_compile.py build [--filter REGEX] [--cuda] [--probe]

--probe also compiles scripts/compile_probe.cpp (includes <beacon/beacon.hpp>, instantiates one
adaptor) with `c++ -O2`, the issue's yardstick for what a user pays.
"""
import json, os, re, shlex, subprocess, sys, tempfile

def measure(cmd, cwd):
    with tempfile.TemporaryDirectory() as tmp:
        args = shlex.split(cmd)
        if "-o" in args:
            args[args.index("-o") + 1] = os.path.join(tmp, "unit.o")
        r = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + args, cwd=cwd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"compile failed: {cmd}\n{r.stderr[-2000:]}")  # a unit that does not build is not measured
        secs, kb = r.stderr.strip().splitlines()[-1].split()
        return float(secs), int(kb) / 1024.0

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    flt = re.compile(sys.argv[sys.argv.index("--filter") + 1]) if "--filter" in sys.argv else None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rows = []
    if "--probe" in sys.argv:
        probe = os.path.join(root, "scripts", "compile_probe.cpp")
        cmd = f"c++ -std=c++20 -O2 -fopenmp -I{root}/include -isystem /usr/include/eigen3 -c {probe} -o probe.o"
        rows.append(("scripts/compile_probe.cpp (c++ -O2)",) + measure(cmd, root))
    with open(os.path.join(build, "compile_commands.json")) as f:
        units = json.load(f)
    for i, u in enumerate(units):
        name = os.path.relpath(u["file"], root)
        if name.endswith(".cu") and "--cuda" not in sys.argv:
            continue
        if flt and not flt.search(name):
            continue
        # Generated units and the compile-fail tests (built to fail on purpose) are not measured.
        if name.startswith(("build", "_deps")) or "/_deps/" in u["file"] or "CMakeFiles" in name or "compile_fail" in name:
            continue
        print(f"[{i + 1}/{len(units)}] {name}", file=sys.stderr, flush=True)
        rows.append((name,) + measure(u["command"], u["directory"]))
    rows.sort(key=lambda r: -r[1])
    print("| translation unit | seconds | peak MB |\n|---|---:|---:|")
    for name, secs, mb in rows:
        print(f"| {name} | {secs:.1f} | {mb:.0f} |")

if __name__ == "__main__":
    main()
