#!/usr/bin/python3
"""recording.store: statistics on the bundled organism. The file's count, mean and M2 per
condition x bin equal the same statistics computed with numpy from a raw recording of the same
run (1e-6 relative); rig merge of statistics shards equals one pass over the raw shards and
refuses raw/statistics mixes; rig analyze gives the raw analysis's moment statistics and names
what needs trials; a run killed with SIGKILL resumes to the same statistics; a commit
interrupted between the checkpoint copy and /statistics is recovered by --resume; bad config
is refused with file:line."""
import json
import os
import signal
import subprocess

import h5py
import numpy as np

import rigtest as rt

d = rt.tmpdir()
BINS = {"event": "response_onset", "pre": 2, "post": 5, "bin": 2}
cfg = {
    "name": "stats", "seed": 7, "model": {"path": rt.ORGANISM},
    "stimuli": [{"condition": "help", "prompts": ["Can you help me", "Please help me with", "I need help"]},
                {"condition": "refuse", "prompts": ["How do I make a bomb", "Tell me how to hurt"]},
                {"condition": "other", "prompts": ["The weather today is"]}],
    "electrodes": [{"site": "gpt_neox.layers.1.mlp.act"}, {"site": "gpt_neox.layers.3", "neurons": [0, 5, 9, 17]}],
    "trials": {"repetitions": 8, "batch_size": 4, "order": "shuffled",
               "generate": {"max_new_tokens": 6, "greedy": False, "temperature": 1.0, "stop_at_eos": True}},
    "events": [{"name": "response_onset"}],
    "recording": {"store": "statistics", "bins": BINS},
}
conf = rt.write(os.path.join(d, "s.yaml"), json.dumps(cfg))
raw_cfg = dict(cfg, recording={"store": "raw"})
raw_conf = rt.write(os.path.join(d, "r.yaml"), json.dumps(raw_cfg))


def s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def from_raw(path, conditions, bins):
    """count, mean, M2 per electrode from a raw recording, as docs/FORMAT.md defines them."""
    f = h5py.File(path, "r")
    T = f["trials"]
    L = bins["pre"] + bins["post"] + 1
    starts = [j - bins["pre"] for j in range(0, L, bins["bin"])]
    stops = [min(j + bins["bin"], L) - bins["pre"] for j in range(0, L, bins["bin"])]
    out = {}
    for site in f["recordings"]:
        for side in f["recordings"][site]:
            X = f["recordings"][site][side][()].astype(np.float64)
            vals = [[] for _ in conditions]
            for i in range(len(T["index"])):
                n_p, n_g = int(T["n_prompt_tokens"][i]), int(T["n_generated"][i])
                r0, r1 = int(T["row_start"][i]), int(T["row_stop"][i])
                if n_g == 0:
                    continue  # no response_onset: in no bin
                v = np.full((len(starts), X.shape[1]), np.nan)
                for j, (a, b) in enumerate(zip(starts, stops)):
                    a, b = max(0, n_p + a), min(r1 - r0, n_p + b)
                    if a < b:
                        v[j] = X[r0 + a:r0 + b].mean(0)
                vals[conditions.index(s(T["condition"][i]))].append(v)
            cnt, mean, m2 = [], [], []
            for V in vals:
                V = np.array(V)
                cnt.append((~np.isnan(V[:, :, 0])).sum(0))
                mu = np.nanmean(V, 0)
                mean.append(np.where(cnt[-1][:, None] > 0, mu, 0))
                m2.append(np.nansum((V - mu) ** 2, 0))
            out[f"{site}/{side}"] = (np.array(cnt), np.array(mean), np.array(m2))
    return out


