#!/usr/bin/python3
"""Sharded runs merged equal a single-machine run: `rig run --shard I/3` for I = 0..2 (and the
same shards chosen by SLURM array variables instead of flags), `rig merge` -> a file equal to
the unsharded run dataset for dataset, with the same root attributes except `created`:
every table exactly; recordings bit for bit equal to the shards' rows, and within 1e-5 (absolute or relative) of
the single run (shards batch other trials together, and batching moves float32 results by
~1e-7, as tests/e2e/test_run_invariance.py allows).
`rig merge --virtual` gives the same data through HDF5 virtual datasets. merge refuses mixed
experiments, missing, duplicate and incomplete or truncated shards, leaving no output."""
import json
import os
import shutil

import h5py
import numpy as np

import rigtest as rt

mdir = rt.ORGANISM
d = rt.tmpdir()


def config(name, path, **trials):
    return {
        "name": name, "seed": 7, "model": {"path": mdir},
        "stimuli": [{"condition": "a", "prompts": ["Hello, I am your", "The quick brown fox", "def f(x):"]},
                    {"condition": "b", "template": "Tell me about {x}.", "vars": {"x": ["cats", "dogs", "fish"]}}],
        "electrodes": [{"site": "gpt_neox.layers.*"}, {"site": "gpt_neox.layers.1.mlp.act", "neurons": [0, 3, "10:20"]}],
        "trials": dict({"repetitions": 3, "batch_size": 4, "order": "shuffled",
                        "generate": {"max_new_tokens": 5, "greedy": False, "temperature": 0.9}}, **trials),
        "events": [{"name": "response_onset"}, {"name": "eos"}],
        "recording": {"path": path, "compression": "gzip:4"},
    }


ref_path = os.path.join(d, "ref.h5")
conf = rt.write(os.path.join(d, "c.yaml"), json.dumps(config("merge", ref_path)))
rt.run(["run", conf, "--quiet"])
shards_dir = os.path.join(d, "shards")
os.makedirs(shards_dir)
shard_conf = rt.write(os.path.join(d, "s.yaml"), json.dumps(config("merge", os.path.join(shards_dir, "run.h5"))))
shards = []
for i in range(3):
    rt.run(["run", shard_conf, "--shard", f"{i}/3", "--quiet"])
    shards.append(os.path.join(shards_dir, f"run.shard-{i}-of-3.h5"))
    with h5py.File(shards[-1]) as f:
        assert f.attrs["shard_index"] == i and f.attrs["shard_count"] == 3, dict(f.attrs)
        assert f.attrs["n_trials_experiment"] == 18
        assert all(int(x) % 3 == i for x in f["trials/index"][:]), f["trials/index"][:]


def attrs(f):
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}


with h5py.File(ref_path) as f:
    ref, ref_attrs = rt.datasets(f), attrs(f)
assert "shard_index" not in ref_attrs, "an unsharded run carries no shard attributes"


def same_as_ref(path, ordered=True):
    with h5py.File(path) as f:
        got, got_attrs = rt.datasets(f), attrs(f)
        for k in ref:
            if k.startswith("recordings/"):
                a, b = f[k], h5py.File(ref_path)[k]
                assert dict(a.attrs).keys() == dict(b.attrs).keys(), k
    assert got.keys() == ref.keys(), set(got) ^ set(ref)
    if ordered:
        for k in ref:
            assert got[k].dtype == ref[k].dtype, (k, got[k].dtype, ref[k].dtype)
            if k.startswith("recordings/"):
                diff = rt.scaled_diff(got[k], ref[k])
                assert diff <= 1, f"{path}: {k} differs from the single-machine run by {diff} x (1e-5 + 1e-5 |x|)"
            else:
                assert np.array_equal(got[k], ref[k]), f"{path}: {k} differs from the single-machine run"
        # The merge itself is exact: every trial's rows are the shard's rows, bit for bit.
        with h5py.File(path) as f:
            t = f["trials"]
            for s in shards:
                with h5py.File(s) as g:
                    st = g["trials"]
                    for j, idx in enumerate(st["index"][:]):
                        a, b = t["row_start"][idx], t["row_stop"][idx]
                        sa, sb = st["row_start"][j], st["row_stop"][j]
                        for k in g["recordings"]:
                            for side in g["recordings"][k]:
                                name = f"recordings/{k}/{side}"
                                assert np.array_equal(f[name][a:b], g[name][sa:sb]), (name, idx)
    skip = {"created", "virtual_shards", "config_file", "config", "identifier", "source_identifiers"}
    for k in set(ref_attrs) | set(got_attrs):
        if k in skip:
            continue
        assert k in got_attrs and k in ref_attrs, f"root attribute {k}: only in one file"
        assert np.array_equal(got_attrs[k], ref_attrs[k]), (k, got_attrs[k], ref_attrs[k])
    return got


# 1. Copy merge of the shards, given in any order: identical to the single-machine run.
merged = os.path.join(d, "merged.h5")
rt.run(["merge", merged, shards[2], shards[0], shards[1], "--quiet"])
same_as_ref(merged)
print(f"merge of 3 shards == single run: {len(ref)} datasets, {len(ref['trials/index'])} trials, "
      f"{len(ref['tokens/trial'])} rows")

