#!/usr/bin/python3
"""No data loss: `rig run` killed with SIGKILL at random moments leaves a file that h5py opens
with every trial the log reported finished; `rig run --resume` completes it, and the result
equals an uninterrupted run, dataset for dataset. An existing output is never overwritten
without --force."""
import json
import os
import random
import re
import signal
import subprocess
import time

import h5py
import numpy as np

import rigtest as rt

mdir = os.path.abspath("data/models/sure-neox")  # the bundled organism: runs without ../shared
d = rt.tmpdir()
cfg = {
    "name": "resume", "seed": 99, "model": {"path": mdir},
    "stimuli": [{"condition": "a", "template": "Tell me about {x} number {n}.",
                 "vars": {"x": ["cats", "dogs", "birds", "fish"], "n": [str(i) for i in range(10)]}}],
    "electrodes": [{"site": "gpt_neox.layers.*"}, {"site": "gpt_neox.layers.*.mlp.act"}],
    "trials": {"repetitions": 5, "batch_size": 4, "order": "shuffled",
               "generate": {"max_new_tokens": 8, "greedy": False}},
    "events": [{"name": "response_onset"}],
    "recording": {"path": os.path.join(d, "ref.h5")},
}
conf = rt.write(os.path.join(d, "c.yaml"), json.dumps(cfg))
t0 = time.time()
rt.run(["run", conf, "--quiet"])
full_time = time.time() - t0
ref = rt.datasets(h5py.File(os.path.join(d, "ref.h5")))
n_trials = len(ref["trials/index"])

# Never overwrite without --force.
p = rt.run(["run", conf, "--quiet"], check=False)
assert p.returncode == 2 and "--force" in p.stderr, p.stderr

random.seed(1)
out = os.path.join(d, "killed.h5")
kills = 0
for attempt in range(10):  # up to 4 kills; a run may finish before its kill on a fast machine
    if kills == 4:
        break
    if os.path.exists(out):
        os.remove(out)
    proc = subprocess.Popen([rt.RIG, "run", conf, "--out", out, "--log-every", "0"], stderr=subprocess.PIPE,
                            text=True)
    time.sleep(random.uniform(0.3, max(0.4, 0.8 * full_time)))
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    if proc.returncode != -signal.SIGKILL:
        continue  # finished before the kill; try again
    kills += 1
    reported = [int(m) for m in re.findall(r"(\d+)/\d+ trials recorded", err)]
    finished_reported = max(reported) if reported else 0
    if not os.path.exists(out):
        # Killed before the file existed (while loading the model, or creating the file,
        # which is renamed into place only when whole): nothing may have been reported.
        assert finished_reported == 0, f"log reported {finished_reported} trials, but there is no file"
        committed = 0
        rt.run(["run", conf, "--out", out, "--quiet"])
    else:
        with rt.open_h5(out) as f:  # h5py opens it
            committed = int(f.attrs["n_trials_committed"])
        assert committed >= finished_reported, f"log reported {finished_reported} trials, file holds {committed}"
        rt.run(["run", conf, "--out", out, "--resume", "--quiet"])
    got = rt.datasets(h5py.File(out))
    assert got.keys() == ref.keys(), set(got) ^ set(ref)
    for k in ref:
        if k.startswith("recordings/"):
            assert np.max(np.abs(got[k].astype(np.float64) - ref[k])) <= 1e-5, k
        else:
            assert np.array_equal(got[k], ref[k]), f"after kill+resume: {k} differs"
    print(f"kill {kills}: {committed} of {n_trials} trials survived (log said {finished_reported}); resumed = uninterrupted")
assert kills >= 2, "the run finished before every kill: make it longer"
