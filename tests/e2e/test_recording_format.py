#!/usr/bin/env python3
"""Runs docs/FORMAT.md's Python snippet on a file written by RecordingWriter (through
tests/tools/recording_driver) and checks the layout FORMAT.md describes with plain h5py.
Exits 77 (skip) without $RIG_RECORDING_DRIVER."""
import os
import re
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

DRIVER = os.environ.get("RIG_RECORDING_DRIVER", "")
if not DRIVER or not os.path.exists(DRIVER):
    print("SKIP: $RIG_RECORDING_DRIVER is not set or missing (build recording_driver)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def snippet():
    text = open(os.path.join(ROOT, "docs", "FORMAT.md"), encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "FORMAT.md must have exactly one python block"
    return blocks[0]


def expected(i, r, c):  # the driver's values (tests/tools/recording_driver.cc)
    return ((i * 131 + r * 17 + c) % 1000) / 8


def main():
    ns = {}
    exec(snippet(), ns)
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float32", "float16"):
            path = os.path.join(tmp, f"r_{dtype}.h5")
            subprocess.run([DRIVER, "run", path, "40", "7", dtype, "0"], check=True,
                           stdout=subprocess.DEVNULL)
            site = "model.layers.0.mlp"
            x, text = ns["load_trial"](path, site, 3)
            n_rows = 4 + 3 % 5 + (3 * 7) % 13
            assert x.shape == (n_rows, 512) and x.dtype == np.float32, x.shape
            assert text == [f"t{r}" for r in range(n_rows)], text
            assert x[2, 5] == expected(3, 2, 5)
            xs = ns["load_condition"](path, site, "odd")
            assert len(xs) == 20 and all(m.shape[1] == 512 for m in xs)
            with h5py.File(path, "r") as f:
                assert f.attrs["format"] == "rig-recording" and f.attrs["format_version"] == 1
                assert f.attrs["n_trials_committed"] == 40
                for k in ("rig_version", "rig_git_commit", "created", "config", "config_hash"):
                    assert k in f.attrs, k
                t = f["trials"]
                n = len(t["index"])
                for col in t.values():
                    assert col.shape == (n,), col.name
                assert t["seed"].dtype == np.uint64
                assert f["tokens/generated"].dtype == np.uint8
                assert h5py.check_string_dtype(t["condition"].dtype).encoding == "utf-8"
                start, stop = t["row_start"][:], t["row_stop"][:]
                assert start[0] == 0 and all(start[1:] == stop[:-1])
                assert all(stop - start == t["n_prompt_tokens"][:] + t["n_generated"][:])
                rec = f["recordings/model.layers.1/input"]  # one group, dots in its name
                assert rec.dtype == np.dtype(dtype) and rec.shape == (stop[-1], 5)
                assert list(rec.attrs["neurons"]) == [0, 5, 9, 100, 511]
                assert rec.chunks[1] == 5 and rec.maxshape == (None, 5)
                ev = f["events/response_start"]
                rows = ev["row"][:]
                trials = ev["trial"][:]
                for tr, row in zip(trials, rows):
                    assert row == start[tr] + t["n_prompt_tokens"][tr]
                    assert f["tokens/generated"][row] == 1
                    assert f["tokens/generated"][row - 1] == 0
    print("OK: FORMAT.md's Python snippet and layout checked for float32 and float16")


if __name__ == "__main__":
    main()
