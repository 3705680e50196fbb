#!/usr/bin/python3
"""A recording proves what produced it: root attributes hold the sha256 of the weights, of
config.json and of tokenizer.json (equal to hashlib's over the same files) and the versions of
LibTorch, HDF5 and the compiler. A checkpoint retrained at the same path (one weight changed)
cannot `--resume` into the old file, and `rig merge` refuses shards of two checkpoints; both
name what differs and leave the files as they were. A model linked from a Hugging Face cache's
blobs/ takes the sha256 from the blob's name (the hub's LFS digest) without reading it."""
import hashlib
import json
import os
import re
import shutil

import h5py

import rigtest as rt

d = rt.tmpdir()
model = os.path.join(d, "model")
shutil.copytree(rt.ORGANISM, model)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def config(name, path):
    cfg = {"name": "provenance", "seed": 5, "model": {"path": model},
           "stimuli": [{"condition": "a", "prompts": ["Hello, I am your", "The quick brown fox", "def f(x):"]}],
           "electrodes": [{"site": "gpt_neox.layers.1"}],
           "trials": {"generate": {"max_new_tokens": 3}}, "recording": {"path": path}}
    return rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg))


first = os.path.join(d, "first.h5")
rt.run(["run", config("first", first), "--quiet"])
with h5py.File(first) as f:
    a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
lines = f"{sha(os.path.join(model, 'model.safetensors'))}  model.safetensors\n"
assert a["weights_files_sha256"] == lines, a["weights_files_sha256"]
assert a["weights_sha256"] == hashlib.sha256(lines.encode()).hexdigest()
assert a["config_json_sha256"] == sha(os.path.join(model, "config.json"))
assert a["tokenizer_sha256"] == sha(os.path.join(model, "tokenizer.json"))
assert re.fullmatch(r"\d+\.\d+\.\d+.*", a["libtorch_version"]), a["libtorch_version"]
assert re.fullmatch(r"\d+\.\d+\.\d+", a["hdf5_version"]), a["hdf5_version"]
assert a["compiler"].startswith(("g++ ", "clang ")), a["compiler"]
print(f"provenance: weights {a['weights_sha256'][:12]}..., LibTorch {a['libtorch_version']}, "
      f"HDF5 {a['hdf5_version']}, {a['compiler']}")

# Shard 0 of 2 with these weights; then "retrain": one byte of the last tensor changes.
rt.run(["run", config("s", os.path.join(d, "s.h5")), "--quiet", "--shard", "0/2"])
st = os.path.join(model, "model.safetensors")
data = bytearray(open(st, "rb").read())
data[-1] ^= 0x01
open(st, "wb").write(bytes(data))
before = sha(first)
p = rt.run(["run", config("first", first), "--quiet", "--resume"], check=False)
assert p.returncode != 0, "resumed a recording of other weights"
assert "weights_sha256" in p.stderr and "different experiment" in p.stderr, p.stderr
assert sha(first) == before, "a refused resume changed the file"
print("resume refused:", [ln for ln in p.stderr.splitlines() if "weights_sha256" in ln][0].strip())

rt.run(["run", config("s", os.path.join(d, "s.h5")), "--quiet", "--shard", "1/2"])
shards = sorted(os.path.join(d, f) for f in os.listdir(d) if f.startswith("s.shard-"))
assert len(shards) == 2, shards
out = os.path.join(d, "merged.h5")
p = rt.run(["merge", out, *shards], check=False)
assert p.returncode != 0 and "provenance 'weights" in p.stderr, p.stderr
assert not os.path.exists(out)
print("merge refused:", p.stderr.strip().splitlines()[0][:160])

# A Hugging Face cache: the snapshot links to blobs/<sha256>; rig takes the digest from the name.
cache = os.path.join(d, "hub", "models--org--m")
os.makedirs(os.path.join(cache, "blobs"))
snap = os.path.join(cache, "snapshots", "c0ffee")
os.makedirs(snap)
for name in os.listdir(model):
    digest = sha(os.path.join(model, name))
    shutil.copy(os.path.join(model, name), os.path.join(cache, "blobs", digest))
    os.symlink(os.path.join("..", "..", "blobs", digest), os.path.join(snap, name))
fake = "f" * 64  # a blob named by a digest that its content does not have: the name is what rig reads
os.rename(os.path.join(cache, "blobs", sha(st)), os.path.join(cache, "blobs", fake))
os.remove(os.path.join(snap, "model.safetensors"))
os.symlink(os.path.join("..", "..", "blobs", fake), os.path.join(snap, "model.safetensors"))
model = snap
cached = os.path.join(d, "cached.h5")
rt.run(["run", config("cached", cached), "--quiet"])
with h5py.File(cached) as f:
    got = f.attrs["weights_files_sha256"]
    got = got.decode() if isinstance(got, bytes) else got
assert got == f"{fake}  model.safetensors\n", got
print("HF cache: the blob's name is the weights' digest")