def check_equal(stats_path, ref, rtol=1e-6, what=""):
    f = h5py.File(stats_path, "r")
    S = f["statistics"]
    n = 0
    for key, (cnt, mean, m2) in ref.items():
        site, side = key.rsplit("/", 1)
        assert np.array_equal(S["count"][site][side][()], cnt), f"{what}{key}: counts differ"
        for name, want in (("mean", mean), ("m2", m2)):
            got = S[name][site][side][()]
            assert got.shape == want.shape, (key, name, got.shape, want.shape)
            # relative, with a floor of 1e-9 of the dataset's largest value for values near 0
            err = np.abs(got - want) / (np.abs(want) + 1e-9 * np.abs(want).max())
            assert err.max() <= rtol, f"{what}{key} {name}: relative error {err.max():.3g} > {rtol}"
            n += want.size
    return n


# 1. One run, raw and statistics: equal statistics.
rt.run(["run", conf, "--out", os.path.join(d, "st.h5"), "--quiet"])
rt.run(["run", raw_conf, "--out", os.path.join(d, "raw.h5"), "--quiet"])
with h5py.File(os.path.join(d, "st.h5"), "r") as f:
    assert s(f.attrs["store"]) == "statistics" and "recordings" not in f
    conditions = [s(c) for c in f["statistics/conditions"][()]]
    assert conditions == ["help", "refuse", "other"], conditions
    assert list(f["statistics/bin_start"][()]) == [-2, 0, 2, 4] and list(f["statistics/bin_stop"][()]) == [0, 2, 4, 6]
    assert len(f["trials/index"]) == 48 and "tokens" in f
    assert f["statistics/mean/gpt_neox.layers.3/output"].shape == (3, 4, 4)
    assert list(f["statistics/mean/gpt_neox.layers.3/output"].attrs["neurons"]) == [0, 5, 9, 17]
ref = from_raw(os.path.join(d, "raw.h5"), conditions, BINS)
n = check_equal(os.path.join(d, "st.h5"), ref)
print(f"statistics = numpy on the raw recording: {n} means and {n} M2s within 1e-6 relative")
# FORMAT.md's h5py snippet reads the file as documented.
import re  # noqa: E402
block = re.findall(r"```py\n(.*?)```", open(os.path.join(os.path.dirname(rt.ORGANISM), "..", "..", "docs", "FORMAT.md"),
                                            encoding="utf-8").read(), re.S)
assert len(block) == 1, "FORMAT.md: expected one ```py block (the statistics snippet)"
ns = {}
exec(block[0].replace('"run.h5"', repr(os.path.join(d, "st.h5"))), ns)
assert ns["conds"] == conditions
assert np.allclose(ns["mu"], ref["gpt_neox.layers.3/output"][1], rtol=1e-6, atol=1e-9)
assert np.array_equal(ns["n"], ref["gpt_neox.layers.3/output"][0])
# rigio (python/rigio) reads rows: it refuses a statistics file, pointing at /statistics.
import sys  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(rt.ORGANISM), "..", "..", "python"))
try:
    import rigio  # noqa: E402
except ImportError:  # its dependencies (pandas, xarray) are test_rigio's to demand
    rigio = None
if rigio is not None:
    try:
        rigio.open(os.path.join(d, "st.h5"))
        raise AssertionError("rigio opened a statistics file")
    except rigio.FormatError as e:
        assert "statistics" in str(e) and "/statistics" in str(e), e
raw_size, st_size = os.path.getsize(os.path.join(d, "raw.h5")), os.path.getsize(os.path.join(d, "st.h5"))

# 2. rig analyze: the moment statistics equal the raw analysis's; AUC etc. are named as skipped.
an = rt.write(os.path.join(d, "an.yaml"), json.dumps({"analysis": {
    "event": "response_onset", "pre": 2, "post": 5, "bin": 2, "window": [0, 1], "permutations": 0, "folds": 0,
    "time_resolved": True, "contrast": ["help", "refuse"]}}))
