#!/usr/bin/python3
"""scikit-learn peer for bench/Harvester.Bench.Clustering: Lloyd k-means on the same float32 vectors from the same
initial centroids. Usage: sklearn_kmeans.py <vectors.f32> <init.f32> <n> <d> <k> <iterations>
Prints one JSON line: seconds, inertia, iterations, peak RSS, and the BLAS numpy runs on (threadpoolctl's view: the
reference BLAS makes this peer several times slower, so the bench must know which one it measured)."""
import json
import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_info

path, init_path, n, d, k, iters = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:7])
X = np.fromfile(path, dtype=np.float32).reshape(n, d)
init = np.fromfile(init_path, dtype=np.float32).reshape(k, d)
start = time.perf_counter()
km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(X)
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
with open("/proc/self/status") as status:
    hwm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
blas = next((f"{i['internal_api']} {i.get('version') or ''}".strip() for i in threadpool_info() if i.get("user_api") == "blas"),
            "reference BLAS (no optimised BLAS loaded)")
print(json.dumps({"seconds": seconds, "inertia": float(km.inertia_), "iterations": int(km.n_iter_), "peak_rss_mb": hwm_kb / 1024,
                  "blas": blas}))
