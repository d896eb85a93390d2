"""Runs scikit-learn's GroupKFold over an export's manifest.csv with its `group` column, as a grouped cross-validation
would, and prints per fold the places and SHA-256s on each side, so a test can check that no place and no near-copy
pair is split between training and held-out folds."""
import csv
import json
import sys

import numpy as np
from sklearn.model_selection import GroupKFold

with open(sys.argv[1], newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
groups = np.array([int(r["group"]) for r in rows])
labels = np.array([int(r["label_index"]) for r in rows])
folds = min(int(sys.argv[2]), len(set(groups)))
result = []
for train, test in GroupKFold(n_splits=folds).split(np.zeros((len(rows), 1)), labels, groups):
    result.append({
        "train": {"places": sorted({rows[i]["place"] for i in train}), "sha256": [rows[i]["sha256"] for i in train], "groups": sorted({int(groups[i]) for i in train})},
        "test": {"places": sorted({rows[i]["place"] for i in test}), "sha256": [rows[i]["sha256"] for i in test], "groups": sorted({int(groups[i]) for i in test})},
    })
json.dump({"folds": folds, "rows": len(rows), "result": result}, sys.stdout, ensure_ascii=False)
