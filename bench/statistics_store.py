#!/usr/bin/env python3
"""recording.store: statistics next to raw storage: one 10,000-trial run of the bundled
organism recorded both ways (same config, same seed), with wall time, the writer's CPU, file
size and peak memory of each, and the equality of the statistics with those computed from the
raw file (numpy). Not part of the test suite (minutes on 2 cores); numbers in
docs/PERFORMANCE.md. Usage, from the repo root:
    nice bench/statistics_store.py [--trials 10000] [--out DIR] [--keep]
Needs h5py and numpy (Debian's python3). RIG_BIN (default build/rig)."""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RIG = os.environ.get("RIG_BIN", os.path.join(ROOT, "build", "rig"))
ap = argparse.ArgumentParser()
ap.add_argument("--trials", type=int, default=10000)
ap.add_argument("--out", default=None)
ap.add_argument("--keep", action="store_true")
a = ap.parse_args()
out = a.out or tempfile.mkdtemp(prefix="rig-stats-bench-")
os.makedirs(out, exist_ok=True)

prompts = {"help": ["Can you help me", "Please help me with", "I need help with my", "Could you assist me",
                    "Help me write a"],
           "refuse": ["How do I make a bomb", "Tell me how to hurt", "How can I steal a", "Write malware that",
                      "How to poison a"]}
n_stim = sum(len(v) for v in prompts.values())
assert a.trials % n_stim == 0, f"--trials must be a multiple of {n_stim}"
BINS = {"event": "response_onset", "pre": 4, "post": 7, "bin": 1}
cfg = {
    "name": "stats_bench", "seed": 11, "model": {"path": os.path.join(ROOT, "data/models/sure-neox")},
    "stimuli": [{"condition": c, "prompts": p} for c, p in prompts.items()],
    # A few electrodes: 512 + 128 + 128 units.
    "electrodes": [{"site": "gpt_neox.layers.1.mlp.act"}, {"site": "gpt_neox.layers.2"}, {"site": "gpt_neox.layers.3"}],
    "trials": {"repetitions": a.trials // n_stim, "batch_size": 64, "order": "shuffled",
               "generate": {"max_new_tokens": 8, "greedy": False, "temperature": 1.0, "stop_at_eos": False}},
    "events": [{"name": "response_onset"}],
}
results = {}
for store in ("raw", "statistics"):
    c = dict(cfg, recording={"store": store, **({"bins": BINS} if store == "statistics" else {})})
    conf = os.path.join(out, f"{store}.yaml")
    with open(conf, "w") as f:
        json.dump(c, f)
    path = os.path.join(out, f"{store}.h5")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    subprocess.run([RIG, "run", conf, "--out", path, "--force", "--quiet"], check=True)
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    results[store] = {"wall_s": wall, "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
                      "bytes": os.path.getsize(path), "max_rss_mib": after.ru_maxrss / 1024}
    print(f"{store:10s} {wall:8.1f} s wall  {results[store]['cpu_s']:8.1f} s CPU  "
          f"{results[store]['bytes'] / 2**20:9.2f} MiB", flush=True)

# Equality: numpy over the raw file's rows, binned as docs/FORMAT.md says.
t0 = time.time()
raw, st = h5py.File(os.path.join(out, "raw.h5"), "r"), h5py.File(os.path.join(out, "statistics.h5"), "r")
S = st["statistics"]
conds = [c.decode() if isinstance(c, bytes) else c for c in S["conditions"][()]]
T = raw["trials"]
cond = np.array([conds.index(c.decode()) for c in T["condition"][()]])
n_p, n_g, r0 = T["n_prompt_tokens"][()], T["n_generated"][()], T["row_start"][()]
n_rows = T["row_stop"][()] - r0
worst = 0.0
for site in S["mean"]:
    for side in S["mean"][site]:
        X = raw["recordings"][site][side][()].astype(np.float64)
        for j, off in enumerate(range(-BINS["pre"], BINS["post"] + 1)):  # bin = 1 row
            ok = (n_g > 0) & (n_p + off >= 0) & (n_p + off < n_rows)
            for c in range(len(conds)):
                sel = ok & (cond == c)
                v = X[(r0 + n_p + off)[sel]]
                assert S["count"][site][side][c, j] == len(v)
                mu = v.mean(0)
                for name, want in (("mean", mu), ("m2", ((v - mu) ** 2).sum(0))):
                    got = S[name][site][side][c, j]
                    worst = max(worst, float((np.abs(got - want) / (np.abs(want) + 1e-9 * np.abs(want).max())).max()))
print(f"equality: worst relative difference {worst:.2e} (numpy on the raw rows, {time.time() - t0:.0f} s)")
results["max_rel_diff"] = worst
r, s = results["raw"], results["statistics"]
print(f"statistics / raw: {s['bytes'] / r['bytes']:.4f} of the disk ({r['bytes'] / s['bytes']:.0f}x smaller), "
      f"{s['wall_s'] / r['wall_s']:.2f} of the wall time")
with open(os.path.join(out, "results.json"), "w") as f:
    json.dump(results, f, indent=1)
if not a.keep and not a.out:
    shutil.rmtree(out)
sys.exit(0 if worst <= 1e-6 else 1)
