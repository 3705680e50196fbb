#!/usr/bin/python3
"""rig run with a `stimulation:` section: a sham stimulation leaves the recording bit-identical;
a steering vector computed from a first recording (mean of condition a minus b) shows up in a
second recording exactly where it was applied, with the trial table's `stimulation` column;
bad stimulation configs exit 2 before any file exists."""
import json
import os

import h5py
import numpy as np

import rigtest as rt

mdir = rt.ORGANISM
d = rt.tmpdir()
prompts = ["Hello, I am your", "Sure, I can help you with that.", "User: Can you help me?\nAssistant:"]
L1 = "gpt_neox.layers.1"


def config(name, stimuli, stimulation=None, batch_size=2, max_new=5):
    cfg = {
        "name": name, "seed": 7, "model": {"path": mdir}, "stimuli": stimuli,
        "electrodes": [{"site": "gpt_neox.layers.*"}, {"site": "gpt_neox.layers.2.mlp.act", "neurons": "0:16"},
                       {"site": "embed_out"}],
        "trials": {"batch_size": batch_size, "generate": {"max_new_tokens": max_new}},
        "events": [{"name": "response_onset"}],
        "recording": {"path": os.path.join(d, name + ".h5")},
    }
    if stimulation is not None:
        cfg["stimulation"] = stimulation
    return rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg))


def record(name, *args, **kw):
    rt.run(["run", config(name, *args, **kw), "--quiet"])
    return h5py.File(os.path.join(d, name + ".h5"))


def strs(a):
    return [x.decode() if isinstance(x, bytes) else x for x in a]


# 1. Sham: a zero vector added and a scale by 1, given to every trial (unnamed entries), leave
#    every recording and every token bit-identical to no stimulation.
plain = record("plain", [{"condition": "c", "prompts": prompts}])
sham = record("sham", [{"condition": "c", "prompts": prompts}], [
    {"site": L1, "op": "add", "vector": [0.0] * 128},
    {"site": "gpt_neox.layers.2.mlp", "op": "scale", "factor": 1},
    {"site": "gpt_neox.layers.0.mlp.act", "neurons": [1, "5:9"], "op": "add", "vector": [0, 0, 0, 0, 0], "scale": 5},
])
a, b = rt.datasets(plain), rt.datasets(sham)
compared = 0
for k, v in a.items():
    if k.startswith("recordings/") or k.startswith("tokens/"):
        assert v.dtype == b[k].dtype and v.shape == b[k].shape, k
        same = list(v) == list(b[k]) if v.dtype == object else v.tobytes() == b[k].tobytes()
        assert same, f"sham changed {k}"
        compared += 1
assert compared >= 8
assert strs(sham["trials/stimulation"][:]) == ["stimulation.0+stimulation.1+stimulation.2"] * 3
assert strs(plain["trials/stimulation"][:]) == [""] * 3
print(f"sham: {compared} datasets bit-identical to no stimulation")

# 2. The closed loop: record a and b, take mean(a) - mean(b) of layers.1 over the response rows,
#    add it (x3) at the response rows of a 'steered' condition; 'none' gets the same prompts.
base = record("base", [{"condition": "a", "prompts": ["Sure, I can help", "Yes, of course"]},
                       {"condition": "b", "prompts": ["No, I cannot", "I refuse to do"]}])
T = base["trials"]
x = base["recordings"][L1]["output"]
means = {}
for c in ("a", "b"):
    per_trial = [x[T["row_start"][k] + T["n_prompt_tokens"][k]:T["row_stop"][k]].astype(np.float64).mean(0)
                 for k in range(len(T["index"])) if strs([T["condition"][k]])[0] == c]
    means[c] = np.mean(per_trial, 0)
v = 3.0 * (means["a"] - means["b"])

stim = record("steered", [{"condition": "none", "prompts": prompts},
                          {"condition": "steered", "prompts": prompts, "stimulation": ["steer"]}],
              [{"name": "steer", "site": L1, "op": "add", "positions": "response", "scale": 3,
                "vector": {"recording": os.path.join(d, "base.h5"), "conditions": ["a", "b"], "rows": "response"}}],
              batch_size=6)
T = stim["trials"]
assert strs(T["stimulation"][:]) == [""] * 3 + ["steer"] * 3, strs(T["stimulation"][:])
assert strs(T["condition"][:]) == ["none"] * 3 + ["steered"] * 3
x = stim["recordings"][L1]["output"]
changed = 0
for k in range(3):
    n0, n1 = T["row_start"][k], T["row_start"][k + 3]
    p = int(T["n_prompt_tokens"][k])
    # Prompt rows: untouched (same prompt, same batch).
    assert np.max(np.abs(x[n0:n0 + p] - x[n1:n1 + p])) <= 1e-5
    # First response row: same token, so the difference is exactly the vector.
    assert stim["tokens/token_id"][n0 + p] == stim["tokens/token_id"][n1 + p]
    assert np.max(np.abs((x[n1 + p] - x[n0 + p]) - v)) <= 1e-4, np.max(np.abs((x[n1 + p] - x[n0 + p]) - v))
    changed += int(strs([T["response"][k]]) != strs([T["response"][k + 3]]))
print(f"steering: vector |v| = {np.linalg.norm(v):.2f} added at the response rows; {changed} of 3 responses changed")

# The dry-run plan lists the stimulation.
p = rt.run(["run", os.path.join(d, "steered.yaml"), "--dry-run"])
assert "steer: add gpt_neox.layers.1 output" in p.stdout and "3 trials get steer" in p.stdout, p.stdout

# 3. Bad stimulation configs: exit 2, a message naming the key, and no file.
bad = {
    "width": ([{"name": "s", "site": L1, "op": "add", "vector": [1.0, 2.0]}],
              "stimulation.0.vector: expected a vector of 128 values"),
    "neuron": ([{"name": "s", "site": "gpt_neox.layers.0.mlp.act", "neurons": [600], "op": "set", "value": 0}],
               "stimulation.0.neurons: expected neuron indices below 512"),
    "patch_source": ([{"name": "s", "site": L1, "op": "patch", "source": {"condition": "clean"}}],
                     "stimulation.0.source.condition: expected the condition of a patch source"),
    "unknown_name": ([{"name": "t", "site": L1, "op": "scale", "factor": 2}],
                     "stimuli.1.stimulation: expected the name of a stimulation: entry"),
    "recording": ([{"name": "s", "site": L1, "op": "add",
                    "vector": {"recording": os.path.join(d, "base.h5"), "conditions": ["a", "zzz"]}}],
                  "expected trials of condition 'zzz'"),
}
for name, (stimulation, message) in bad.items():
    path = config("bad_" + name, [{"condition": "none", "prompts": prompts[:1]},
                                  {"condition": "steered", "prompts": prompts[:1], "stimulation": ["s"]}], stimulation)
    r = rt.run(["run", path, "--quiet"], check=False)
    assert r.returncode == 2, (name, r.returncode, r.stderr)
    assert message in r.stderr, (name, r.stderr)
    assert "bad_" + name + ".yaml:" in r.stderr, (name, r.stderr)
    assert not os.path.exists(os.path.join(d, "bad_" + name + ".h5")), name
print(f"bad configs: {len(bad)} exit 2 with no file")
