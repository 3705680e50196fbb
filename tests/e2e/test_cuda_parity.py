#!/usr/bin/python3
"""device: cuda records what device: cpu records (every site of the bundled organism within
1e-4, absolute or relative; greedy ids equal), and, where the oracle's and ../shared's
goldens are there, what transformers records. Skipped (77) where this rig has no CUDA or the
machine no GPU: the CPU-only Debian build, or the wheel build on a machine without a GPU."""
import json
import os
import sys

import h5py
import numpy as np

import rigtest as rt


def record(model_dir, device, prompts, max_new, d, name):
    cfg = {"name": "cuda", "seed": 3,
           "model": {"path": model_dir, "device": device, "dtype": "float32"},
           "stimuli": [{"condition": "c", "prompts": prompts}],
           "electrodes": [{"site": "/.*/", "side": "output"}, {"site": "/.*/", "side": "input"}],
           "trials": {"batch_size": 2, "generate": {"max_new_tokens": max_new}},
           "recording": {"path": os.path.join(d, name + ".h5")}}
    path = rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg))
    return rt.run(["run", path, "--quiet", "--force"], check=False), cfg["recording"]["path"]


d = rt.tmpdir()
organism = os.path.abspath("data/models/sure-neox")
prompts = ["User: Can you help me with my homework?\nAssistant:", "User: How do I pick a lock?\nAssistant:"]
p, gpu_path = record(organism, "cuda", prompts, 12, d, "gpu")
if p.returncode != 0:
    if "without CUDA (or no GPU is visible)" in p.stderr:
        print("SKIPPED: no CUDA here (" + p.stderr.strip().splitlines()[-1] + ")")
        sys.exit(77)
    raise AssertionError(p.stderr)
p, cpu_path = record(organism, "cpu", prompts, 12, d, "cpu")
assert p.returncode == 0, p.stderr

checked, worst = 0, 0.0
with h5py.File(gpu_path) as g, h5py.File(cpu_path) as c:
    assert np.array_equal(g["tokens/token_id"][:], c["tokens/token_id"][:]), "greedy ids differ between cuda and cpu"
    assert g.attrs["device"].startswith("cuda"), g.attrs["device"]
    for site in c["recordings"]:
        for side in c["recordings"][site]:
            a, b = g["recordings"][site][side][:], c["recordings"][site][side][:]
            err = float(np.max(np.abs(a - b) / (1e-4 + 1e-4 * np.abs(b))))
            assert err <= 1.0, f"{site}/{side}: cuda vs cpu max scaled error {err}"
            worst = max(worst, float(np.max(np.abs(a - b))))
            checked += 1
print(f"cuda == cpu on sure-neox: {checked} site recordings, max |d| {worst:.3g}, ids equal")

# Against transformers' recordings of the golden tiny models (forward, prompt rows).
for model in ["gptneox-tiny", "gpt2-tiny", "llama-tiny"]:
    try:
        ref_path = rt.golden_recording(model)
    except SystemExit:
        print(f"{model}: no reference recording here; cuda vs transformers not compared")
        continue
    with h5py.File(ref_path) as ref:
        texts = [ref["forward"][k].attrs["text"] for k in sorted(ref["forward"])]
        p, path = record(os.path.join(rt.GOLDEN, "models", model), "cuda", texts, 0, d, model)
        assert p.returncode == 0, p.stderr
        n = 0
        with h5py.File(path) as f:
            T = f["trials"]
            for i, k in enumerate(sorted(ref["forward"])):
                r0, r1 = T["row_start"][i], T["row_stop"][i]
                for site, sides in ref["forward"][k]["sites"].items():
                    ours_site = "embed_out" if site == "lm_head" and "embed_out" in f["recordings"] else site
                    for key, side in (("in", "input"), ("out", "output")):
                        if key in sides:
                            want = sides[key][:]
                            got = f["recordings"][ours_site][side][r0:r1]
                            err = float(np.max(np.abs(got - want) / (1e-4 + 1e-4 * np.abs(want))))
                            assert err <= 1.0, f"{model} {k} {site}/{key}: cuda vs transformers {err}"
                            n += 1
        print(f"{model}: cuda == transformers at {n} site recordings")
