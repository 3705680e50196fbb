"""Helpers for rig's end-to-end tests: find the rig binary and ../shared, run the CLI,
skip (exit 77) when reference data is absent."""
import os
import subprocess
import sys
import tempfile

RIG = os.environ.get("RIG_BIN", os.path.abspath("build/rig"))
SHARED = os.path.abspath(os.environ.get("RIG_SHARED", "../shared"))
GOLDEN = os.path.join(SHARED, "golden")
# The bundled organism (a GPT-NeoX, 4 layers, hidden 128, MLP 512): tests that need a real
# model but no reference recording run on it, so they run without ../shared too.
ORGANISM = os.path.abspath("data/models/sure-neox")


def need(path):
    """Skip the whole test (exit 77) when a file of ../shared is missing."""
    if not os.path.exists(path):
        print(f"SKIPPED: {path} not found (set RIG_SHARED)")
        sys.exit(77)
    return path


def venv_python(*modules):
    """The python of scripts/venv.sh ($RIG_VENV_PYTHON, else the venv if it is complete) when
    it imports every one of modules; None otherwise (the caller skips)."""
    py = os.environ.get("RIG_VENV_PYTHON", "")
    if not py:
        v = subprocess.run(["scripts/venv.sh", "--if-ready"], capture_output=True, text=True).stdout.strip()
        py = os.path.join(v, "bin", "python") if v else ""
    if not py or not os.path.exists(py):
        return None
    ok = subprocess.run([py, "-c", "import " + ", ".join(modules)], capture_output=True).returncode == 0
    return py if ok else None


def golden_recording(model):
    """transformers' recording of a golden model: for gptneox-tiny and llama-tiny the live
    oracle's ($RIG_ORACLE_GOLDEN, tests/oracle/make_goldens.py), since ../shared's carry the
    rounded-inv_freq artifact; the others from ../shared/golden. Skips (77) when absent."""
    if model in ("gptneox-tiny", "llama-tiny"):
        d = os.environ.get("RIG_ORACLE_GOLDEN", "")
        path = os.path.join(d, model + ".h5")
        if not d or not os.path.exists(path):
            print(f"SKIPPED: no oracle recording of {model} (scripts/venv.sh, then scripts/test.sh)")
            sys.exit(77)
        return path
    return need(os.path.join(GOLDEN, model + ".h5"))


def run(args, check=True, timeout=600, **kw):
    p = subprocess.run([RIG, *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"rig {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p


def scaled_diff(a, b, tol=1e-5):
    """max |a - b| / (tol + tol |b|): <= 1 means within tol, absolute or relative. Batching and
    sharding change float32 summation order, which moves a value by a few ulps of its size."""
    import numpy as np
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (tol + tol * np.abs(b)))) if b.size else 0.0


def read_safetensors(path):
    """A float32 .safetensors file as {name: numpy array}, without torch: an 8-byte header
    length, a JSON header, the bytes."""
    import json
    import struct
    import numpy as np
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", f"{path}: {k} is {v['dtype']}, not F32"
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], np.float32).reshape(v["shape"])
    return out


def tmpdir():
    return tempfile.mkdtemp(prefix="rig-e2e-")


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def open_h5(path, timeout=60.0):
    """h5py.File(path) once no writer holds it: after rig is killed, its writer process
    commits what it received, closes the file and exits on its own (well under a second);
    until then HDF5's lock refuses readers."""
    import time
    import h5py
    deadline = time.time() + timeout
    while True:
        try:
            return h5py.File(path, "r")
        except OSError as e:
            if "unable to lock file" not in str(e) or time.time() > deadline:
                raise
        time.sleep(0.05)


def datasets(f):
    """Every dataset of an h5py file: name -> numpy array."""
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if hasattr(o, "shape") else None)
    return out