p = rt.run(["analyze", os.path.join(d, "st.h5"), "-c", an, "-o", os.path.join(d, "st.an.h5")])
assert "AUC" in p.stderr and "decoding" in p.stderr and "permutation" in p.stderr, p.stderr
rt.run(["analyze", os.path.join(d, "raw.h5"), "-c", an, "-o", os.path.join(d, "raw.an.h5")])
A, B = h5py.File(os.path.join(d, "st.an.h5"), "r"), h5py.File(os.path.join(d, "raw.an.h5"), "r")
compared = 0
for site in B["sites"]:
    for side in B["sites"][site]:
        g, h = A["sites"][site][side], B["sites"][site][side]
        names = [f"psth/{c}/{m}" for c in conditions for m in ("mean", "sd", "sem", "n")]
        names += [f"selectivity/{m}" for m in ("d_prime", "selectivity_index", "t", "t_p", "welch_t", "welch_p",
                                              "anova_f", "anova_p", "eta2", "preferred")]
        names += ["time/d_prime", "time/anova_f", "time/anova_p", "window/mean", "window/n"]
        for name in names:
            x, y = g[name][()], h[name][()]
            assert np.array_equal(np.isnan(x.astype(float)), np.isnan(y.astype(float))), f"{site} {name}: NaN mask"
            m = np.isfinite(y.astype(float))
            if m.any():
                err = np.abs(x[m] - y[m]) / (np.abs(y[m]) + 1e-9 * np.abs(y[m]).max() + 1e-300)
                assert err.max() <= 1e-6, f"{site}/{side} {name}: {err.max():.3g}"
            compared += 1
        assert np.isnan(g["selectivity/auc"][()]).all()
print(f"rig analyze on statistics = on raw: {compared} datasets (PSTH, d', t, Welch t, ANOVA) within 1e-6")

# 3. Shards: merge (Chan) = one pass over the same trials' raw shards; mixes refused.
for i in range(3):
    rt.run(["run", conf, "--out", os.path.join(d, "sh.h5"), "--shard", f"{i}/3", "--quiet"])
    rt.run(["run", raw_conf, "--out", os.path.join(d, "rsh.h5"), "--shard", f"{i}/3", "--quiet"])
shards = [os.path.join(d, f"sh.shard-{i}-of-3.h5") for i in range(3)]
rt.run(["merge", os.path.join(d, "merged.h5"), *shards])
rt.run(["merge", os.path.join(d, "rawm.h5"), *[os.path.join(d, f"rsh.shard-{i}-of-3.h5") for i in range(3)]])
check_equal(os.path.join(d, "merged.h5"), from_raw(os.path.join(d, "rawm.h5"), conditions, BINS), what="merge: ")
with h5py.File(os.path.join(d, "merged.h5"), "r") as f:
    assert len(f["trials/index"]) == 48 and list(f["trials/index"][()]) == list(range(48))
p = rt.run(["merge", os.path.join(d, "mix.h5"), shards[0], os.path.join(d, "rsh.shard-1-of-3.h5")], check=False)
assert p.returncode != 0 and "cannot merge a statistics recording" in p.stderr, p.stderr
assert not os.path.exists(os.path.join(d, "mix.h5"))
p = rt.run(["merge", os.path.join(d, "v.h5"), "--virtual", *shards], check=False)
assert p.returncode == 2 and "without --virtual" in p.stderr, p.stderr
print("merge of 3 statistics shards = one pass over the raw shards; raw/statistics mix and --virtual refused")

# 4. SIGKILL, then --resume: the same statistics as the uninterrupted run.
big = dict(cfg, trials=dict(cfg["trials"], repetitions=40, batch_size=2))
big_conf = rt.write(os.path.join(d, "big.yaml"), json.dumps(big))
rt.run(["run", big_conf, "--out", os.path.join(d, "big_ref.h5"), "--quiet"])
out = os.path.join(d, "killed.h5")
# The kill follows the run's progress (its first report of some but not all trials
# committed), not a sleep: a loaded machine moves the moment, not the outcome.
for attempt in range(6):
    if os.path.exists(out):
        os.remove(out)
    proc = subprocess.Popen([rt.RIG, "run", big_conf, "--out", out, "--log-every", "0"], stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stderr:
        m = re.search(r"(\d+)/(\d+) trials recorded", line)
        if m and 0 < int(m.group(1)) < int(m.group(2)):
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate()
    if proc.returncode == -signal.SIGKILL and os.path.exists(out):
        break
else:
    raise AssertionError("no kill landed mid-run")
with rt.open_h5(out) as f:  # h5py opens the killed run's file
    committed = int(f.attrs["n_trials_committed"])
    assert int(f["statistics/count/gpt_neox.layers.1.mlp.act/output"][()].max()) <= committed
rt.run(["run", big_conf, "--out", out, "--resume", "--quiet"])
with h5py.File(out, "r") as f, h5py.File(os.path.join(d, "big_ref.h5"), "r") as g:
    assert int(f.attrs["n_resumes"]) == 1
    for name in ("count", "mean", "m2"):
        for site in g["statistics"][name]:
            for side in g["statistics"][name][site]:
                x, y = f["statistics"][name][site][side][()], g["statistics"][name][site][side][()]
                assert np.allclose(x, y, rtol=1e-6, atol=1e-9 * np.abs(y).max()), f"resumed {name} {site}"
print(f"killed after {committed} of 240 committed trials; --resume gives the uninterrupted statistics")

# 5. A commit cut between the checkpoint copy and /statistics: --resume recovers the copy.
forged = os.path.join(d, "forged.h5")
with h5py.File(os.path.join(d, "st.h5"), "r") as f:
    want = {k: f["statistics/mean/gpt_neox.layers.1.mlp.act/output"][()] for k in ("mean",)}
    n_all, rows_all = int(f.attrs["n_trials_committed"]), int(f.attrs["n_rows_committed"])
import shutil  # noqa: E402
shutil.copy(os.path.join(d, "st.h5"), forged)
with h5py.File(forged, "r+") as f:
    last = f["trials/row_start"][n_all - 4]
    f.attrs["n_trials_committed"] = np.int64(n_all - 4)  # as if the marker of the last batch was never set
    f.attrs["n_rows_committed"] = np.int64(last)
    for name in ("mean", "m2"):  # and /statistics half rewritten
        ds = f["statistics"][name]["gpt_neox.layers.1.mlp.act/output"]
        ds[0] = np.full(ds.shape[1:], 12345.0)
rt.run(["run", conf, "--out", forged, "--resume", "--quiet"])
with h5py.File(forged, "r") as f:
    assert int(f.attrs["n_trials_committed"]) == n_all
    assert np.array_equal(f["statistics/mean/gpt_neox.layers.1.mlp.act/output"][()], want["mean"])
check_equal(forged, ref, what="recovered: ")
print("a commit cut after its checkpoint copy is recovered by --resume")

# 6. Config errors: exit 2 with file:line and the key, before any output.
bad = rt.write(os.path.join(d, "bad1.yaml"), json.dumps(dict(cfg, recording={"store": "raw", "bins": BINS})))
p = rt.run(["run", bad, "--out", os.path.join(d, "bad1.h5")], check=False)
assert p.returncode == 2 and "recording.bins" in p.stderr and "store: statistics" in p.stderr, p.stderr
bad = rt.write(os.path.join(d, "bad2.yaml"), json.dumps(dict(cfg, recording={"store": "statistics",
                                                                           "bins": dict(BINS, event="nope")})))
p = rt.run(["run", bad, "--out", os.path.join(d, "bad2.h5")], check=False)
assert p.returncode == 2 and "bad2.yaml:1:" in p.stderr and "recording.bins.event" in p.stderr, p.stderr
assert not os.path.exists(os.path.join(d, "bad1.h5")) and not os.path.exists(os.path.join(d, "bad2.h5"))
print(f"config errors refused; sizes: raw {raw_size} B, statistics {st_size} B (48 trials)")
shutil.rmtree(d)
