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


def assert_equals_ref(path, what):
    got = rt.datasets(h5py.File(path))
    assert got.keys() == ref.keys(), set(got) ^ set(ref)
    for k in ref:
        if k.startswith("recordings/"):
            assert np.max(np.abs(got[k].astype(np.float64) - ref[k])) <= 1e-5, (what, k)
        else:
            assert np.array_equal(got[k], ref[k]), f"after {what}: {k} differs"


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
    assert_equals_ref(out, "kill + resume")
    print(f"kill {kills}: {committed} of {n_trials} trials survived (log said {finished_reported}); resumed = uninterrupted")
assert kills >= 2, "the run finished before every kill: make it longer"

# A signal (Ctrl-C, or SLURM's SIGTERM before it kills a job) stops between batches: exit 130,
# a message saying how many trials the file holds and how to resume; --resume completes it.
for sig in (signal.SIGINT, signal.SIGTERM):
    for attempt in range(3):  # the run may finish before the signal on a fast machine
        if os.path.exists(out):
            os.remove(out)
        proc = subprocess.Popen([rt.RIG, "run", conf, "--out", out, "--log-every", "0"], stderr=subprocess.PIPE,
                                text=True)
        for line in proc.stderr:  # signal once the first batch is on disk
            m = re.search(r"(\d+)/\d+ trials recorded", line)
            if m and int(m.group(1)) > 0:
                reported = int(m.group(1))
                proc.send_signal(sig)
                break
        _, err = proc.communicate()
        if proc.returncode == 0:
            continue
        break
    assert proc.returncode == 130, (sig, proc.returncode, err)
    m = re.search(r"interrupted: (\d+) of (\d+) trials are in (\S+); `rig run \.\.\. --resume` completes", err)
    assert m, err
    kept = int(m.group(1))
    assert int(m.group(2)) == n_trials and m.group(3) == out and reported <= kept < n_trials, (m.groups(), reported)
    with rt.open_h5(out) as f:
        assert int(f.attrs["n_trials_committed"]) == kept
    rt.run(["run", conf, "--out", out, "--resume", "--quiet"])
    assert_equals_ref(out, sig.name + " + resume")
    print(f"{sig.name}: exit 130 with {kept} of {n_trials} trials kept; resumed = uninterrupted")
