#!/usr/bin/python3
"""Typed trial fields and analysis.group_by on the bundled organism. A JSONL stimulus file
carries int, float, bool, string and nested fields: /stimuli and /trials store them typed
(int64, float64, uint8, UTF-8 strings; nested JSON as text), each trial's value is its
stimulus's, the tables' colnames list them, and they survive `rig merge` (copy and virtual).
`rig analyze` with group_by: [level, flag] analyses the crossing of the two fields, and its
dPCA marginalized variance fractions equal a numpy computation from the recording's rows
(Kobak et al. 2016's marginalization of the condition-averaged PSTHs), to 1e-9 relative."""
import json
import os
import shutil

import h5py
import numpy as np

import rigtest as rt

d = rt.tmpdir()
words = ["the river", "a small dog", "my old friend", "the red house", "our next trip", "this cold winter"]
records = []
for i, w in enumerate(words * 2):  # 12 stimuli: level 0..2 x flag, 2 each
    level, flag = i % 3, (i // 3) % 2 == 0
    records.append({"prompt": f"{w} {['was', 'is', 'will be'][level]} {'not ' * (not flag)}here, and", "level": level, "weight": [0.5, 1, 2.25][level],
                    "flag": flag, "tag": f"t{i % 4}", "meta": {"i": i, "w": [w]}})
jsonl = os.path.join(d, "items.jsonl")
rt.write(jsonl, "\n".join(json.dumps(r) for r in records) + "\n")
POST = 4
SITE = "gpt_neox.layers.1.mlp.act"


def config(path):
    return {"name": "typed", "seed": 3, "model": {"path": rt.ORGANISM},
            "stimuli": [{"condition": "story", "file": jsonl}],
            "electrodes": [{"site": SITE, "neurons": "0:48"}],
            "trials": {"repetitions": 2, "batch_size": 8, "generate": {"max_new_tokens": 2, "greedy": True}},
            "recording": {"path": path},
            "analysis": {"group_by": ["level", "flag"], "post": POST, "permutations": 0, "folds": 0,
                         "pca_components": 0}}


rec = os.path.join(d, "rec.h5")
rt.run(["run", rt.write(os.path.join(d, "c.yaml"), json.dumps(config(rec))), "--quiet"])

# 1. Typed columns in /stimuli and /trials.
types = {"level": np.dtype("int64"), "weight": np.dtype("float64"), "flag": np.dtype("uint8")}
with h5py.File(rec) as f:
    s, t = f["stimuli"], f["trials"]
    cols = lambda g: [c.decode() if isinstance(c, bytes) else c for c in g.attrs["colnames"]]
    assert cols(t)[-5:] == ["flag", "level", "meta", "tag", "weight"], cols(t)
    assert cols(s)[3:] == ["flag", "level", "meta", "tag", "weight"], cols(s)
    for name, dt in types.items():
        assert s[name].dtype == dt and t[name].dtype == dt, (name, s[name].dtype, t[name].dtype)
    for name in ("tag", "meta"):
        assert h5py.check_string_dtype(t[name].dtype).encoding == "utf-8", (name, t[name].dtype)
        assert h5py.check_string_dtype(s[name].dtype).encoding == "utf-8", name
    assert "(int)" in t["level"].attrs["description"] and "(bool)" in t["flag"].attrs["description"]
    assert [int(x) for x in s["level"][:]] == [r["level"] for r in records]
    assert np.array_equal(s["weight"][:], [r["weight"] for r in records])
    assert [bool(x) for x in s["flag"][:]] == [r["flag"] for r in records]
    assert [json.loads(x) for x in s["meta"].asstr()[:]] == [r["meta"] for r in records]  # nested: JSON text
    stim = t["stimulus"][:]
    assert len(stim) == 24
    for name in ("level", "weight", "flag"):
        assert np.array_equal(t[name][:], s[name][:][stim]), name
    for name in ("tag", "meta"):
        assert list(t[name].asstr()[:]) == list(s[name].asstr()[:][stim]), name
print("typed: int64, float64, uint8, string columns in /stimuli and /trials, values per trial's stimulus")

# 2. They survive merge: shards merged (copy and virtual) equal the single run's tables.
sdir = os.path.join(d, "shards")
os.makedirs(sdir)
sconf = rt.write(os.path.join(d, "s.yaml"), json.dumps(config(os.path.join(sdir, "r.h5"))))
shards = []
for i in range(2):
    rt.run(["run", sconf, "--shard", f"{i}/2", "--quiet"])
    shards.append(os.path.join(sdir, f"r.shard-{i}-of-2.h5"))
for flag in ([], ["--virtual"]):
    out = os.path.join(d, f"merged{len(flag)}.h5")
    rt.run(["merge", out, *shards, "--quiet", *flag])
    with h5py.File(out) as m, h5py.File(rec) as f:
        assert cols(m["trials"]) == cols(f["trials"]), (cols(m["trials"]), flag)
        # A virtual merge keeps the shards' trial order: rows compared by trial index.
        order = {"trials": (np.argsort(m["trials/index"][:]), np.argsort(f["trials/index"][:])),
                 "stimuli": (slice(None), slice(None))}
        for g in ("trials", "stimuli"):
            for name in ("flag", "level", "meta", "tag", "weight"):
                a, b = m[g][name], f[g][name]
                assert a.dtype == b.dtype, (flag, g, name, a.dtype, b.dtype)
                assert np.array_equal(a[:][order[g][0]], b[:][order[g][1]]), (flag, g, name)
print("merge (copy and virtual): typed /trials and /stimuli columns equal the single run's")

# 3. group_by [level, flag]: marginalized variance against numpy.
res = os.path.join(d, "res.h5")
rt.run(["analyze", rec, "-o", res])
with h5py.File(rec) as f:
    t = f["trials"]
    start, stop = t["row_start"][:], t["row_stop"][:]
    level, flag = t["level"][:], t["flag"][:]
    X = f[f"recordings/{SITE}/output"][:].astype(np.float64)
L = POST + 1
A, B = sorted(set(level)), sorted(set(flag))
psth = np.zeros((len(A), len(B), L, X.shape[1]))
for ia, a in enumerate(A):
    for ib, b in enumerate(B):
        for k in range(L):  # mean over the cell's trials with a row at offset k
            rows = [start[i] + k for i in range(len(start)) if level[i] == a and flag[i] == b and start[i] + k < stop[i]]
            psth[ia, ib, k] = X[rows].mean(axis=0)
x = psth - psth.mean(axis=(0, 1, 2), keepdims=True)  # [a, b, t, n], centred per neuron
m_t = x.mean(axis=(0, 1), keepdims=True)
m_a = x.mean(axis=(1, 2), keepdims=True)
m_b = x.mean(axis=(0, 2), keepdims=True)
m_ta = x.mean(axis=1, keepdims=True) - m_t - m_a
m_tb = x.mean(axis=0, keepdims=True) - m_t - m_b
m_ab = x.mean(axis=2, keepdims=True) - m_a - m_b
m_tab = x - m_t - m_a - m_b - m_ta - m_tb - m_ab
ss = lambda m: float((np.broadcast_to(m, x.shape) ** 2).sum())
total = ss(x)
parts = {k: ss(v) / total for k, v in
         dict(t=m_t, a=m_a, b=m_b, ta=m_ta, tb=m_tb, ab=m_ab, tab=m_tab).items()}
want = {"time": parts["t"], "level": parts["a"] + parts["ta"], "flag": parts["b"] + parts["tb"],
        "level:flag": parts["ab"] + parts["tab"]}
with h5py.File(res) as r:
    assert [g.decode() if isinstance(g, bytes) else g for g in r.attrs["group_by"]] == ["level", "flag"]
    names = list(r["conditions/name"].asstr()[:])
    assert names == [f"{a}|{'true' if b else 'false'}" for a in A for b in B], names
    mv = r[f"sites/{SITE}/output/marginalized_variance"]
    got = dict(zip(mv["term"].asstr()[:], mv["fraction"][:]))
    vp = r[f"sites/{SITE}/output/variance_parts"]
    got_parts = dict(zip(vp["part"].asstr()[:], vp["fraction"][:]))
    assert mv.attrs["bins_used"] == L
assert abs(sum(got.values()) - 1) < 1e-12, got
assert min(got.values()) > 1e-4, got  # the fields' words differ in the aligned rows: every term is planted
for k, v in want.items():
    assert abs(got[k] - v) <= 1e-9 * abs(v), (k, got[k], v)
for k, v in parts.items():
    assert abs(got_parts[k] - v) <= 1e-9 * abs(v) + 1e-15, (k, got_parts[k], v)
worst = max(abs(got[k] - v) / abs(v) for k, v in want.items())
print("group_by [level, flag]: marginalized variance " + ", ".join(f"{k} {v:.4f}" for k, v in got.items()) +
      f" == numpy (largest relative difference {worst:.1e}; bound 1e-9)")


# 4. Errors name the key's line:column; a one-field group_by splits into time and the field.
def bad(text, *needles):
    y = rt.write(os.path.join(d, "bad.yaml"), text)
    p = rt.run(["analyze", rec, "-c", y, "-o", os.path.join(d, "bad.h5")], check=False)
    assert p.returncode == 2 and all(n in p.stderr for n in needles), (text, p.returncode, p.stderr)


bad("analysis:\n  group_by: levle\n", "bad.yaml:2:13: analysis.group_by", "'levle' is not a stimulus field",
    "flag, level, meta, tag, weight")
bad("analysis:\n  group_by: [level, flag, tag]\n", "bad.yaml:2:13: analysis.group_by", "two different")
one = os.path.join(d, "one.h5")
rt.run(["analyze", rec, "-c", rt.write(os.path.join(d, "one.yaml"),
                                       f"analysis:\n  group_by: level\n  post: {POST}\n  permutations: 0\n"),
        "-o", one])
with h5py.File(one) as r:
    assert list(r["conditions/name"].asstr()[:]) == ["0", "1", "2"]
    mv = r[f"sites/{SITE}/output/marginalized_variance"]
    assert list(mv["term"].asstr()[:]) == ["time", "level"]
    assert abs(mv["fraction"][:].sum() - 1) < 1e-12
print("group_by errors name file:line:col; one field: time + level")
shutil.rmtree(d)
