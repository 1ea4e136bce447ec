# SPDX-License-Identifier: Apache-2.0
"""Reference k-means run for tests/reference/sklearn_crosscheck.cpp.

Writes the digits data set that python3-sklearn ships, an initialisation (its first k points and a
seeded k-means++ draw), and scikit-learn's Lloyd labels and inertia from that initialisation.
Exit code 77 means scikit-learn is not installed (the C++ test then reports itself skipped).
"""
import sys

try:
    import numpy as np
    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.datasets import load_digits
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"scikit-learn not available: {e}")
    sys.exit(77)

out = sys.argv[1]
x = load_digits().data.astype(np.float64)
k = 10
inits = {"first_k": x[:k].copy(), "kmeans_pp": kmeans_plusplus(x, k, random_state=0)[0]}
with open(out, "w") as f:
    f.write(f"{x.shape[0]} {x.shape[1]} {k} {len(inits)}\n")
    f.write(" ".join(repr(float(v)) for v in x.ravel()) + "\n")
    for name, init in inits.items():
        km = KMeans(n_clusters=k, init=init, n_init=1, algorithm="lloyd", tol=1e-4, max_iter=300).fit(x)
        f.write(name + "\n")
        f.write(" ".join(repr(float(v)) for v in init.ravel()) + "\n")
        f.write(" ".join(str(int(v)) for v in km.labels_) + "\n")
        f.write(f"{km.inertia_!r} {km.n_iter_}\n")
