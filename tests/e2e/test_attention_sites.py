#!/usr/bin/python3
"""Sites inside attention on the bundled organism, read back with h5py as a user would:
P.pattern's rows are probabilities over the row's own and earlier tokens of its trial (each
head's row sums to 1 there, zero beyond), whatever the batch's left padding and through
generation with the KV cache; P.z's heads times W_O plus the bias equal the attention module's
output; zeroing one head's z (stimulation) changes the module's output by exactly that head's
recorded P.result; and a pattern row set to attend only to the first token makes that head's z
row equal the first token's v row."""
import json
import os
import shutil

import h5py
import numpy as np

import rigtest as rt

d = rt.tmpdir()
A = "gpt_neox.layers.1.attention"
H, Dh, D, K = 4, 32, 128, 256  # the organism: 4 heads of 32, hidden 128, 256 positions
prompts = ["Hello, I am your", "Sure", "User: Can you help me with my homework?\nAssistant:"]


def run(name, stimulation=None, electrodes=None):
    cfg = {"name": name, "seed": 3, "model": {"path": rt.ORGANISM},
           "stimuli": [{"condition": "plain", "prompts": prompts}],
           "electrodes": electrodes or [{"site": f"{A}.pattern"}, {"site": f"{A}.z"}, {"site": f"{A}.result"},
                                        {"site": f"{A}.v"}, {"site": A}, {"site": f"{A}.dense", "side": "input"}],
           "trials": {"batch_size": 3, "generate": {"max_new_tokens": 4}},
           "recording": {"path": os.path.join(d, name + ".h5")}}
    if stimulation:
        cfg["stimulation"] = stimulation
        cfg["stimuli"][0]["stimulation"] = [s["name"] for s in stimulation][:1]
    rt.run(["run", rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg)), "--quiet"])
    return h5py.File(os.path.join(d, name + ".h5"), "r")


# rig inspect --sites lists the attention sites with their shapes
out = rt.run(["inspect", "--model", rt.ORGANISM, "--sites"]).stdout
line = [x for x in out.splitlines() if x.startswith(f"{A}.pattern ")]
assert line and f"{H * K}" in line[0] and f"({H} heads x {K} key)" in line[0], out[-2000:]
assert f"{A}.q_rot " in out and f"{A}.result " in out

f = run("plain")
T = f["trials"]
pat = f[f"recordings/{A}.pattern/output"]
assert pat.shape[1] == H * K, pat.shape
assert pat.attrs["heads"] == H and pat.attrs["head_axis"] in ("key", b"key"), dict(pat.attrs)
for i in range(len(T["row_start"])):
    r0, r1 = int(T["row_start"][i]), int(T["row_stop"][i])
    assert r1 - r0 == int(T["n_prompt_tokens"][i]) + int(T["n_generated"][i])
    p = pat[r0:r1].reshape(r1 - r0, H, K)  # the documented layout: row x head x key
    for t in range(r1 - r0):
        np.testing.assert_allclose(p[t, :, :t + 1].sum(-1), 1.0, atol=1e-5)
        assert (p[t, :, t + 1:] == 0).all(), (i, t)
        assert (p[t, :, :t + 1] >= 0).all()
    assert (p[0, :, 0] == 1).all()  # the first token attends to itself alone

# z's heads through the output projection (dense, with its bias) give the module's output, and
# result holds each head's term of it
z = f[f"recordings/{A}.z/output"][:]
res = f[f"recordings/{A}.result/output"][:].reshape(-1, H, D)
np.testing.assert_array_equal(z, f[f"recordings/{A}.dense/input"][:])
attn_out = f[f"recordings/{A}/output"][:]
bias = attn_out - res.sum(1)
assert np.abs(bias - bias[0]).max() < 1e-4  # what is left is the same bias on every row
v = f[f"recordings/{A}.v/output"][:]

# Head ablation: zeroing head 2's z changes the module's output by minus that head's result
h = 2
g = run("ablate", [{"name": "ablate", "site": f"{A}.z", "op": "set", "value": 0,
                    "neurons": f"{h * Dh}:{(h + 1) * Dh}"}],
        electrodes=[{"site": f"{A}.z"}, {"site": A}])
gz = g[f"recordings/{A}.z/output"][:]
assert (gz[:, h * Dh:(h + 1) * Dh] == 0).all()
want = attn_out - res[:, h]
got = g[f"recordings/{A}/output"][:]
# on the prompt rows the module's input is unchanged (generated tokens may differ after it)
for i in range(len(T["row_start"])):
    r0 = int(T["row_start"][i])
    npr = int(T["n_prompt_tokens"][i])
    assert rt.scaled_diff(got[r0:r0 + npr], want[r0:r0 + npr], 1e-5) <= 1, (i, np.abs(got - want).max())
    np.testing.assert_array_equal(gz[r0:r0 + npr, :h * Dh], z[r0:r0 + npr, :h * Dh])

# Pattern edit: head 1 attends only to the first token -> its z row is the first token's v row
h = 1
e = run("pattern", [{"name": "first", "site": f"{A}.pattern", "op": "set", "value": 0,
                     "neurons": f"{h * K}:{(h + 1) * K}"},
                    {"name": "first", "site": f"{A}.pattern", "op": "set", "value": 1, "neurons": [h * K]}],
        electrodes=[{"site": f"{A}.pattern"}, {"site": f"{A}.z"}])
ez = e[f"recordings/{A}.z/output"][:]
ep = e[f"recordings/{A}.pattern/output"][:].reshape(-1, H, K)
for i in range(len(T["row_start"])):
    r0, npr = int(T["row_start"][i]), int(T["n_prompt_tokens"][i])
    assert (ep[r0:r0 + npr, h, 0] == 1).all() and (ep[r0:r0 + npr, h, 1:] == 0).all()
    # prompt rows: v (layer 1's input) is unchanged by an edit in layer 1
    for t in range(npr):
        assert rt.scaled_diff(ez[r0 + t, h * Dh:(h + 1) * Dh], v[r0, h * Dh:(h + 1) * Dh], 1e-5) <= 1, (i, t)
for h5 in (f, g, e):
    h5.close()
shutil.rmtree(d)
print("attention sites: pattern layout, z/result, head ablation and pattern edit as expected")
