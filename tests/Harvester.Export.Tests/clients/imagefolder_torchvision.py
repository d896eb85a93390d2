"""Loads every ImageFolder split of a Harvester export with torchvision, twice: with the loader docs/export.md shows
(its code is passed in as a module file), and with plain datasets.ImageFolder. Decodes every sample. Prints JSON per
split: the loader's classes and samples (relative path, target, decoded size), and what plain ImageFolder made of the
split: its class_to_idx, or the error it raised."""
import importlib.util
import json
import os
import sys

from torchvision import datasets

root, loader_file = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("export_loader", loader_file)
loader = importlib.util.module_from_spec(spec)
spec.loader.exec_module(loader)

splits = [s for s in json.load(open(os.path.join(root, "export.json"), encoding="utf-8"))["parameters"]["splits"]]
result = {}
for split in splits:
    folder = os.path.join(root, split)
    entry = {}
    try:
        ds = loader.ExportImageFolder(folder)
        samples = []
        for i, (path, target) in enumerate(ds.samples):
            image, t = ds[i]
            samples.append({"path": os.path.relpath(path, root), "target": t, "width": image.size[0], "height": image.size[1]})
        entry["classes"] = ds.classes
        entry["samples"] = samples
    except Exception as e:  # reported, not hidden: the test fails on it
        entry["loaderError"] = f"{type(e).__name__}: {e}"
    try:
        entry["plain"] = {"class_to_idx": datasets.ImageFolder(folder).class_to_idx}
    except Exception as e:
        entry["plain"] = {"error": f"{type(e).__name__}: {e}"}
    result[split] = entry
json.dump(result, sys.stdout, ensure_ascii=False)
