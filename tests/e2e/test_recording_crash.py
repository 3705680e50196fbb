#!/usr/bin/env python3
"""SIGKILL a process that records (the driver, like `rig run`) at random moments; every time,
h5py must open the file and see only complete committed trials, equal to those of an
uninterrupted run; resuming to the end must give a file equal to the uninterrupted one. The
writer process (src/recording/writer_process.h) finishes the batch it was given and closes the
file, so the checks first wait for it to let go of the file.

Needs tests/tools/recording_driver ($RIG_RECORDING_DRIVER); exits 77 (skip) without it.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

from rigtest import open_h5  # waits while the writer process of a killed driver finishes

DRIVER = os.environ.get("RIG_RECORDING_DRIVER", "")
if not DRIVER or not os.path.exists(DRIVER):
    print("SKIP: $RIG_RECORDING_DRIVER is not set or missing (build recording_driver)")
    sys.exit(77)

# Attributes that differ between runs by design.
VOLATILE = {"created", "n_resumes", "identifier"}


def run_driver(path, n_trials, batch, dtype, gzip):
    subprocess.run([DRIVER, "run", path, str(n_trials), str(batch), dtype, str(gzip)],
                   check=True, stdout=subprocess.DEVNULL)


def committed_view(f):
    """Every dataset cut to the committed trials, as {path: numpy array}."""
    n_trials = int(f.attrs["n_trials_committed"])
    stops = f["trials/row_stop"][:n_trials]
    n_rows = int(stops[-1]) if n_trials else 0
    out = {}

    def visit(name, obj):
        if not isinstance(obj, h5py.Dataset):
            return
        if name.startswith("trials/"):
            n = n_trials
        elif name.startswith("tokens/") or name.startswith("recordings/"):
            n = n_rows
        elif name.startswith("events/"):
            # Committed events come first; a killed writer may leave -1 (never written) or
            # rows beyond n_rows after them.
            rows = f[name.rsplit("/", 1)[0] + "/row"][:]
            ok = (rows >= 0) & (rows < n_rows)
            n = int(np.argmin(ok)) if not ok.all() else len(rows)
        else:
            n = obj.shape[0]
        assert obj.shape[0] >= n, f"{name}: {obj.shape[0]} rows < {n} committed"
        out[name] = obj[:n]

    f.visititems(visit)
    return n_trials, out


def check_against(path, ref_by_trial, ref):
    """Committed trials of `path` equal the same trials of the reference file."""
    with open_h5(path) as f:
        n, view = committed_view(f)
        index = view["trials/index"]
        assert list(index) == list(range(n)), "trials must be committed in order here"
        for name, data in view.items():
            if name.startswith("stimuli/"):
                assert np.array_equal(data, ref[name]), name
            else:
                assert np.array_equal(data, ref[name][: len(data)]), f"{name} differs from the reference"
        return n


def main():
    seed = int(os.environ.get("RIG_CRASH_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    print(f"seed {seed}")
    total_kills = 0
    with tempfile.TemporaryDirectory() as tmp:
        for dtype, gzip, n_trials, kills in (("float16", 0, 2000, 10), ("float32", 3, 150, 4)):
            ref_path = os.path.join(tmp, f"ref_{dtype}_{gzip}.h5")
            t0 = time.time()
            run_driver(ref_path, n_trials, 4, dtype, gzip)
            duration = time.time() - t0
            with h5py.File(ref_path, "r") as f:
                _, ref = committed_view(f)
                ref_attrs = {k: v for k, v in f.attrs.items() if k not in VOLATILE}
            path = os.path.join(tmp, f"crash_{dtype}_{gzip}.h5")
            seen = []
            for k in range(kills):
                # Every third kill starts over (kills during creation); the others resume.
                if k % 3 == 0 and os.path.exists(path):
                    os.remove(path)
                done = 0
                if os.path.exists(path):
                    with open_h5(path) as f:
                        done = int(f.attrs["n_trials_committed"])
                left = duration * (n_trials - done) / n_trials
                # stderr is a pipe that the driver's writer process inherits: reading it to
                # the end waits for that process too, which outlives a killed driver for as
                # long as it needs to finish (it may still be creating the file).
                p = subprocess.Popen([DRIVER, "run", path, str(n_trials), "4", dtype, str(gzip)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                # Half of the kills early: with gzip, close() spends most of the run compressing.
                time.sleep(rng.uniform(0.0, (0.9 if k % 2 else 0.04) * left))
                p.send_signal(signal.SIGKILL)
                _, err = p.communicate()
                if err.strip():
                    print(err.decode(errors="replace").strip())
                if not os.path.exists(path):
                    continue  # killed before the file was created
                total_kills += 1
                seen.append(check_against(path, None, ref))  # h5py opens it; committed = ref
            print(f"{dtype} gzip={gzip}: {kills} kills, committed trials after each: {seen}"
                  f" (uninterrupted run {duration:.2f} s)")
            run_driver(path, n_trials, 4, dtype, gzip)  # resume to the end
            with h5py.File(path, "r") as f:
                n, view = committed_view(f)
                assert n == n_trials
                for name in ref:
                    assert name in view, name
                    assert np.array_equal(view[name], ref[name]), f"{name} differs after resume"
                    assert f[name].shape == ref[name].shape, f"{name}: rows beyond the committed ones"
                assert set(view) == set(ref)
                attrs = {k: v for k, v in f.attrs.items() if k not in VOLATILE}
                assert attrs.keys() == ref_attrs.keys()
                for key in attrs:
                    assert np.array_equal(attrs[key], ref_attrs[key]), key
    print(f"OK: {total_kills} kills, every file opened with h5py; resumed files equal the reference")


if __name__ == "__main__":
    main()
