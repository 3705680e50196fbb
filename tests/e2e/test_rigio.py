#!/usr/bin/python3
"""rigio (python/rigio) on real recordings of the bundled model: every accessor equals raw h5py
reads on a shuffled-order run, on a run read while being written, after a SIGKILL and after
--resume, on shards and on their merge (copy and --virtual); epochs' per-condition means equal
`rig analyze`'s PSTH means (also through the README's example); reads stay within the
requested rows; without pandas/xarray, tables are dicts and epochs arrays; bad files and bad
requests are refused naming the file."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import rigtest as rt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
try:
    import pandas  # noqa: F401
    import xarray  # noqa: F401
except ImportError as e:
    raise SystemExit(f"FAILED: {e}: rigio's tests need pandas and xarray (Debian: python3-pandas python3-xarray; "
                     "scripts/setup.sh installs them)")
import rigio  # noqa: E402

d = rt.tmpdir()
checks = {"files": 0, "trials": 0, "trial()": 0, "epochs": 0, "psth": 0}

# Prompts of the quickstart (held-out help and harmful requests), plus short templated ones whose
# prompts are shorter than `pre` (epochs then start with NaN rows) and give /stimuli a column `x`.
for cond in ("help", "refuse"):
    with open(os.path.join(ROOT, "experiments", "quickstart", f"{cond}.txt"), encoding="utf-8") as src:
        rt.write(os.path.join(d, f"{cond}.txt"), "".join(src.readlines()[:3]))


def config(path, **over):
    c = {
        "name": "rigio", "seed": 5, "model": {"path": os.path.join(ROOT, "data", "models", "sure-neox")},
        "stimuli": [{"condition": "help", "file": os.path.join(d, "help.txt")},
                    {"condition": "refuse", "file": os.path.join(d, "refuse.txt")},
                    {"condition": "short", "template": "{x}", "vars": {"x": ["Hi.", "Help me with math."]}}],
        "electrodes": [{"site": "gpt_neox.layers.1.mlp.act"},
                       {"site": "gpt_neox.layers.0.mlp.act", "neurons": [0, 5, "10:20"]},
                       {"site": "gpt_neox.layers.1.mlp.dense_4h_to_h", "side": "input"},
                       {"site": "gpt_neox.layers.1"}],
        "trials": {"repetitions": 2, "order": "shuffled", "batch_size": 4,
                   "generate": {"max_new_tokens": 10, "greedy": False, "temperature": 0.8, "stop_at_eos": True}},
        "events": [{"name": "response_onset"}, {"name": "sure", "token_text": "Sure", "in": "response"},
                   {"name": "sorry", "token_text": "sorry", "in": "response"}],
        "recording": {"path": path},
        "analysis": {"event": "response_onset", "pre": 6, "post": 6, "permutations": 20, "folds": 2},
    }
    for k, v in over.items():
        c[k] = dict(c[k], **v) if isinstance(v, dict) else v
    return rt.write(os.path.join(d, os.path.basename(path) + ".yaml"), json.dumps(c))


# ---- raw h5py reads (the reference every accessor is checked against) ----

def raw(path, locking=True):
    def col(ds, n=None):
        return ds.asstr()[:n] if h5py.check_string_dtype(ds.dtype) else ds[:n]

    with h5py.File(path, "r", **({} if locking else {"locking": False})) as f:
        n, nr = int(f.attrs["n_trials_committed"]), int(f.attrs["n_rows_committed"])
        r = {"n": n, "nr": nr, "trials": {c: col(f["trials"][c], n) for c in f["trials"]},
             "stimuli": {c: col(f["stimuli"][c]) for c in f["stimuli"]},
             "tokens": {c: col(f["tokens"][c], nr) for c in f["tokens"]}, "events": {}, "rec": {}}
        for name, g in f["events"].items():
            trial, row = g["trial"][:], g["row"][:]
            k = 0  # committed: the leading rows inside the committed rows
            while k < len(row) and 0 <= row[k] < nr:
                k += 1
            r["events"][name] = (trial[:k], row[:k])
        for site, g in f["recordings"].items():
            for side, ds in g.items():
                r["rec"][(site, side)] = (ds[:nr].astype(np.float32), dict(ds.attrs))
    return r


def event_row(r, k, event):
    """The event's absolute row in file-row trial k, or None (docs/ANALYSIS.md's rule)."""
    t = r["trials"]
    a, b = t["row_start"][k], t["row_stop"][k]
    if event in r["events"]:
        trial, row = r["events"][event]
        hit = row[trial == t["index"][k]]
        e = int(hit[0]) if len(hit) else None
    elif event == "prompt_onset":
        e = a if b > a else None
    elif event == "response_onset":
        e = a + t["n_prompt_tokens"][k] if t["n_generated"][k] > 0 else None
    else:
        e = b - 1 if t["finish_reason"][k] == "eos" else None
    return e if e is not None and a <= e < b else None


def check_recording(path, rec, live=False):
    """Every accessor of rec against raw h5py reads of path."""
    r = raw(path, locking=not live)
    t, n = r["trials"], r["n"]
    assert rec.n_trials == n and rec.n_rows == r["nr"] and rec.being_written == live, (rec, n, r["nr"])
    # trials, joined with the stimulus columns
    df = rec.trials
    assert df.index.name == "trial" and np.array_equal(df.index, t["index"])
    for c in t:
        if c != "index":
            assert np.array_equal(df[c].to_numpy(), t[c]) and df[c].dtype == (object if t[c].dtype == object
                                                                             else t[c].dtype), (path, c)
    assert isinstance(df["condition"].iloc[0], str) and df["seed"].dtype == np.uint64
    s = r["stimuli"]
    assert np.array_equal(s["index"], np.arange(len(s["index"])))
    extra = [c for c in s if c not in ("index", "condition", "prompt")]
    assert extra == ["x"], extra
    for c in extra:
        assert np.array_equal(df[c].to_numpy(), s[c][t["stimulus"]]), c
    st = rec.stimuli
    assert np.array_equal(st.index, s["index"]) and all(np.array_equal(st[c], s[c]) for c in s if c != "index")
    # tokens
    tok = rec.tokens
    assert np.array_equal(tok.index, np.arange(r["nr"]))
    for c, v in r["tokens"].items():
        assert np.array_equal(tok[c].to_numpy(), v.astype(bool) if c == "generated" else v), c
    # events: committed rows only, with their row within the trial
    ev = rec.events
    assert sorted(set(ev["event"])) == sorted(n for n in r["events"] if len(r["events"][n][0])), set(ev["event"])
    pos = {int(x): k for k, x in enumerate(t["index"])}
    for name, (trial, row) in r["events"].items():
        e = ev[ev["event"] == name]
        assert np.array_equal(e["trial"], trial) and np.array_equal(e["row"], row), name
        assert np.array_equal(e["row_in_trial"], row - t["row_start"][[pos[int(x)] for x in trial]]), name
    # electrodes
    el = rec.electrodes
    assert len(el) == len(r["rec"])
    for _, row in el.iterrows():
        x, attrs = r["rec"][(row.site, row.side)]
        neurons = attrs.get("neurons", np.arange(x.shape[1]))
        assert row.width == x.shape[1] and np.array_equal(row.neurons, neurons), row
        assert row.site_width == attrs["site_width"] and row.module_type == attrs["module_type"], row
        assert row.name == attrs["index"], row
    subset = el[el["site"] == "gpt_neox.layers.0.mlp.act"]["neurons"].iloc[0]
    assert list(subset) == [0, 5, *range(10, 20)], subset
    # trial(i, site, side) for every trial and electrode
    for k, i in enumerate(t["index"]):
        a, b = t["row_start"][k], t["row_stop"][k]
        for (site, side), (x, _) in r["rec"].items():
            got, tokens = rec.trial(i, site, side)
            assert got.dtype == np.float32 and np.array_equal(got, x[a:b]), (path, i, site)
            assert np.array_equal(tokens.index, np.arange(a, b))
            assert list(tokens["text"]) == list(r["tokens"]["text"][a:b])
            checks["trial()"] += 1
    # epochs, built row by row from the raw reads
    for event, pre, post in (("response_onset", 6, 6), ("sure", 2, 3), ("prompt_onset", 3, 4), ("eos", 4, 1)):
        for (site, side), (x, attrs) in r["rec"].items():
            keep = [k for k in range(n) if event_row(r, k, event) is not None]
            want = np.full((len(keep), pre + post + 1, x.shape[1]), np.nan, np.float32)
            for j, k in enumerate(keep):
                e = event_row(r, k, event)
                for o in range(-pre, post + 1):
                    if t["row_start"][k] <= e + o < t["row_stop"][k]:
                        want[j, o + pre] = x[e + o]
            got, tt = rec.epochs(site, event=event, pre=pre, post=post, side=side)
            assert got.dims == ("trial", "time", "neuron") and got.dtype == np.float32
            assert np.array_equal(got.values, want, equal_nan=True), (path, event, site, side)
            assert np.array_equal(got.trial, t["index"][keep]) and np.array_equal(tt.index, t["index"][keep])
            assert np.array_equal(got.time, np.arange(-pre, post + 1))
            assert np.array_equal(got.neuron, attrs.get("neurons", np.arange(x.shape[1])))
            assert np.array_equal(got.condition, t["condition"][keep])
            assert np.array_equal(tt["event_row"], [event_row(r, k, event) for k in keep])
            plain, _ = rec.epochs(site, event=event, pre=pre, post=post, side=side, xarray=False)
            assert isinstance(plain, np.ndarray) and np.array_equal(plain, want, equal_nan=True)
            checks["epochs"] += 1
    # a condition and a few neurons: the same numbers, selected
    site = "gpt_neox.layers.1.mlp.act"
    full, tt = rec.epochs(site)
    part, pt = rec.epochs(site, conditions=["refuse"], neurons=[7, 3, 300])
    sel = (tt["condition"] == "refuse").to_numpy()
    assert np.array_equal(part.values, full.values[sel][:, :, [7, 3, 300]], equal_nan=True)
    assert np.array_equal(pt.index, tt.index[sel]) and list(part.neuron) == [7, 3, 300]
    checks["trials"] += n
    checks["files"] += 1
    return r


def same_trials(rec_a, rec_b, rtol=0.0, atol=0.0):
    """rec_b holds rec_a's trials, whatever their file order: the same table rows and trial(i)
    by trial index, within tolerances (0: bit for bit)."""
    ta, tb = rec_a.trials, rec_b.trials.loc[rec_a.trials.index]
    for c in ta.columns:
        if c not in ("row_start", "row_stop"):
            assert np.array_equal(ta[c], tb[c]), c
    for i in ta.index:
        for _, e in rec_a.electrodes.iterrows():
            (xa, ka), (xb, kb) = rec_a.trial(i, e.site, e.side), rec_b.trial(i, e.site, e.side)
            assert np.allclose(xa, xb, rtol=rtol, atol=atol), (i, e.site, np.max(np.abs(xa - xb)))
            assert np.array_equal(ka["text"], kb["text"])


t0 = time.time()
# 1. A shuffled-order run.
ref = os.path.join(d, "ref.h5")
rt.run(["run", config(ref), "--quiet"])
rec = rigio.open(ref)
r = check_recording(ref, rec)
idx = r["trials"]["index"]
first = r["trials"]["stimulus"][np.argsort(idx)][r["trials"]["repetition"][np.argsort(idx)] == 0]
assert np.any(np.diff(first) < 0), f"order: shuffled presented the stimuli in order: {first}"
lengths = r["trials"]["n_generated"]
assert len(set(lengths)) > 1 and "eos" in set(r["trials"]["finish_reason"]), (lengths, r["trials"]["finish_reason"])
print(f"shuffled run: {rec}")

# 2. rig analyze: epochs' mean per condition == the PSTH means; n and SD too.
res_path = os.path.join(d, "ref.analysis.h5")
rt.run(["analyze", ref, "-o", res_path])
res = rigio.open_results(res_path)
worst = 0.0
for _, e in res.electrodes.iterrows():
    x, tt = rec.epochs(e.site, event=res.event, pre=res.pre, post=res.post, side=e.side,
                       conditions=res.condition_names)
    mean = x.groupby("condition").mean("trial")
    sd = x.groupby("condition").std("trial", ddof=1)
    count = x.notnull().groupby("condition").sum("trial")
    for c in res.condition_names:
        want = res.psth(e.site, c, side=e.side)
        got = mean.sel(condition=c).values
        assert got.shape == want.shape == (len(res.bins), e.width), (got.shape, want.shape)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (e.site, c)
        worst = max(worst, float(np.nanmax(np.abs(got - want))))
        n = count.sel(condition=c).values
        assert np.array_equal(n[:, 0], res.psth(e.site, c, side=e.side, stat="n")), (e.site, c)
        two = n[:, 0] > 1  # SD needs two trials
        assert np.allclose(sd.sel(condition=c).values[two], res.psth(e.site, c, side=e.side, stat="sd")[two],
                           rtol=1e-4, atol=1e-5), (e.site, c)
        checks["psth"] += 1
    # the same trials as rig analyze included, aligned on the same rows
    rtr = res.trials
    assert np.array_equal(rtr.index, rec.trials.index)
    assert set(rtr.index[rtr["included"]]) == set(tt.index)
    assert np.array_equal(rtr.loc[tt.index, "event_row"], tt["event_row"])
n_short = res.psth("gpt_neox.layers.1", "short", stat="n")
assert n_short.min() < n_short.max(), f"some trials should lack rows of the window (n per bin: {n_short})"
assert worst <= 1e-5, f"epochs' condition means differ from rig analyze's PSTH means by {worst}"
print(f"PSTH means: epochs vs rig analyze, {checks['psth']} electrode x condition pairs, max |diff| {worst:.2e}")

# rigio.open_results against raw h5py reads of the results file
with h5py.File(res_path) as f:
    assert res.event == "response_onset" and (res.pre, res.post, res.bin) == (6, 6, 1)
    assert res.condition_names == list(f["conditions/name"].asstr()[:]) == ["help", "refuse", "short"]
    assert np.array_equal(res.conditions["n_trials"], f["conditions/n_trials"][:])
    assert all(np.array_equal(res.bins[c], f["bins"][c][:]) for c in ("start", "stop", "center"))
    assert np.array_equal(res.trials.index, f["trials/index"][:])
    assert np.array_equal(res.trials["included"], f["trials/included"][:].astype(bool))
    for c in ("event_row", "fold"):
        assert np.array_equal(res.trials[c], f["trials"][c][:]), c
    assert len(res.electrodes) == sum(len(g) for g in f["sites"].values()) == 4
    for _, e in res.electrodes.iterrows():
        g = f["sites"][e.site][e.side]
        s = res.site(e.site, e.side)
        assert s.module_type == g.attrs["module_type"] and np.array_equal(s.neurons, g["neuron"][:])
        for c in res.condition_names:
            for k in ("mean", "sd", "sem", "n"):
                assert np.array_equal(getattr(s.psth[c], k), g["psth"][c][k][()], equal_nan=True), (c, k)
            assert np.array_equal(s.pca.projections[c], g["pca/projections"][c][()], equal_nan=True)
        sel = res.selectivity(e.site, e.side)
        assert np.array_equal(sel.index, g["selectivity/neuron"][:])
        for c in ("d_prime", "auc", "anova_p", "perm_q", "eta2"):
            assert np.array_equal(sel[c], g["selectivity"][c][:], equal_nan=True), c
        pref = g["selectivity/preferred"][:]
        assert [res.condition_names[p] if p >= 0 else None for p in pref] == list(sel["preferred"])
        assert s.window_mean.shape == (3, e.width) and np.array_equal(s.window_mean.to_numpy(), g["window/mean"][()],
                                                                      equal_nan=True)
        assert list(s.window_n.index) == res.condition_names and np.array_equal(s.window_n, g["window/n"][:])
        assert np.array_equal(s.pca.components, g["pca/components"][()]) and s.pca.components.shape[1] == e.width
        assert np.array_equal(s.decoding["accuracy"], g["decoding/accuracy"][:], equal_nan=True)
print(f"open_results == raw h5py: {res}")

# 3. The README's rigio examples (the five lines; the PSTH equal to rig analyze's), run as a user
# pastes them.
readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
blocks = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "import rigio" in b]
assert len(blocks) == 2 and "open_results" in blocks[1], "README's rigio examples changed; update this test"
for code in blocks:
    for old, new in (("data/recordings/quickstart.h5", ref), ("data/recordings/quickstart.analysis.h5", res_path)):
        code = code.replace(old, new)
    assert ref in code, "the README example's recording path changed; update this test"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
    assert p.returncode == 0, p.stderr
diffs = [float(x) for x in re.findall(r"max \|diff\| ([0-9.e+-]+)", p.stdout)]
assert len(diffs) == 3 and max(diffs) <= 1e-5, p.stdout
print("README examples run; PSTH:", " / ".join(p.stdout.strip().splitlines()))

# 4. Reads stay within the requested rows, in blocks of at most READ_BLOCK_BYTES.
reads = []
getitem = h5py.Dataset.__getitem__


def spy(self, args, *a, **k):
    out = getitem(self, args, *a, **k)
    if self.name.startswith("/recordings/"):
        reads.append(out.shape[0])
    return out


h5py.Dataset.__getitem__ = spy
try:
    site = "gpt_neox.layers.1.mlp.act"
    row = 512 * 4
    rigio.recording.READ_BLOCK_BYTES, rigio.recording.READ_GAP_BYTES = 16 * row, 0
    x, tt = rec.epochs(site, conditions=["help"], pre=2, post=2)
    windows = int(np.sum(~np.isnan(x.values[:, :, 0])))
    assert max(reads) <= 16 and sum(reads) == windows, (reads, windows)  # the windows' rows, nothing else
    reads.clear()
    rigio.recording.READ_BLOCK_BYTES, rigio.recording.READ_GAP_BYTES = 10 ** 9, 20 * row
    x2, _ = rec.epochs(site, conditions=["help"], pre=2, post=2)
    assert np.array_equal(x2.values, x.values, equal_nan=True)
    has = ~np.isnan(x.values[:, :, 0])  # each trial's window: its rows with data, contiguous
    r0 = tt["event_row"].to_numpy() - 2 + np.argmax(has, axis=1)
    r1 = r0 + has.sum(axis=1)
    order = np.argsort(r0)
    gaps = r0[order][1:] - r1[order][:-1]
    joined = gaps <= 20  # windows closer than READ_GAP_BYTES share a read, with the rows between
    assert len(reads) == 1 + np.sum(~joined) and sum(reads) == windows + np.sum(gaps[joined]), (reads, gaps)
    n_joined = len(reads)
    reads.clear()
    i = rec.trials.index[3]
    rec.trial(i, site)
    assert reads == [rec.trials.loc[i, "row_stop"] - rec.trials.loc[i, "row_start"]], reads
finally:
    h5py.Dataset.__getitem__ = getitem
    rigio.recording.READ_BLOCK_BYTES, rigio.recording.READ_GAP_BYTES = 64 << 20, 1 << 20
print(f"reads: epochs of one condition read its {windows} rows of {rec.n_rows} in blocks of <= 16 rows, "
      f"or in {n_joined} reads joining windows < 20 rows apart; trial() its own rows only")

# 5. A run read while being written, then killed (SIGKILL), read again and resumed.
out = os.path.join(d, "killed.h5")
conf = config(out)
proc = subprocess.Popen([rt.RIG, "run", conf, "--log-every", "0"], stderr=subprocess.PIPE, text=True)
for line in proc.stderr:
    m = re.search(r"(\d+)/(\d+) trials recorded", line)
    if m and 0 < int(m.group(1)) < int(m.group(2)) - 2:
        proc.send_signal(signal.SIGSTOP)  # rig pauses; its writer process keeps the file open
        break
assert proc.poll() is None, "rig finished before it could be paused"
time.sleep(0.2)
deadline = time.time() + 30
while True:  # the writer may still commit a batch rig sent before the pause; then it idles
    live = rigio.open(out)
    if raw(out, locking=False)["n"] == live.n_trials or time.time() > deadline:
        break
    time.sleep(0.1)
assert live.being_written and 0 < live.n_trials < len(idx), live
check_recording(out, live, live=True)
print(f"being written: {live}")
proc.send_signal(signal.SIGKILL)
proc.wait()
proc.stderr.close()
rt.open_h5(out).close()  # the writer process has committed what it had and closed the file
killed = rigio.open(out)
assert not killed.being_written and live.n_trials <= killed.n_trials < len(idx), killed
check_recording(out, killed)
same_trials(live, killed)  # what was committed stays as it was
print(f"killed: {killed}")
# What a writer killed mid-batch can leave (docs/FORMAT.md): datasets longer than the committed
# counts, event rows of -1 (never written) and of uncommitted rows after the committed ones.
cut = os.path.join(d, "cut.h5")
shutil.copy(ref, cut)
with h5py.File(cut, "r+") as f:
    k = int(f.attrs["n_trials_committed"]) - 3
    f.attrs["n_trials_committed"] = np.int64(k)
    f.attrs["n_rows_committed"] = np.int64(f["trials/row_stop"][k - 1])
    for g in f["events"].values():
        for c in ("trial", "row"):
            g[c].resize((g[c].shape[0] + 2,))
            g[c][-2:] = -1
cut_rec = rigio.open(cut)
assert cut_rec.n_trials == k and len(cut_rec.events) < len(rec.events), cut_rec
check_recording(cut, cut_rec)
same_trials(cut_rec, rec)
rt.run(["run", conf, "--resume", "--quiet"])
resumed = rigio.open(out)
assert resumed.n_trials == len(idx) and resumed.attrs["n_resumes"] == 1, resumed
check_recording(out, resumed)
same_trials(rec, resumed, atol=1e-5)
same_trials(killed, resumed)
print(f"resumed: {resumed}, == the uninterrupted run trial by trial")

# 6. Shards (float16) and their merge, copied and virtual. Without an /events/response_onset
# group, epochs use the built-in response_onset from /trials.
sdir = os.path.join(d, "shards")
os.makedirs(sdir)
sconf = config(os.path.join(sdir, "run.h5"), recording={"dtype": "float16"},
               events=[{"name": "sure", "token_text": "Sure", "in": "response"}])
shards = []
for i in range(2):
    rt.run(["run", sconf, "--shard", f"{i}/2", "--quiet"])
    shards.append(os.path.join(sdir, f"run.shard-{i}-of-2.h5"))
merged, virtual = os.path.join(d, "merged.h5"), os.path.join(d, "virtual.h5")
rt.run(["merge", merged, *shards, "--quiet"])
rt.run(["merge", virtual, shards[1], shards[0], "--virtual", "--quiet"])
for path in (*shards, merged, virtual):
    m = rigio.open(path)
    assert m.electrodes["dtype"].eq("float16").all()
    check_recording(path, m)
mrec, vrec = rigio.open(merged), rigio.open(virtual)
assert mrec.n_trials == vrec.n_trials == len(idx) and not np.array_equal(mrec.trials.index, vrec.trials.index)
same_trials(mrec, vrec)
same_trials(rec, mrec, rtol=2e-3, atol=1e-3)  # float16 against float32
for s in shards:
    same_trials(rigio.open(s), mrec)
print(f"merged: {mrec}; virtual: {vrec}: same trials, bit for bit")

# 7. Without pandas and xarray: dicts of numpy arrays and numpy arrays, the same numbers.
code = f"""
import sys
sys.modules["pandas"] = None
sys.modules["xarray"] = None
import numpy as np
import rigio
rec = rigio.open({ref!r})
t = rec.trials
assert isinstance(t, dict) and list(t)[:3] == ["trial", "stimulus", "condition"], list(t)
assert isinstance(rec.tokens, dict) and isinstance(rec.events, dict) and isinstance(rec.electrodes, dict)
x, tt = rec.epochs("gpt_neox.layers.1.mlp.act", pre=6, post=6)
assert type(x) is np.ndarray and isinstance(tt, dict)
res = rigio.open_results({res_path!r})
s = res.site("gpt_neox.layers.1.mlp.act")
assert isinstance(res.trials, dict) and isinstance(s.selectivity, dict) and type(s.window_mean) is np.ndarray
try:
    rec.epochs("gpt_neox.layers.1.mlp.act", xarray=True)
    raise SystemExit("xarray=True without xarray should fail")
