#!/usr/bin/python3
"""The worked example of docs/STIMULATION.md, as shipped (experiments/closed_loop/): record,
take mean(help) - mean(refuse) of layer 1 over the first three response rows, add it x4 at the
response rows of the harmful requests, record again. Checks: the sham condition (scale 0) is
bit-identical to the first recording's refuse trials; the steered condition's layer-1 rows
differ from the sham's by exactly 4 v at the first response row and not at all in the prompt;
downstream (layer 2) moves along v."""
import os

import h5py
import numpy as np

import rigtest as rt

rt.need(os.path.join(rt.GOLDEN, "models", "gptneox-tiny"))
d = rt.tmpdir()
model = ["--set", "model.path=" + os.path.join(rt.GOLDEN, "models", "gptneox-tiny")]
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


# The vector, as the config defines it: per trial the mean of response rows 0..2, then over trials.
L1 = "gpt_neox.layers.1"
T = R["trials"]
x = R["recordings"][L1]["output"]
mean = {}
for c in ("help", "refuse"):
    rows = []
    for k in trials(R, c):
        on = T["row_start"][k] + T["n_prompt_tokens"][k]
        rows.append(x[on:on + 3].astype(np.float64).mean(0))
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

# Steered vs sham: the prompt untouched, +4v at the first response row of layer 1.
x = S["recordings"][L1]["output"]
x2 = S["recordings"]["gpt_neox.layers.2"]["output"]
along = []
for a, b in zip(steered, sham):
    p = int(TS["n_prompt_tokens"][a])
    ra, rb = TS["row_start"][a], TS["row_start"][b]
    assert x[ra:ra + p].tobytes() == x[rb:rb + p].tobytes()
    assert np.max(np.abs(x[ra + p] - x[rb + p] - 4 * v)) <= 1e-4
    along.append(float(np.dot(x2[ra + p] - x2[rb + p], v) / np.linalg.norm(v)))
assert min(along) > 0, along  # layer 2 (downstream) moves along v
changed = sum(s(TS["response"][a]) != s(TS["response"][b]) for a, b in zip(steered, sham))
print(f"closed loop: |v| = {np.linalg.norm(v):.3f}; layer 2 moves {np.mean(along):.2f} along v at response onset; "
      f"{changed} of 6 responses changed; sham bit-identical to no stimulation")
