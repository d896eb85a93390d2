"""Reads every WebDataset shard of a Harvester export with Python's tarfile, as webdataset's tar reader does: members
in order, grouped into samples by key (the file name up to its first dot). Prints JSON per shard: each sample's key,
member suffixes, the SHA-256 of its image member, its .json member parsed and its .cls member as text."""
import hashlib
import json
import os
import sys
import tarfile

root = sys.argv[1]
folder = os.path.join(root, "webdataset")
shards = {}
for name in sorted(os.listdir(folder)):
    samples = []
    with tarfile.open(os.path.join(folder, name), "r:") as tar:
        for member in tar:
            if not member.isfile():
                raise SystemExit(f"{name}: {member.name} is not a regular file")
            key, _, suffix = os.path.basename(member.name).partition(".")
            data = tar.extractfile(member).read()
            if not samples or samples[-1]["key"] != key:
                samples.append({"key": key, "suffixes": [], "members": []})
            sample = samples[-1]
            sample["suffixes"].append(suffix)
            sample["members"].append({"name": member.name, "mode": member.mode, "uid": member.uid, "size": member.size})
            if suffix == "json":
                sample["json"] = json.loads(data.decode("utf-8"))
            elif suffix == "cls":
                sample["cls"] = data.decode("ascii")
            else:
                sample["imageSha256"] = hashlib.sha256(data).hexdigest()
    shards[name] = samples
json.dump(shards, sys.stdout, ensure_ascii=False)