except ImportError as e:
    assert "xarray" in str(e)
np.savez({os.path.join(d, "plain.npz")!r}, x=x, trial=tt["trial"], condition=t["condition"].astype(str))
"""
p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                   env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
assert p.returncode == 0, p.stderr
plain = np.load(os.path.join(d, "plain.npz"))
x, tt = rec.epochs("gpt_neox.layers.1.mlp.act", pre=6, post=6)
assert np.array_equal(plain["x"], x.values, equal_nan=True) and np.array_equal(plain["trial"], tt.index)
assert np.array_equal(plain["condition"], rec.trials["condition"].to_numpy().astype(str))
print("without pandas/xarray: dicts and numpy arrays, the same numbers")


# 8. Refusals name the file and what was expected.
def refused(fn, exc, *texts):
    try:
        fn()
    except exc as e:
        assert all(t in str(e) for t in texts), (texts, str(e))
        return str(e)
    raise AssertionError(f"expected {exc.__name__} containing {texts}")


newer = os.path.join(d, "newer.h5")
shutil.copy(ref, newer)
with h5py.File(newer, "r+") as f:
    f.attrs["format_version"] = np.int64(2)
print("refused:", refused(lambda: rigio.open(newer), rigio.FormatError, newer, "format_version 2", "1..1"))
plain_h5 = os.path.join(d, "plain.h5")
with h5py.File(plain_h5, "w") as f:
    f["x"] = [1, 2]
print("refused:", refused(lambda: rigio.open(plain_h5), rigio.FormatError, plain_h5, "'format' is missing",
                          "'rig-recording'"))
print("refused:", refused(lambda: rigio.open(res_path), rigio.FormatError, res_path, "rigio.open_results"))
print("refused:", refused(lambda: rigio.open_results(ref), rigio.FormatError, ref, "rigio.open()"))
print("refused:", refused(lambda: rigio.open(conf), rigio.FormatError, conf, "not a readable HDF5 file"))
refused(lambda: rigio.open(os.path.join(d, "none.h5")), FileNotFoundError, "none.h5")
print("refused:", refused(lambda: rec.epochs("gpt_neox.layers.9.mlp.act"), rigio.NotFoundError, ref,
                          "gpt_neox.layers.9.mlp.act/output", "gpt_neox.layers.1.mlp.act/output"))
print("refused:", refused(lambda: rec.epochs("gpt_neox.layers.1", event="onset"), rigio.NotFoundError, "'onset'",
                          "sorry", "prompt_onset"))
refused(lambda: rec.epochs("gpt_neox.layers.1", conditions=["helpful"]), rigio.NotFoundError, "helpful",
        "help, refuse, short")
refused(lambda: rec.trial(10_000, "gpt_neox.layers.1"), rigio.NotFoundError, "index 10000")
refused(lambda: rec.trial(idx[0], "gpt_neox.layers.0.mlp.act", neurons=[6]), rigio.NotFoundError, "[6]")
refused(lambda: res.psth("gpt_neox.layers.1", "helpful"), rigio.NotFoundError, res_path, "help, refuse, short")
print(f"OK: {checks['trials']} trials checked in {checks['files']} files, {checks['trial()']} trial() and "
      f"{checks['epochs']} epochs() calls against h5py, {checks['psth']} PSTH means against rig analyze, "
      f"{time.time() - t0:.1f} s")
