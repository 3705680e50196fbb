#!/usr/bin/python3
"""File systems without locks, and locks that are held, told apart (`rig run --resume`).

Under an LD_PRELOAD shim on flock (tests/tools/flock_shim.c, $RIG_FLOCK_SHIM), which reaches
rig's own lock probes and HDF5's file locking alike:
- flock failing with ENOLCK, EOPNOTSUPP or ENOSYS (NFS without lockd, Lustre without flock):
  the resume proceeds at once, with a warning naming the errno and HDF5_USE_FILE_LOCKING (for
  ENOSYS HDF5 itself goes on without a lock, silently), and its file equals a resume made
  with working locks; a new gzip run creates and rewrites its file without locks too;
- flock failing with EWOULDBLOCK (another process holds the lock): rig keeps waiting, says
  so, and has not given up after several seconds (it waits up to 60 s)."""
import json
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np

import rigtest as rt

SHIM = os.environ.get("RIG_FLOCK_SHIM", "")
if not SHIM or not os.path.exists(SHIM):
    print("SKIPPED: $RIG_FLOCK_SHIM is not set or missing (build flock_shim)")
    raise SystemExit(77)

mdir = os.path.abspath("data/models/sure-neox")
d = rt.tmpdir()
cfg = {
    "name": "lockless", "seed": 5, "model": {"path": mdir},
    "stimuli": [{"condition": "a", "prompts": ["Hello there", "The cat sat", "Tell me more", "A dog ran"]}],
    "electrodes": [{"site": "gpt_neox.layers.*"}],
    "trials": {"repetitions": 2, "batch_size": 2, "generate": {"max_new_tokens": 4}},
    "events": [{"name": "response_onset"}],
    "recording": {"path": os.path.join(d, "full.h5")},
}
conf = rt.write(os.path.join(d, "c.yaml"), json.dumps(cfg))
rt.run(["run", conf, "--quiet"])
# gzip: closing rewrites the file compressed, so creating and reading files run under the shim too
gz_conf = rt.write(os.path.join(d, "gz.yaml"), json.dumps(dict(cfg, recording={"path": os.path.join(d, "gz.h5"),
                                                                                "compression": "gzip:1"})))
rt.run(["run", gz_conf, "--quiet"])


def cut(name):
    """A copy of the full run cut back to 3 committed trials, as a killed run leaves its file."""
    path = os.path.join(d, name)
    shutil.copy(os.path.join(d, "full.h5"), path)
    with h5py.File(path, "r+") as f:
        f.attrs["n_trials_committed"] = np.int64(3)
        f.attrs["n_rows_committed"] = np.int64(f["trials/row_stop"][2])
    return path


def same(path, want, what):
    with h5py.File(path) as f:
        got = rt.datasets(f)
    assert got.keys() == want.keys(), set(got) ^ set(want)
    for k in want:
        if k.startswith("recordings/"):
            assert np.max(np.abs(got[k].astype(np.float64) - want[k])) <= 1e-5, k
        else:
            assert np.array_equal(got[k], want[k]), f"{what}: {k} differs"


def shim_env(errno_name):
    env = dict(os.environ, LD_PRELOAD=SHIM, RIG_FLOCK_ERRNO=errno_name)
    # Under AddressSanitizer (scripts/sanitize.sh) the preloaded shim precedes ASan's runtime,
    # which ASan refuses unless told; the shim replaces flock only, never an allocator.
    env["ASAN_OPTIONS"] = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0") if x)
    env.pop("HDF5_USE_FILE_LOCKING", None)
    return env


# The reference: a resume with working locks.
ref = cut("ref.h5")
t0 = time.time()
rt.run(["run", conf, "--out", ref, "--resume", "--quiet"])
ref_s = time.time() - t0
with h5py.File(ref) as f:
    want = rt.datasets(f)
same(ref, {k: v for k, v in rt.datasets(h5py.File(os.path.join(d, "full.h5"))).items()}, "the resume with locks")
print(f"resume with locks: {ref_s:.1f} s")

# 1. No locks on the file system: proceed at once, with a warning.
# (HDF5 >= 1.10.7 itself ignores ENOSYS from flock, silently: rig then sees no failure to warn of.)
for errno_name, text in (("ENOLCK", "No locks available"), ("EOPNOTSUPP", "Operation not supported"),
                         ("ENOSYS", None)):
    path = cut(f"{errno_name}.h5")
    t0 = time.time()
    p = rt.run(["run", conf, "--out", path, "--resume", "--quiet"], env=shim_env(errno_name), timeout=120)
    took = time.time() - t0
    if text:
        assert "has no file locks" in p.stderr and text in p.stderr and "HDF5_USE_FILE_LOCKING" in p.stderr, p.stderr
    assert "waiting" not in p.stderr, p.stderr
    # No wait: within a few seconds of the resume with locks (it waited 60 s before the fix).
    assert took < ref_s + 10, f"{errno_name}: the resume took {took:.1f} s, with locks {ref_s:.1f} s"
    with h5py.File(path) as f:
        assert f.attrs["n_trials_committed"] == 8 and f.attrs["n_resumes"] == 1
    same(path, want, f"{errno_name}: the resume without locks")
    print(f"{errno_name}: resumed in {took:.1f} s{' with the warning' if text else ''}; file equals the resume "
          "with locks")

# A new run under ENOLCK creates its file, and rewrites it compressed, without locks too.
with h5py.File(os.path.join(d, "gz.h5")) as f:
    gz_want = rt.datasets(f)
p = rt.run(["run", gz_conf, "--out", os.path.join(d, "gz_nolock.h5"), "--quiet"], env=shim_env("ENOLCK"), timeout=120)
assert "has no file locks" in p.stderr, p.stderr
same(os.path.join(d, "gz_nolock.h5"), gz_want, "a gzip run without locks")
with h5py.File(os.path.join(d, "gz_nolock.h5")) as f:
    assert f["recordings/gpt_neox.layers.0/output"].compression == "gzip"
print("ENOLCK: a new gzip run creates, compresses and closes its file; equals the run with locks")

# 2. A held lock: keep waiting (and say so); still waiting after 6 s.
path = cut("held.h5")
err_path = os.path.join(d, "held.err")
with open(err_path, "w") as err:
    p = subprocess.Popen([rt.RIG, "run", conf, "--out", path, "--resume", "--quiet"], stderr=err,
                         env=shim_env("EWOULDBLOCK"), start_new_session=True)
    try:
        # Until rig says it waits (its start-up is slow under a sanitizer or a loaded machine),
        # then 6 s more: still waiting.
        deadline = time.time() + 120
        while time.time() < deadline and p.poll() is None and "waiting" not in open(err_path).read():
            time.sleep(0.5)
        time.sleep(6)
        running = p.poll() is None
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # rig and its writer process (one session)
        p.wait()
text = open(err_path).read()
assert running, f"rig gave up on a held lock (exit {p.returncode}):\n{text}"
assert "is locked by another process" in text and "waiting" in text, text
assert "has no file locks" not in text, text
print("EWOULDBLOCK: says it waits, and still waits 6 s later")
print("OK")
