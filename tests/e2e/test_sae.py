#!/usr/bin/python3
"""SAE electrodes and latent stimulation on the bundled organism and its SAE
(data/models/sure-neox-sae, `rig train-sae`):
- an electrode with `sae:` records [rows, d_sae + 1]: the latents (TopK: exactly k active per
  row) equal to numpy's encode of the raw activations (layer 3's input is layer 2's output),
  and the last column |x - decode(encode(x))|;
- the latents stored gzip-compressed stay small (bytes per row printed);
- `rig analyze` finds latents that separate help from refuse (|d'| > 3);
- clamping the refusal latent (configs/quickstart_sae_clamp.yaml's) at the last prompt row turns
  help replies into refusals, while a sham (scale by 1) changes nothing;
- bad SAE configs exit 2 before any file exists, naming the key or cfg.json's key."""
import json
import os
import shutil

import h5py
import numpy as np

import rigtest as rt

SAE = os.path.abspath("data/models/sure-neox-sae")
SITE = "gpt_neox.layers.2"
REFUSAL_LATENT = 117  # the latent of largest |d'| (help vs refuse) at the last prompt row, docs/FORMAT.md
d = rt.tmpdir()


def lines(path, n):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n").replace("\\n", "\n") for l in f if l.strip()][:n]


def load_sae(dirname):
    return (rt.read_safetensors(os.path.join(dirname, "sae_weights.safetensors")),
            json.load(open(os.path.join(dirname, "cfg.json"))))


def config(name, stimuli, electrodes, stimulation=None, analysis=None, compression="none"):
    cfg = {"name": name, "seed": 0, "model": {"path": rt.ORGANISM}, "stimuli": stimuli, "electrodes": electrodes,
           "trials": {"batch_size": 16, "generate": {"max_new_tokens": 8, "greedy": True}},
           "events": [{"name": "response_onset"}],
           "recording": {"path": os.path.join(d, name + ".h5"), "compression": compression}}
    if stimulation is not None:
        cfg["stimulation"] = stimulation
    if analysis is not None:
        cfg["analysis"] = analysis
    return rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg))


help_p = lines("experiments/quickstart/help.txt", 30)
refuse_p = lines("experiments/quickstart/refuse.txt", 30)
stimuli = [{"condition": "help", "prompts": help_p}, {"condition": "refuse", "prompts": refuse_p}]

# 1. Record: SAE latents of layer 2's output, and layer 3's input raw (the same tensor).
cfg = config("rec", stimuli, [{"site": SITE, "sae": SAE}, {"site": "gpt_neox.layers.3", "side": "input"}],
             analysis={"event": "response_onset", "pre": 2, "post": 2, "window": [-1, -1],
                       "contrast": ["help", "refuse"], "permutations": 0}, compression="gzip:4")
rt.run(["run", cfg, "--quiet"])
path = os.path.join(d, "rec.h5")
W, c = load_sae(SAE)
with h5py.File(path, "r") as f:
    n = int(f.attrs["n_rows_committed"])
    ds = f[f"recordings/{SITE}/output"]
    assert ds.shape[1] == c["d_sae"] + 1, ds.shape
    assert ds.attrs["sae"] == SAE and ds.attrs["sae_architecture"] == "topk", dict(ds.attrs)
    assert ds.attrs["site_width"] == c["d_sae"] + 1
    rec = ds[:n]
    x = f["recordings/gpt_neox.layers.3/input"][:n]
    assert int(f["electrodes/width"][0]) == c["d_sae"] + 1
    bytes_per_row = ds.id.get_storage_size() / n
lat, err = rec[:, :-1], rec[:, -1]
assert ((lat > 0).sum(1) == c["k"]).all(), "TopK: exactly k latents active per row"
pre = (x - W["b_dec"]) @ W["W_enc"] + W["b_enc"]
ref = np.zeros_like(pre)
top = np.argsort(-pre, axis=1)[:, :c["k"]]
np.put_along_axis(ref, top, np.maximum(np.take_along_axis(pre, top, 1), 0), 1)
assert rt.scaled_diff(lat, ref) <= 1, rt.scaled_diff(lat, ref)
ref_err = np.linalg.norm(x - (ref @ W["W_dec"] + W["b_dec"]), axis=1)
assert rt.scaled_diff(err, ref_err) <= 1, rt.scaled_diff(err, ref_err)
print(f"latents equal numpy's encode over {n} rows; {bytes_per_row:.1f} bytes per row stored "
      f"({c['d_sae'] + 1} float32 columns, {c['k']} active, gzip:4)")

