#!/usr/bin/python3
"""Results do not depend on batch size or order, and the same seed gives the same file:
batch size 1 vs 7 within 1e-5 absolute or relative (sampled generation with per-trial seeds), sequential vs
shuffled presentation, and two identical runs bit for bit."""
import json
import os

import h5py
import numpy as np

import rigtest as rt

mdir = rt.ORGANISM
d = rt.tmpdir()
prompts = ["Hello, I am your", "Sure, I can help you with that.", "I'm sorry, but I can't help with that.",
           "User: Can you help me with my homework?\nAssistant:", "a", "The quick brown fox jumps over the lazy dog",
           "def forward_hook(module, input, output):", "1 2 3 4 5 6 7 8 9 10 11 12"]


def run(name, **trials):
    cfg = {
        "name": "invariance", "seed": 1234, "model": {"path": mdir},
        "stimuli": [{"condition": "a", "prompts": prompts[:5]}, {"condition": "b", "prompts": prompts[5:]}],
        "electrodes": [{"site": "gpt_neox.layers.*"}, {"site": "gpt_neox.layers.1.mlp.act", "neurons": [0, 3, "10:20"]},
                       {"site": "embed_out"}],
        "trials": dict({"repetitions": 3, "generate": {"max_new_tokens": 6, "greedy": False, "temperature": 0.9,
                                                      "top_k": 50, "top_p": 0.95}}, **trials),
        "events": [{"name": "response_onset"}],
        "recording": {"path": os.path.join(d, name + ".h5")},
    }
    rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg))
    rt.run(["run", os.path.join(d, name + ".yaml"), "--quiet"])
    return h5py.File(os.path.join(d, name + ".h5"))


def by_trial(f):
    """Per trial (stimulus, repetition): (token ids, {recording: rows})."""
    T = f["trials"]
    out = {}
    for k in range(len(T["index"])):
        r0, r1 = T["row_start"][k], T["row_stop"][k]
        rec = {f"{s}/{side}": f["recordings"][s][side][r0:r1] for s in f["recordings"] for side in f["recordings"][s]}
        out[(int(T["stimulus"][k]), int(T["repetition"][k]))] = (f["tokens/token_id"][r0:r1], rec)
    return out


b1 = run("b1", batch_size=1)
b7 = run("b7", batch_size=7)
t1, t7 = by_trial(b1), by_trial(b7)
assert t1.keys() == t7.keys()
worst = 0.0
for k in t1:
    assert np.array_equal(t1[k][0], t7[k][0]), f"trial {k}: tokens differ between batch size 1 and 7"
    for name, x in t1[k][1].items():
        worst = max(worst, rt.scaled_diff(x, t7[k][1][name]))
assert worst <= 1, f"batch size 1 vs 7: max |diff| / (1e-5 + 1e-5 |x|) = {worst}"
print(f"batch size 1 vs 7: {len(t1)} trials, same tokens, max |diff| / (1e-5 + 1e-5 |x|) {worst:.3f}")

# Sampling really happened (otherwise the seed checks below prove little).
responses = set(b1["trials/response"][:])
assert len(responses) > len(prompts), "sampled responses should vary across repetitions"

again = run("again", batch_size=7)
d1, d2 = rt.datasets(b7), rt.datasets(again)
assert d1.keys() == d2.keys()
for k in d1:
    assert np.array_equal(d1[k], d2[k]), f"same seed twice: {k} differs"
print(f"same seed twice: {len(d1)} datasets identical")

# Shuffled presentation: the same trial (stimulus, repetition) gives the same data.
sh = run("shuffled", batch_size=4, order="shuffled")
ts = {}
T = sh["trials"]
for k in range(len(T["index"])):
    r0, r1 = T["row_start"][k], T["row_stop"][k]
    ts[(int(T["stimulus"][k]), int(T["repetition"][k]))] = (sh["tokens/token_id"][r0:r1],
                                                          sh["recordings/gpt_neox.layers.2/output"][r0:r1])
assert list(T["index"][:]) == list(range(len(ts)))
seq_T = b1["trials"]
moved = 0
for k in range(len(seq_T["index"])):
    key = (int(seq_T["stimulus"][k]), int(seq_T["repetition"][k]))
    r0, r1 = seq_T["row_start"][k], seq_T["row_stop"][k]
    assert np.array_equal(ts[key][0], b1["tokens/token_id"][r0:r1]), f"shuffled: trial {key} tokens differ"
    assert rt.scaled_diff(ts[key][1], b1["recordings/gpt_neox.layers.2/output"][r0:r1]) <= 1
    moved += int(seq_T["stimulus"][k]) != int(T["stimulus"][k])
assert moved > 0, "shuffled order should differ from sequential"
print(f"shuffled vs sequential: {len(ts)} trials equal")
