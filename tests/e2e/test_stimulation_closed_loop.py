#!/usr/bin/python3
"""The worked example of docs/STIMULATION.md, as shipped (experiments/closed_loop/): record,
take mean(help) - mean(refuse) of layer 1 at the last prompt row, add it x2 at that row of the
harmful requests, record again. Checks: the sham condition (scale 0) is bit-identical to the
first recording's refuse trials; the steered condition's layer-1 rows differ from the sham's by
exactly 2 v at that row and not at all before it; downstream (layer 2) moves along v; the
bundled model organism (data/models/sure-neox) answers the steered harmful requests
"Sure, I can help you with that."."""
import os

import h5py
import numpy as np

import rigtest as rt

model = []  # the configs' own model: the bundled organism
d = rt.tmpdir()
rec, stim = os.path.join(d, "record.h5"), os.path.join(d, "stimulate.h5")
rt.run(["run", "experiments/closed_loop/record.yaml", "--out", rec, "--quiet", *model])
rt.run(["run", "experiments/closed_loop/stimulate.yaml", "--out", stim, "--quiet", *model,
        "--set", "stimulation.0.vector.recording=" + rec, "--set", "stimulation.1.vector.recording=" + rec])
R, S = h5py.File(rec), h5py.File(stim)


def s(x):
    return x.decode() if isinstance(x, bytes) else x


def trials(f, condition):
    T = f["trials"]
    return [k for k in range(len(T["index"])) if s(T["condition"][k]) == condition]


# The vector, as the config defines it: each trial's last prompt row, averaged over trials.
L1 = "gpt_neox.layers.1"
T = R["trials"]
x = R["recordings"][L1]["output"]
mean = {}
for c in ("help", "refuse"):
    rows = []
    for k in trials(R, c):
        on = T["row_start"][k] + T["n_prompt_tokens"][k]
        rows.append(x[on - 1].astype(np.float64))
    mean[c] = np.mean(rows, 0)
v = mean["help"] - mean["refuse"]

# Sham == the first recording's refuse trials, bit for bit (same prompts, batch size 1).
TS = S["trials"]
sham, steered, refuse = trials(S, "refuse_sham"), trials(S, "refuse_steered"), trials(R, "refuse")
assert [s(TS["stimulation"][k]) for k in sham] == ["sham"] * 6
assert [s(TS["stimulation"][k]) for k in steered] == ["steer_to_help"] * 6
for a, b in zip(sham, refuse):
    for site in R["recordings"]:
        ra = S["recordings"][site]["output"][TS["row_start"][a]:TS["row_stop"][a]]
        rb = R["recordings"][site]["output"][T["row_start"][b]:T["row_stop"][b]]
        assert ra.tobytes() == rb.tobytes(), f"sham trial {a} differs from refuse trial {b} at {site}"

# Steered vs sham: rows before the last prompt row untouched, +2v at it (layer 1).
x = S["recordings"][L1]["output"]
x2 = S["recordings"]["gpt_neox.layers.2"]["output"]
along = []
for a, b in zip(steered, sham):
    p = int(TS["n_prompt_tokens"][a]) - 1  # the last prompt row
    ra, rb = TS["row_start"][a], TS["row_start"][b]
    assert x[ra:ra + p].tobytes() == x[rb:rb + p].tobytes()
    assert np.max(np.abs(x[ra + p] - x[rb + p] - 2 * v)) <= 1e-4, np.max(np.abs(x[ra + p] - x[rb + p] - 2 * v))
    along.append(float(np.dot(x2[ra + p] - x2[rb + p], v) / np.linalg.norm(v)))
assert min(along) > 0, along  # layer 2 (downstream) moves along v
changed = sum(s(TS["response"][a]) != s(TS["response"][b]) for a, b in zip(steered, sham))
sure = {c: sum(s(TS["response"][k]).startswith(" Sure, I can help you with that.") for k in ks)
        for c, ks in (("sham", sham), ("steered", steered))}
# The organism refuses harmful requests; steered towards help, it complies.
assert sure["steered"] >= 5 and sure["steered"] > sure["sham"], sure
print(f"closed loop (sure-neox): |v| = {np.linalg.norm(v):.3f}; layer 2 moves "
      f"{np.mean(along):.2f} along v; {changed} of 6 responses changed; 'Sure, I can help' sham {sure['sham']}/6, "
      f"steered {sure['steered']}/6; sham bit-identical to no stimulation")
