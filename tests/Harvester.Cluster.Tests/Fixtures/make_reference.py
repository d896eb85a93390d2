#!/usr/bin/python3
"""Writes reference.json: fixed data and scikit-learn's values for the metrics, k-means and PCA that
Harvester.Clustering reimplements. Run with Debian's python3-sklearn (and libopenblas0-pthread):
    /usr/bin/python3 tests/Harvester.Clustering.Tests/Fixtures/make_reference.py
"""
import json
import os

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import (adjusted_rand_score, davies_bouldin_score,
                             normalized_mutual_info_score, silhouette_score)
from sklearn.metrics.cluster import contingency_matrix

rng = np.random.default_rng(20240607)
d, per, blobs = 8, 80, 3
centres = rng.normal(0, 4, size=(blobs, d))
X = np.vstack([centres[b] + rng.normal(0, 1.8, size=(per, d)) for b in range(blobs)]).astype(np.float32)
truth = np.repeat(np.arange(blobs), per)

k = 4
init = X[[3, 97, 171, 230]].copy()
km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=300, tol=1e-4, algorithm="lloyd").fit(X)
pred = km.labels_


def purity(t, p):
    c = contingency_matrix(t, p)
    return float(c.max(axis=0).sum() / c.sum())


pairs = []
for seed, n, a, b in [(1, 50, 5, 4), (2, 120, 3, 7), (3, 30, 2, 2), (4, 64, 8, 8)]:
    r = np.random.default_rng(seed)
    t = r.integers(0, a, n)
    p = np.where(r.random(n) < 0.6, t % b, r.integers(0, b, n))
    pairs.append({"truth": t.tolist(), "pred": p.tolist(),
                  "ari": adjusted_rand_score(t, p), "nmi": normalized_mutual_info_score(t, p), "purity": purity(t, p)})
for t, p in [([0, 0, 1, 1], [1, 1, 0, 0]), ([0, 0, 0, 0], [0, 1, 2, 3]), ([0, 1, 2, 3], [0, 0, 0, 0]), ([0, 0, 1, 2], [0, 0, 1, 1])]:
    pairs.append({"truth": t, "pred": p, "ari": adjusted_rand_score(t, p),
                  "nmi": normalized_mutual_info_score(t, p), "purity": purity(np.array(t), np.array(p))})

pca = PCA(n_components=3, svd_solver="full").fit(X)

ref = {
    "sklearn": sklearn.__version__,
    "x": [[float(v) for v in row] for row in X],
    "truth": truth.tolist(),
    "kmeans": {
        "k": k, "init": [[float(v) for v in row] for row in init], "tol": 1e-4,
        "labels": pred.tolist(), "inertia": float(km.inertia_), "iterations": int(km.n_iter_),
        "centroids": km.cluster_centers_.astype(float).tolist(),
    },
    "silhouette_pred": float(silhouette_score(X, pred)),
    "silhouette_truth": float(silhouette_score(X, truth)),
    "davies_bouldin_pred": float(davies_bouldin_score(X, pred)),
    "davies_bouldin_truth": float(davies_bouldin_score(X, truth)),
    "ari": float(adjusted_rand_score(truth, pred)),
    "nmi": float(normalized_mutual_info_score(truth, pred)),
    "purity": purity(truth, pred),
    "pairs": pairs,
    "pca": {"explained_variance": pca.explained_variance_.tolist(),
            "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
            "components": pca.components_.tolist()},
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
with open(out, "w") as f:
    json.dump(ref, f)
print(f"wrote {out}: silhouette {ref['silhouette_pred']:.6f}, ARI {ref['ari']:.6f}, inertia {ref['kmeans']['inertia']:.4f}")