# 2. rig analyze: latents that separate help from refuse.
rt.run(["analyze", path, "-o", os.path.join(d, "rec.analysis.h5")])
with open(os.path.join(d, "rec.analysis.selective.csv")) as f:
    header = f.readline().strip().split(",")
    rows = [r.strip().split(",") for r in f]
col = header.index("d_prime")
best = [(int(r[header.index("neuron")]), float(r[col])) for r in rows[:3]]
print("most selective latents (latent, d'):", best)
assert abs(best[0][1]) > 3, best
assert best[0][0] == REFUSAL_LATENT, best

# 3. Clamp the refusal latent at the last prompt row of help prompts: the replies refuse.
clamp = [{"name": "clamp", "site": SITE, "sae": SAE, "latents": [REFUSAL_LATENT], "op": "set", "value": 30,
          "positions": "response_onset-1"},
         {"name": "sham", "site": SITE, "sae": SAE, "latents": [REFUSAL_LATENT], "op": "scale", "factor": 1}]
hp = [{"condition": "help", "prompts": help_p, "stimulation": ["clamp"]},
      {"condition": "help_sham", "prompts": help_p, "stimulation": ["sham"]},
      {"condition": "help_none", "prompts": help_p}]
rt.run(["run", config("clamp", hp, [{"site": SITE, "sae": SAE}], stimulation=clamp), "--quiet"])
with h5py.File(os.path.join(d, "clamp.h5"), "r") as f:
    t = f["trials"]
    cond, resp = t["condition"].asstr()[:], t["response"].asstr()[:]
    a, b = t["row_start"][:], t["row_stop"][:]
    rec = f[f"recordings/{SITE}/output"][:]
refused = {k: np.mean([r.startswith(" I'm sorry") for r, c_ in zip(resp, cond) if c_ == k]) for k in set(cond)}
print("share of help replies refusing:", refused)
assert refused["help"] >= 0.9 and refused["help_none"] == 0 and refused["help_sham"] == 0, refused
sham = np.concatenate([rec[i:j] for i, j, c_ in zip(a, b, cond) if c_ == "help_sham"])
none = np.concatenate([rec[i:j] for i, j, c_ in zip(a, b, cond) if c_ == "help_none"])
# (within batching's float32 noise: sham and unstimulated trials fall in different batches)
assert rt.scaled_diff(sham, none) <= 1, rt.scaled_diff(sham, none)

# 4. Config errors: exit 2, nothing written.
def bad(name, electrodes, stimulation, expect):
    p = rt.run(["run", config(name, [{"condition": "a", "prompts": ["Hi"]}], electrodes, stimulation)], check=False)
    assert p.returncode == 2 and expect in p.stderr, (p.returncode, p.stderr)
    assert not os.path.exists(os.path.join(d, name + ".h5"))

bad("e1", [{"site": SITE, "sae": os.path.join(d, "nope")}], None, "electrodes.0.sae: expected a directory holding an SAE")
bad("e2", [{"site": SITE, "sae": SAE, "neurons": [1]}], None, "electrodes.0.neurons: does not apply with 'sae'")
bad("e3", [{"site": "gpt_neox.layers.2.mlp.act", "sae": SAE}], None, "cfg.json: d_in: expected 512")
bad("e4", [{"site": SITE, "sae": SAE}, {"site": SITE}], None, "an electrode records one of them per site and side")
bad("e5", [{"site": SITE}], [{"site": SITE, "sae": SAE, "latents": [256], "op": "set", "value": 1}],
    "stimulation.0.latents.0: expected a latent index in 0..255")
bad("e6", [{"site": SITE}], [{"site": SITE, "sae": SAE, "latents": [1], "op": "add", "vector": [1]}],
    "stimulation.0.op: expected set or scale with 'sae'")
shutil.rmtree(d)
print("ok")