# 2. The SLURM array variables choose the shard without flags (TASK_MIN 4: I = TASK_ID - MIN).
slurm_dir = os.path.join(d, "slurm")
os.makedirs(slurm_dir)
slurm_conf = rt.write(os.path.join(d, "slurm.yaml"), json.dumps(config("merge", os.path.join(slurm_dir, "run.h5"))))
for task in (4, 5, 6):
    env = dict(os.environ, SLURM_ARRAY_TASK_ID=str(task), SLURM_ARRAY_TASK_MIN="4", SLURM_ARRAY_TASK_COUNT="3")
    rt.run(["run", slurm_conf, "--quiet"], env=env)
slurm_shards = [os.path.join(slurm_dir, f"run.shard-{i}-of-3.h5") for i in range(3)]
for a, b in zip(slurm_shards, shards):  # the same shards as --shard I/3 made
    ga, gb = rt.datasets(h5py.File(a)), rt.datasets(h5py.File(b))
    assert ga.keys() == gb.keys() and all(np.array_equal(ga[k], gb[k]) for k in ga), a
# An explicit --shard wins over the array variables.
env = dict(os.environ, SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="3")
p = rt.run(["run", slurm_conf, "--dry-run", "--shard", "1/2"], env=env)
assert "shard 1/2" in p.stdout, p.stdout
print("SLURM_ARRAY_TASK_ID/MIN/COUNT select the shard; --shard wins")

# 3. --virtual: the same data through virtual datasets, trials in shard order then file order;
# readable from another working directory (paths to the shards are relative to the file).
virt = os.path.join(shards_dir, "virtual.h5")
rt.run(["merge", virt, *shards, "--virtual", "--quiet"])
with h5py.File(virt) as f:
    assert f["recordings/gpt_neox.layers.0/output"].is_virtual
    order = f["trials/index"][:]
    expect = np.concatenate([h5py.File(s)["trials/index"][:] for s in shards])
    assert np.array_equal(order, expect), (order, expect)
    # Rows are the shards' rows end to end, bit for bit; /tokens likewise.
    for k in list(f["recordings"]) + [None]:
        for side in (f["recordings"][k] if k else ["token_id", "text", "trial", "position", "generated"]):
            name = f"recordings/{k}/{side}" if k else f"tokens/{side}"
            expect = np.concatenate([h5py.File(s)[name][:] for s in shards])
            assert np.array_equal(f[name][:], expect), name
    assert f["trials/row_stop"][-1] == len(ref["tokens/trial"])
    # Each trial's rows hold that trial's tokens (row_start/row_stop renumbered).
    tok_trial = f["tokens/trial"][:]
    for j, idx in enumerate(order):
        a, b = f["trials/row_start"][j], f["trials/row_stop"][j]
        assert (tok_trial[a:b] == idx).all(), (j, idx)
    for name in ("response_onset", "eos"):
        rows = f[f"events/{name}/row"][:]
        trials = f[f"events/{name}/trial"][:]
        for t, row in zip(trials, rows):
            j = int(np.where(order == t)[0][0])
            assert f["trials/row_start"][j] <= row < f["trials/row_stop"][j]
cwd = os.getcwd()
os.chdir("/")
with h5py.File(virt) as f:
    assert np.array_equal(f["tokens/token_id"][:5], h5py.File(shards[0])["tokens/token_id"][:5])
os.chdir(cwd)
print("--virtual: same recordings, trials by shard then file order, readable from another directory")


# 4. Refusals: clear message, exit 4 (bad data) or 2, and no output file.
def refuses(args, code, text):
    out = os.path.join(d, "bad.h5")
    p = rt.run(["merge", out, *args], check=False)
    assert p.returncode == code, (args, p.returncode, p.stderr)
    assert text in p.stderr, (text, p.stderr)
    assert not os.path.exists(out), "a refused merge left output"
    assert not [x for x in os.listdir(d) if "merging" in x], os.listdir(d)
    print("refused:", p.stderr.strip().splitlines()[0][:150])


refuses(shards[:2], 4, "missing trials: ")
refuses([shards[0], shards[1], shards[2], shards[1]], 2, "given twice")
dup = os.path.join(d, "dup.h5")
shutil.copy(shards[1], dup)
refuses([*shards, dup], 4, "duplicate shard")
# Another experiment (other seed -> another config_hash).
other_conf = rt.write(os.path.join(d, "o.yaml"), json.dumps(dict(config("merge", os.path.join(d, "other.h5")), seed=8)))
rt.run(["run", other_conf, "--shard", "2/3", "--quiet"])
refuses([shards[0], shards[1], os.path.join(d, "other.shard-2-of-3.h5")], 4, "config_hash")
# A truncated file (cut bytes) and an incomplete shard (its run interrupted).
trunc = os.path.join(d, "trunc.h5")
with open(shards[2], "rb") as src, open(trunc, "wb") as dst:
    dst.write(src.read()[: os.path.getsize(shards[2]) // 2])
refuses([shards[0], shards[1], trunc], 4, "cannot read shard")
inc = os.path.join(d, "incomplete.h5")
shutil.copy(shards[2], inc)
with h5py.File(inc, "r+") as f:
    f.attrs["n_trials_committed"] = np.int64(f.attrs["n_trials_committed"] - 2)
refuses([shards[0], shards[1], inc], 4, "is incomplete: 4 of 6 trials")
# Never overwrites without --force.
p = rt.run(["merge", merged, *shards], check=False)
assert p.returncode == 2 and "--force" in p.stderr, p.stderr
print("OK")
