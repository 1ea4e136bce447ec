# SPDX-License-Identifier: Apache-2.0
"""scikit-learn Lloyd iteration time on bench_plan's sizes, for a side-by-side number.

Usage: /usr/bin/python3 bench/sklearn_kmeans.py   (needs Debian's python3-sklearn)
Prints, per (n, d, k): seconds per Lloyd iteration (fit time / n_iter_ over 10 iterations from the
first k points, tol = 0) and n*k*d per second, the FAISS-convention throughput bench_plan reports.
"""
import sys
import time

try:
    import numpy as np
    from sklearn.cluster import KMeans
    import threadpoolctl
except ImportError as e:
    print(f"SKIPPED: scikit-learn not available ({e})")
    sys.exit(0)

rng = np.random.default_rng(1)
for n, d, k in [(65536, 64, 64), (100000, 128, 256)]:
    x = rng.standard_normal((n, d), dtype=np.float32)
    best = float("inf")
    for _ in range(3):
        km = KMeans(n_clusters=k, init=x[:k].copy(), n_init=1, max_iter=10, tol=0.0, algorithm="lloyd")
        t0 = time.perf_counter()
        km.fit(x)
        dt = (time.perf_counter() - t0) / km.n_iter_
        best = min(best, dt)
    info = threadpoolctl.threadpool_info()
    threads = max((i.get("num_threads", 1) for i in info), default=1)
    print(f"sklearn {KMeans.__module__.split('.')[0]} n={n} d={d} k={k}: {best * 1e3:.2f} ms/iteration, "
          f"{n * k * d / best / 1e9:.2f} G nkd/s (best of 3, {threads} threads)")
