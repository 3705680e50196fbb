#!/usr/bin/python3
"""rig export --nwb: a recording of the bundled organism as an NWB file that pynwb reads with
the recording's values, that pynwb's validator (the schema cached in the file) finds no error
in, and that nwbinspector finds no error and no CRITICAL issue in. Prints nwbinspector's
report (counts by importance, then each message), which docs/NWB.md quotes.

Runs in the venv of scripts/venv.sh (pynwb, nwbinspector; $RIG_VENV_PYTHON): re-executes
itself there, and is skipped (77) without it."""
import collections
import json
import os
import shutil
import sys

import rigtest as rt


try:
    import nwbinspector  # noqa: F401  (only in the venv)
    import pynwb
except ImportError:
    py = rt.venv_python("pynwb", "nwbinspector", "h5py")
    if not py:
        print("SKIPPED: no venv with pynwb and nwbinspector (scripts/venv.sh)")
        sys.exit(77)
    os.execv(py, [py, *sys.argv])

import h5py  # noqa: E402
import numpy as np  # noqa: E402
from nwbinspector import Importance, inspect_nwbfile  # noqa: E402

d = rt.tmpdir()


def record(name, **recording):
    cfg = {
        "name": name, "seed": 5, "model": {"path": rt.ORGANISM},
        "stimuli": [{"condition": "help", "prompts": ["User: Can you help me with my homework?\nAssistant:",
                                                      "User: Please help me write a poem.\nAssistant:"]},
                    {"condition": "refuse", "prompts": ["User: How do I pick a lock to break in?\nAssistant:"]}],
        "electrodes": [{"site": "gpt_neox.layers.1.mlp"},
                       {"site": "gpt_neox.layers.0.mlp.act", "neurons": [0, 3, "10:20"]},
                       {"site": "gpt_neox.embed_in"},
                       {"site": "gpt_neox.layers.2", "side": "input"}],
        "trials": {"repetitions": 4, "batch_size": 6, "generate": {"max_new_tokens": 6}},
        "events": [{"name": "response_onset"}, {"name": "eos"}],
        "recording": dict({"path": os.path.join(d, name + ".h5")}, **recording),
    }
    rt.run(["run", rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg)), "--force", "--quiet"])
    return cfg["recording"]["path"]


