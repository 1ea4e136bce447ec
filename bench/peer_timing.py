# SPDX-License-Identifier: Apache-2.0
"""Timing shared by the Python peer benchmarks (bench/torch_*.py)."""
import time


def timed(fn, min_time):
    """Mean seconds per call of fn over calls lasting at least min_time, after one warm-up call
    (allocations, thread pool)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls
