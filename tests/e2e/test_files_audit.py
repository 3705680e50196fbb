#!/usr/bin/python3
"""Every kind of file rig writes is one MATLAB's h5read reads, and describes itself.

Files: a run (bfloat16 model, float16 recording, gzip, a neuron subset, an electrode outside
the layers), the same run resumed after a cut, two shards merged by copy and with virtual
datasets, a stimulation run, and the analysis results of the run.

MATLAB before R2021b bundles HDF5 1.8, and h5read maps only plain types to MATLAB arrays. So
each file must have: a superblock of version 2 or lower; datasets and attributes of integer,
float or variable-length UTF-8 string types only: no enum (h5py's booleans are enums), compound,
reference, array, opaque or fixed-length string types (rig writes only variable-length UTF-8
strings; a fixed-length one would mean a writer that is not rig's, so it fails the audit too);
no filters but deflate and shuffle. Tables (groups with `colnames`, hdmf's DynamicTable) must
list existing columns of equal length, each with a `description`; the file carries a UUID
`identifier` (kept by --resume; new for a merge, which lists its shards' in
`source_identifiers`); root `dtype` is the model's compute dtype and `recording_dtype` the
recordings' element type."""
import json
import os
import re
import shutil

import h5py
import numpy as np

import rigtest as rt

MDIR = os.path.abspath("data/models/sure-neox")  # the bundled model: runs without ../shared
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
d = rt.tmpdir()


def config(name, recording=None, model=None, **extra):
    cfg = {
        "name": name, "seed": 3, "model": dict({"path": MDIR}, **(model or {})),
        "stimuli": [{"condition": "a", "prompts": ["Hello there", "The cat sat"]},
                    {"condition": "b", "prompts": ["Tell me more", "A dog ran"]}],
        "electrodes": [{"site": "gpt_neox.layers.*"}, {"site": "gpt_neox.layers.1.mlp.act", "neurons": [0, 3, "10:20"]},
                       {"site": "gpt_neox.embed_in"}],
        "trials": {"repetitions": 2, "batch_size": 4, "generate": {"max_new_tokens": 4}},
        "events": [{"name": "response_onset"}],
        "recording": dict({"path": os.path.join(d, name + ".h5")}, **(recording or {})),
    }
    cfg.update(extra)
    return rt.write(os.path.join(d, name + ".yaml"), json.dumps(cfg))


def superblock_version(path):
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    for off in [0] + [512 << k for k in range(8)]:  # the signature's possible places
        if data[off:off + 8] == b"\x89HDF\r\n\x1a\n":
            return data[off + 8]
    raise AssertionError(f"{path}: no HDF5 signature")


def check_type(where, tid):
    cls = tid.get_class()
    if cls in (h5py.h5t.INTEGER, h5py.h5t.FLOAT):
        return
    assert cls == h5py.h5t.STRING, f"{where}: type class {cls} (enum, compound, reference, ...) is not allowed"
    assert tid.is_variable_str(), f"{where}: a fixed-length string; rig writes variable-length UTF-8 only"
    assert tid.get_cset() == h5py.h5t.CSET_UTF8, f"{where}: a string that is not UTF-8"


def audit(path):
    """The MATLAB rules and the tables' self-description; returns (datasets, tables) counted."""
    v = superblock_version(path)
    assert v <= 2, f"{path}: superblock version {v}; MATLAB before R2021b reads 0..2"
    counts = {"datasets": 0, "tables": 0, "attributes": 0}
    with h5py.File(path, "r") as f:
        def attrs(obj):
            for name in obj.attrs:
                check_type(f"{path}:{obj.name} attribute {name}", obj.attrs.get_id(name).get_type())
                counts["attributes"] += 1

        def visit(name, obj):
            attrs(obj)
            if isinstance(obj, h5py.Dataset):
                counts["datasets"] += 1
                check_type(f"{path}:/{name}", obj.id.get_type())
                dcpl = obj.id.get_create_plist()
                for i in range(dcpl.get_nfilters()):
                    code = dcpl.get_filter(i)[0]
                    assert code in (h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE), f"{path}:/{name}: filter {code}"
                if "dimensions" in obj.attrs:
                    assert len(obj.attrs["dimensions"]) == obj.ndim, f"{path}:/{name}: dimensions {obj.attrs['dimensions']}"
            elif "colnames" in obj.attrs:
                counts["tables"] += 1
                cols = [c.decode() if isinstance(c, bytes) else c for c in obj.attrs["colnames"]]
                assert isinstance(obj.attrs.get("description"), str) and obj.attrs["description"], f"{path}:/{name}"
                assert cols and len(set(cols)) == len(cols), (path, name, cols)
                lengths = set()
                for c in cols:
                    assert c in obj and isinstance(obj[c], h5py.Dataset), f"{path}:/{name}: colnames lists {c}, absent"
                    assert obj[c].attrs.get("description"), f"{path}:/{name}/{c} has no description"
                    lengths.add(obj[c].shape[0])
                assert len(lengths) == 1, f"{path}:/{name}: columns of lengths {lengths}"
                extra = set(k for k in obj if isinstance(obj[k], h5py.Dataset)) - set(cols)
                assert not extra, f"{path}:/{name}: columns {extra} missing from colnames"

        attrs(f)
        f.visititems(visit)
        assert UUID.match(f.attrs.get("identifier", "")), f"{path}: identifier {f.attrs.get('identifier')!r}"
    return counts


def recording_checks(path, model_dtype, rec_dtype, n_electrodes):
    with h5py.File(path, "r") as f:
        for t in ("trials", "tokens", "stimuli", "electrodes", "events/response_onset"):
            assert "colnames" in f[t].attrs, f"{path}: /{t} is not described"
        assert [c.decode() if isinstance(c, bytes) else c for c in f["trials"].attrs["colnames"]] == [
            "index", "stimulus", "condition", "repetition", "seed", "stimulation", "prompt", "response",
            "n_prompt_tokens", "n_generated", "row_start", "row_stop", "finish_reason"]
        assert f.attrs["dtype"] == model_dtype, (path, f.attrs["dtype"])
        assert f.attrs["recording_dtype"] == rec_dtype, (path, f.attrs["recording_dtype"])
        e = f["electrodes"]
        assert len(e["site"]) == n_electrodes
        for i in range(n_electrodes):
            site, side = e["site"].asstr()[i], e["side"].asstr()[i]
            ds = f[f"recordings/{site}/{side}"]
            assert ds.attrs["index"] == i and ds.dtype == np.dtype(rec_dtype), (path, site)
            assert e["module_type"].asstr()[i] == ds.attrs["module_type"]
            assert e["width"][i] == ds.shape[1]
            m = re.match(r"gpt_neox\.layers\.(\d+)(\.|$)", site)
            assert e["layer"][i] == (int(m.group(1)) if m else -1), (site, e["layer"][i])
            assert ds.attrs["layer"] == e["layer"][i]
        return f.attrs["identifier"]


files = {}
# 1. A run: bfloat16 compute, float16 recording, gzip (rewritten compressed on close).
run = config("run", recording={"compression": "gzip:4", "dtype": "float16"}, model={"dtype": "bfloat16"})
rt.run(["run", run, "--quiet"])
files["run"] = os.path.join(d, "run.h5")
n_el = 4 + 1 + 1
run_id = recording_checks(files["run"], "bfloat16", "float16", n_el)
with h5py.File(files["run"]) as f:
    assert [x.decode() for x in f["electrodes/module_type"][:]].count("GPTNeoXLayer") == 4

# 2. Resumed: the run's file cut back to 3 committed trials (as a killed run leaves it), then
#    --resume records the rest; the file keeps its identifier.
files["resumed"] = os.path.join(d, "resumed.h5")
plain = config("plain", recording={"dtype": "float16"}, model={"dtype": "bfloat16"})
rt.run(["run", plain, "--quiet"])
shutil.copy(os.path.join(d, "plain.h5"), files["resumed"])
with h5py.File(files["resumed"], "r+") as f:
    resumed_id = f.attrs["identifier"]
    f.attrs["n_trials_committed"] = np.int64(3)
    f.attrs["n_rows_committed"] = np.int64(f["trials/row_stop"][2])
rt.run(["run", plain, "--out", files["resumed"], "--resume", "--quiet"])
assert recording_checks(files["resumed"], "bfloat16", "float16", n_el) == resumed_id, "--resume changed the identifier"
with h5py.File(files["resumed"]) as f:
    assert f.attrs["n_resumes"] == 1 and f.attrs["n_trials_committed"] == 8

# 3. Shards merged by copy and with virtual datasets: new identifiers, the shards' listed.
shard = config("shard")
ids = []
for i in range(2):
    rt.run(["run", shard, "--shard", f"{i}/2", "--quiet"])
    ids.append(recording_checks(os.path.join(d, f"shard.shard-{i}-of-2.h5"), "float32", "float32", n_el))
shard_files = [os.path.join(d, f"shard.shard-{i}-of-2.h5") for i in (1, 0)]
files["merged"] = os.path.join(d, "merged.h5")
files["virtual"] = os.path.join(d, "virtual.h5")
rt.run(["merge", files["merged"], *shard_files, "--quiet"])
rt.run(["merge", files["virtual"], *shard_files, "--virtual", "--quiet"])
for k in ("merged", "virtual"):
    mid = recording_checks(files[k], "float32", "float32", n_el)
    assert mid not in ids, f"{k}: the merged file reuses a shard's identifier"
    with h5py.File(files[k]) as f:
        assert list(f.attrs["source_identifiers"]) == ids, (k, list(f.attrs["source_identifiers"]), ids)
with h5py.File(files["virtual"]) as f:
    assert f["recordings/gpt_neox.layers.0/output"].is_virtual

# 4. A stimulation run.
stim = config("stim", stimulation=[{"name": "steer", "site": "gpt_neox.layers.1", "op": "add", "vector": [0.5] * 128}],
              stimuli=[{"condition": "a", "prompts": ["Hello there", "The cat sat"], "stimulation": "steer"},
                       {"condition": "b", "prompts": ["Tell me more", "A dog ran"]}])
rt.run(["run", stim, "--quiet"])
files["stimulation"] = os.path.join(d, "stim.h5")
recording_checks(files["stimulation"], "float32", "float32", n_el)

# 5. Analysis results of the run: tables described, every array's dimensions named.
files["analysis"] = os.path.join(d, "run.analysis.h5")
rt.run(["analyze", files["run"], "-o", files["analysis"]])
with h5py.File(files["analysis"]) as f:
    assert f.attrs["recording_identifier"] == run_id
    for t in ("conditions", "bins", "trials", "sites/gpt_neox.layers.1.mlp.act/output/psth/a"):
        assert "colnames" in f[t].attrs, t
    g = f["sites/gpt_neox.layers.1.mlp.act/output"]
    assert "colnames" in g["selectivity"].attrs and "colnames" in g["window"].attrs
    assert list(g["psth/a/mean"].attrs["dimensions"]) == ["bin", "neuron"]
    assert list(g["pca/components"].attrs["dimensions"]) == ["component", "neuron"]
    undocumented = []
    f.visititems(lambda n, o: undocumented.append(n) if isinstance(o, h5py.Dataset) and "description" not in o.attrs
                 else None)
    assert not undocumented, f"analysis datasets without a description: {undocumented[:5]}"

# 6. A statistics recording (recording.store: statistics), a merge of its shards, and its analysis.
stats = config("stats", recording={"store": "statistics", "bins": {"event": "response_onset", "pre": 1, "post": 3,
                                                                    "bin": 2}})
rt.run(["run", stats, "--quiet"])
files["statistics"] = os.path.join(d, "stats.h5")
for i in range(2):
    rt.run(["run", stats, "--shard", f"{i}/2", "--quiet"])
files["statistics_merged"] = os.path.join(d, "stats_merged.h5")
rt.run(["merge", files["statistics_merged"], *[os.path.join(d, f"stats.shard-{i}-of-2.h5") for i in range(2)], "--quiet"])
files["statistics_analysis"] = os.path.join(d, "stats.analysis.h5")
rt.run(["analyze", files["statistics"], "-o", files["statistics_analysis"]])
for k in ("statistics", "statistics_merged"):
    with h5py.File(files[k]) as f:
        assert f.attrs["store"] == "statistics" and "recordings" not in f
        for name in ("count", "mean", "m2"):
            ds = f[f"statistics/{name}/gpt_neox.layers.1.mlp.act/output"]
            assert ds.attrs["description"] and len(ds.attrs["dimensions"]) == ds.ndim, (k, name)

for k, p in files.items():
    c = audit(p)
    print(f"{k}: superblock {superblock_version(p)}, {c['datasets']} datasets, {c['attributes']} attributes, "
          f"{c['tables']} tables: OK")
print("OK")