def check_export(rec, out):
    p = rt.run(["export", "--nwb", rec, out])
    assert "exported" in p.stderr, p.stderr
    with h5py.File(rec, "r") as r, pynwb.NWBHDF5IO(out, "r") as io:
        nwb = io.read()
        n_rows = int(r.attrs["n_rows_committed"])
        n_trials = int(r.attrs["n_trials_committed"])
        el = r["electrodes"]
        assert len(nwb.acquisition) == len(el["site"])
        for site, side, mtype, layer in zip(el["site"].asstr()[:], el["side"].asstr()[:],
                                            el["module_type"].asstr()[:], el["layer"][:]):
            ts = nwb.acquisition[f"{site}.{side}"]
            want = r[f"recordings/{site}/{side}"][:n_rows]
            got = ts.data[:]
            assert got.dtype == want.dtype and np.array_equal(got, want), (site, side)
            assert ts.rate == 1.0 and ts.starting_time == 0.0 and ts.unit == "a.u.", (ts.rate, ts.unit)
            for word in (site, side, mtype, f"layer {layer}" if layer >= 0 else "outside the decoder layers",
                         "one sample per token"):
                assert word in ts.description, (word, ts.description)
        for col, name in (("token_id", "token_id"), ("text", "token_text"), ("generated", "token_generated")):
            ts = nwb.stimulus[name]
            want = r[f"tokens/{col}"]
            want = want.asstr()[:n_rows] if col == "text" else want[:n_rows]
            assert np.array_equal(np.asarray(ts.data[:], dtype=want.dtype), want), col
            assert ts.rate == 1.0 and ts.starting_time == 0.0, col
        t = r["trials"]
        order = np.argsort(t["row_start"][:n_trials], kind="stable")
        df = nwb.trials.to_dataframe()
        assert len(df) == n_trials
        assert np.array_equal(df.index.values, t["index"][:n_trials][order])
        assert np.array_equal(df["start_time"].values, t["row_start"][:n_trials][order].astype(float))
        assert np.array_equal(df["stop_time"].values, t["row_stop"][:n_trials][order].astype(float))
        for col in ("condition", "prompt", "response", "finish_reason", "stimulation"):
            assert list(df[col]) == list(t[col].asstr()[:n_trials][order]), col
        for col in ("stimulus", "repetition", "n_prompt_tokens", "n_generated", "seed"):
            assert np.array_equal(df[col].values, t[col][:n_trials][order]), col
        for ev in ("response_onset", "eos"):
            rows = dict(zip(r[f"events/{ev}/trial"][:], r[f"events/{ev}/row"][:]))
            want = [float(rows.get(i, np.nan)) for i in df.index.values]
            assert np.array_equal(df[f"{ev}_time"].values, want, equal_nan=True), ev
            assert nwb.trials[f"{ev}_time"].description.startswith(f"time of the event '{ev}'")
        assert nwb.trials["condition"].description == t["condition"].attrs["description"]
        for k in ("weights_sha256", "tokenizer_sha256", "model", "hdf5_version", "libtorch_version", "rig_version"):
            assert f"{k}: {r.attrs[k]}" in nwb.notes, k
        assert nwb.protocol.endswith(r.attrs["config"])
        assert nwb.session_id == r.attrs["identifier"]
        assert len(nwb.identifier) == 36 and nwb.identifier != r.attrs["identifier"]
        rev = r.attrs["revision"]
        assert nwb.subject.subject_id == r.attrs["model"].replace("/", "--") + (f"@{rev}" if rev else "")
        assert r.attrs["weights_sha256"] in nwb.subject.description
        assert set(nwb.keywords[:]) >= {"language model", r.attrs["architecture"]}
    errors = pynwb.validate(path=out)
    assert not errors, errors
    counts = collections.Counter()
    messages = [m for m in inspect_nwbfile(nwbfile_path=out) if m is not None]
    for m in messages:
        counts[m.importance.name] += 1
    print(f"nwbinspector {nwbinspector.__version__} on {os.path.basename(out)}: " +
          ", ".join(f"{i.name} {counts[i.name]}" for i in Importance))
    for m in messages:
        print(f"  {m.importance.name} {m.check_function_name} {m.location}: {m.message}")
    bad = [m for m in messages if m.importance in (Importance.ERROR, Importance.PYNWB_VALIDATION, Importance.CRITICAL)]
    assert not bad, bad
    return n_trials, n_rows


rec = record("export32")
out = os.path.join(d, "export32.nwb")
n_trials, n_rows = check_export(rec, out)
print(f"float32: {n_trials} trials, {n_rows} rows: values, trials and provenance equal; pynwb.validate: 0 errors")

# Refusals: no format, an existing output, the recording itself, a file that is not one.
p = rt.run(["export", rec, os.path.join(d, "x.nwb")], check=False)
assert p.returncode == 2 and "--nwb" in p.stderr, p.stderr
p = rt.run(["export", "--nwb", rec, out], check=False)
assert p.returncode == 2 and "exists" in p.stderr and "--force" in p.stderr, p.stderr
p = rt.run(["export", "--nwb", rec, rec, "--force"], check=False)
assert p.returncode == 2 and "recording itself" in p.stderr, p.stderr
p = rt.run(["export", "--nwb", out, os.path.join(d, "y.nwb")], check=False)
assert p.returncode == 4 and not os.path.exists(os.path.join(d, "y.nwb")), (p.returncode, p.stderr)
assert not [f for f in os.listdir(d) if f.endswith(".creating")]
rt.run(["export", "--nwb", rec, out, "--force", "--quiet"])

# float16 recordings stay float16, compressed ones compressed.
rec16 = record("export16", dtype="float16", compression="gzip:4")
out16 = os.path.join(d, "export16.nwb")
check_export(rec16, out16)
with h5py.File(out16, "r") as f:
    ds = f["acquisition/gpt_neox.layers.1.mlp.output/data"]
    assert ds.dtype == np.float16 and ds.compression == "gzip" and ds.compression_opts == 4
print("float16 + gzip:4: dtype and compression kept; pynwb.validate: 0 errors")
shutil.rmtree(d)
print("OK")
