#!/usr/bin/env python3
"""rig analyze's normalisation, baseline, max-statistic correction, repeated cross-validation and
generalisation matrix against numpy/scipy on a planted recording (bench/analysis_synth.py):
units 0..18 carry a small A-vs-B difference after the response onset, unit 19 is noise of SD
1000. Nearest-centroid decoding without normalisation is at chance; with zscore (the scaler fitted
on the training folds only) it recovers the signal. Every number is recomputed from the raw rows
with rig's folds (/trials/fold)."""
import os
import re
import subprocess
import sys
import tempfile

try:
    import h5py
    import numpy as np
    from scipy import stats
except ImportError as e:
    print(f"SKIP: {e}")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from analysis_synth import make_recording  # noqa: E402

RIG = os.environ.get("RIG_BIN", os.path.join(ROOT, "build", "rig"))
SITE = "gpt_neox.layers.0.mlp.act"
W, OUTLIER, SHIFT = 20, 19, 0.3
PRE, POST = 2, 3
BASE = (-2, -1)
EXTRA = [("gpt_neox.layers.1.mlp.act", "output", 7, None), ("gpt_neox.layers.2.mlp.act", "output", 9, None)]


def rig(*args, check=True):
    p = subprocess.run([RIG, *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"rig {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p


def planted(path, n_per_cond=40, seed=11):
    rng = np.random.default_rng(seed)
    trials = [{"condition": "AB"[i % 2], "n_prompt": 4, "n_generated": 4} for i in range(2 * n_per_cond)]

    def fill(e, t, trial, rows):
        if e > 0:
            return rng.normal(0, 1, (rows, EXTRA[e - 1][2])).astype(np.float32)
        x = rng.normal(0, 1, (rows, W))
        x[:, OUTLIER] *= 1000
        x += np.arange(W) * 0.1 + rng.normal(0, 0.5, W)  # per-trial offsets: what a baseline removes
        sign = 1 if trial["condition"] == "A" else -1
        x[trial["n_prompt"]:, :OUTLIER] += sign * SHIFT
        return x.astype(np.float32)

    # Two more electrodes of pure noise (written after the first, so its values do not change):
    # families span electrodes, and threads have electrodes to share.
    make_recording(path, trials, [(SITE, "output", W, None)] + EXTRA, fill)


def aligned(path, baseline=None):
    """Per included trial: [L, W] rows at offsets -PRE..POST of the response onset, baselined."""
    with h5py.File(path, "r") as f:
        t = f["trials"]
        start, npr = t["row_start"][:], t["n_prompt_tokens"][:]
        cond = t["condition"].asstr()[:]
        x = f[f"recordings/{SITE}/output"][:].astype(np.float64)
    out = []
    for i in range(len(start)):
        ev = start[i] + npr[i]
        a = x[ev - PRE:ev + POST + 1].copy()
        if baseline:
            b = x[ev + BASE[0]:ev + BASE[1] + 1]
            mu, sd = b.mean(0), b.std(0)
            a -= mu
            if baseline == "zscore":
                a /= np.where(sd > 0, sd, 1)
        out.append(a)
    return np.array(out), cond


def decode(X, y, fold, norm, c=5.0, train_bin=None):
    """Nearest centroid per bin with the scaler fitted on each fold's training trials.
    X: [n, bins, W]. With train_bin: the generalisation matrix [bins, bins]."""
    n, nb, _ = X.shape
    rows = range(nb) if train_bin is None else [train_bin]
    acc = np.zeros((len(rows), nb))
    for ri, t in enumerate(rows):
        for j in (range(nb) if train_bin is not None else [t]):
            correct = 0
            for f in np.unique(fold):
                tr, te = fold != f, fold == f
                Xt = X[tr, t]
                if norm == "zscore":
                    sd = Xt.std(0)
                    scale = 1 / np.where(sd > 0, sd, 1)
                elif norm == "soft":
                    scale = 1 / (Xt.max(0) - Xt.min(0) + c)
                else:
                    scale = np.ones(X.shape[2])
                cents = {k: Xt[y[tr] == k].mean(0) for k in ("A", "B")}
                for i in np.where(te)[0]:
                    d = {k: (((X[i, j] - m) * scale) ** 2).sum() for k, m in cents.items()}
                    correct += min(d, key=lambda k: (d[k], k)) == y[i]
            acc[ri, j] = correct / n
    return acc if train_bin is not None else np.diag(acc)


def close(name, got, want, rtol=1e-9, atol=1e-12):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    err = np.max(np.abs(got - want) / (np.abs(want) + atol / rtol)) if want.size else 0
    assert err <= rtol, f"{name}: max relative error {err:.3g} > {rtol}\n{got}\n{want}"
    print(f"  {name}: OK (max rel err {err:.2g})")


def run(tmp, rec, name, body):
    y = os.path.join(tmp, name + ".yaml")
    # body's keys replace the defaults' (a key written twice is an error).
    base = {"event": "response_onset", "pre": PRE, "post": POST, "folds": 5, "seed": 4, "window": "[0, 3]",
            "permutations": 199}
    given = set(re.findall(r"^  (\w+):", body, re.M))
    with open(y, "w") as f:
        f.write("analysis:\n" + "".join(f"  {k}: {v}\n" for k, v in base.items() if k not in given) + body)
    out = os.path.join(tmp, name + ".h5")
    rig("analyze", rec, "-c", y, "-o", out)
    return out


def check_decoding(tmp, rec):
    X, y = aligned(rec)
    res = {}
    for norm, body in (("none", ""), ("zscore", "  normalize: zscore\n  generalization: true\n  cv_repeats: 4\n  decode_permutations: 99\n"),
                       ("soft", "  normalize: {kind: soft, c: 5}\n")):
        out = run(tmp, rec, "dec_" + norm, body)
        with h5py.File(out, "r") as f:
            g = f[f"sites/{SITE}/output/decoding"]
            fold = f["trials/fold"][:]
            acc = g["accuracy"][:]
            assert f.attrs["normalize"] == norm
            print(f"normalize {norm}:")
            close("accuracy", acc, decode(X, y, fold, norm))
            res[norm] = acc
            if norm == "zscore":
                G = g["generalization"][:]
                want = np.array([decode(X, y, fold, norm, train_bin=t)[0] for t in range(X.shape[1])])
                close("generalisation matrix", G, want)
                assert np.array_equal(np.diag(G), acc), (np.diag(G), acc)
                print("  generalisation diagonal == accuracy: OK (exactly)")
                R = g["repeats"][:].T                          # stored [bin, repetition]
                assert R.shape == (4, X.shape[1]) and np.array_equal(R[0], acc)
                close("repeated CV mean", g["mean"][:], R.mean(0))
                close("repeated CV SD", g["sd"][:], R.std(0, ddof=1))
                assert len({tuple(r) for r in R}) > 1, "the repetitions should use different folds"
                null = g["null"][:].T                          # stored [bin, permutation]
                assert null.shape == (99, X.shape[1])
                close("decoding permutation p", g["p"][:], (1 + (null >= acc).sum(0)) / 100)
                print(f"  label-permutation null: mean {null.mean():.3f} (chance 0.5); p after onset "
                      f"{np.round(g['p'][PRE:], 3).tolist()}, before {np.round(g['p'][:PRE], 3).tolist()}")
                assert abs(null.mean() - 0.5) < 0.03 and np.all(g["p"][PRE:] <= 0.01), (null.mean(), g["p"][:])
    post = slice(PRE, PRE + POST + 1)  # bins after the response onset (the planted ones)
    m_none, m_z, m_soft = res["none"][post].mean(), res["zscore"][post].mean(), res["soft"][post].mean()
    print(f"planted: decoding after onset, none {m_none:.3f}, zscore {m_z:.3f}, soft {m_soft:.3f}; "
          f"before onset zscore {res['zscore'][:PRE].mean():.3f}")
    assert m_none <= 0.6 and m_z >= 0.8, (m_none, m_z)


def check_baseline_pca_maxstat(tmp, rec):
    for mode in ("subtract", "zscore"):
        body = (f"  baseline: {{window: [{BASE[0]}, {BASE[1]}], mode: {mode}}}\n  normalize: zscore\n"
                "  pca_center: cross_condition\n  folds: 0\n")
        out = run(tmp, rec, "base_" + mode, body)
        X, y = aligned(rec, baseline=mode)
        print(f"baseline {mode}:")
        with h5py.File(out, "r") as f:
            g = f[f"sites/{SITE}/output"]
            means = {c: X[y == c].mean(0) for c in ("A", "B")}
            for c in ("A", "B"):
                close(f"psth {c} mean", g[f"psth/{c}/mean"][:], means[c], rtol=1e-6)
            win = {c: X[y == c][:, PRE:PRE + 4].mean(1) for c in ("A", "B")}
            fo = stats.f_oneway(win["A"], win["B"])
            close("ANOVA F (baselined window)", g["selectivity/anova_f"][:], fo.statistic, rtol=1e-6)
            # PCA: zscore over the condition-averaged points, then jPCA's subtract_cc_mean.
            M = np.stack([means["A"], means["B"]])               # [C, bins, W]
            P = M.reshape(-1, W)
            sd = P.std(0)
            Z = (M - P.mean(0)) / np.where(sd > 0, sd, 1)
            Z = Z - Z.mean(0, keepdims=True)
            Z = Z.reshape(-1, W)
            s = np.linalg.svd(Z - Z.mean(0), compute_uv=False)
            close("PCA explained variance", g["pca/explained_variance"][:], (s ** 2 / (len(Z) - 1))[:3], rtol=1e-6)
            # Max statistic: one p per unit from the max F over all units of each permutation.
            mx = f["permutation/max_f"][:]
            assert len(mx) == 199
            F = g["selectivity/anova_f"][:]
            want = np.array([(1 + np.sum(mx >= v * (1 - 1e-10))) / 200 for v in F])
            close("max-statistic p", g["selectivity/perm_p_max"][:], want)
            assert np.all(g["selectivity/perm_p_max"][:] >= g["selectivity/perm_p"][:] - 1e-12)
            pmax = g["selectivity/perm_p_max"][:]
            print(f"  planted units with max-statistic p <= 0.05: {np.sum(pmax[:OUTLIER] <= 0.05)}/{OUTLIER}")


def check_timecourse(tmp, rec):
    out = run(tmp, rec, "time", "  time_resolved: true\n  cluster_alpha: 0.05\n  contrast: [A, B]\n  folds: 0\n")
    X, y = aligned(rec)
    a, b = X[y == "A"], X[y == "B"]                          # [trials, bins, W]
    na, nb_ = len(a), len(b)
    print("time-resolved:")
    with h5py.File(out, "r") as f:
        g = f[f"sites/{SITE}/output/time"]
        sp = np.sqrt(((na - 1) * a.var(0, ddof=1) + (nb_ - 1) * b.var(0, ddof=1)) / (na + nb_ - 2))
        close("per-bin d'", g["d_prime"][:], (a.mean(0) - b.mean(0)) / sp)
        u = np.array([[stats.mannwhitneyu(a[:, j, k], b[:, j, k]).statistic for k in range(W)]
                      for j in range(X.shape[1])])
        close("per-bin AUC (U / n_a n_b)", g["auc"][:], u / (na * nb_))
        fo = stats.f_oneway(a, b)
        close("per-bin F", g["anova_f"][:], fo.statistic)
        close("per-bin F p", g["anova_p"][:], fo.pvalue, rtol=1e-6)
        # Clusters: contiguous bins with F above the F(1, n-2) quantile 0.95, mass = sum of F.
        crit = stats.f.ppf(0.95, 1, na + nb_ - 2)
        want = []
        for k in range(W):
            j = 0
            while j < X.shape[1]:
                if fo.statistic[j, k] > crit:
                    e = j
                    while e + 1 < X.shape[1] and fo.statistic[e + 1, k] > crit:
                        e += 1
                    want.append((k, j, e, fo.statistic[j:e + 1, k].sum()))
                    j = e + 1
                else:
                    j += 1
        cl = f["clusters"]
        on = cl["site"].asstr()[:] == SITE
        got = list(zip(cl["neuron"][:][on], cl["first_bin"][:][on], cl["last_bin"][:][on]))
        assert got == [w[:3] for w in want], (got, want)
        close("cluster mass", cl["mass"][:][on], [w[3] for w in want])
        null = f["permutation/max_cluster_mass"][:]
        assert len(null) == 199 and np.all(null >= 0)
        close("cluster p", cl["p"][:][on], [(1 + np.sum(null >= w[3] * (1 - 1e-10))) / 200 for w in want])
        assert np.array_equal(cl["start"][:], f["bins/start"][:][cl["first_bin"][:]])
        noise_sig = int(np.sum(cl["p"][:][~on] <= 0.05))
        print(f"  noise electrodes: {int(np.sum(~on))} clusters, {noise_sig} with p <= 0.05")
        sig = [(n, s, e) for n, s, e, p in zip(cl["neuron"][:][on], cl["first_bin"][:][on], cl["last_bin"][:][on],
                                                cl["p"][:][on]) if p <= 0.05]
        print(f"  {len(want)} clusters, {len(sig)} with p <= 0.05, all on planted units after onset: "
              f"{all(n < OUTLIER and s >= PRE for n, s, e in sig)}")
        assert sig and all(n < OUTLIER and s >= PRE for n, s, e in sig), sig


def check_threads(tmp, rec):
    """Electrodes analysed in parallel give the serial run's results, bit for bit."""
    body = ("  normalize: zscore\n  time_resolved: true\n  decode_permutations: 19\n  generalization: true\n"
            "  cv_repeats: 2\n  baseline: [-2, -1]\n")
    files = [run(tmp, rec, f"threads{n}", body + f"  threads: {n}\n") for n in (1, 3)]
    with h5py.File(files[0], "r") as a, h5py.File(files[1], "r") as b:
        names = []
        a.visititems(lambda k, v: names.append(k) if isinstance(v, h5py.Dataset) else None)
        for k in names:
            x, y = a[k][:], b[k][:]
            same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
            assert same, k
        assert len(a["sites"]) == 3

        # With every option on, the file still describes itself (as test_files_audit checks the
        # defaults): every dataset has a description; tables list all their columns, equally long.
        def audit(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.attrs.get("description"), f"{name} has no description"
            elif "colnames" in obj.attrs:
                cols = [c.decode() if isinstance(c, bytes) else c for c in obj.attrs["colnames"]]
                assert set(cols) == {k for k in obj if isinstance(obj[k], h5py.Dataset)}, (name, cols)
                assert len({obj[c].shape[0] for c in cols}) == 1, name
        a.visititems(audit)
        for t in ("clusters", f"sites/{SITE}/output/decoding", f"sites/{SITE}/output/time"):
            assert "colnames" in a[t].attrs, t
    print(f"threads: 1 vs 3: all {len(names)} datasets identical, all described")


def check_readme(tmp, rec):
    """README's analysis example runs as written."""
    import re
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if b.startswith("analysis:")]
    assert blocks, "README has no analysis: example"
    y = os.path.join(tmp, "readme.yaml")
    with open(y, "w") as f:
        f.write(blocks[0])
    out = os.path.join(tmp, "readme.h5")
    rig("analyze", rec, "-c", y, "-o", out)
    with h5py.File(out, "r") as f:
        assert f.attrs["normalize"] == "zscore" and "clusters" in f
        assert f[f"sites/{SITE}/output/decoding/generalization"].shape[0] == len(f["bins/start"])
    print("README example: OK")


def check_errors(tmp, rec):
    def bad(text, *needles):
        y = os.path.join(tmp, "bad.yaml")
        with open(y, "w") as f:
            f.write(text)
        p = rig("analyze", rec, "-c", y, "-o", os.path.join(tmp, "bad.h5"), check=False)
        assert p.returncode == 2, (text, p.returncode, p.stderr)
        for n in needles:
            assert n in p.stderr, (n, p.stderr)

    bad("analysis:\n  normalise: zscore\n", "bad.yaml:2:3: analysis.normalise", "did you mean 'normalize'")
    bad("analysis:\n  normalize: zcore\n", "bad.yaml:2:14: analysis.normalize", "expected one of none | zscore | soft")
    bad("analysis:\n  normalize: {kind: zscore, c: 3}\n", "analysis.normalize.c", "kind soft only")
    bad("analysis:\n  pre: 2\n  baseline: [-3, -1]\n", "bad.yaml:3:13: analysis.baseline", "inside the aligned rows")
    bad("analysis:\n  pre: 2\n  baseline: {windw: [-2, -1]}\n", "analysis.baseline.windw", "did you mean 'window'")
    bad("analysis:\n  pre: 2\n  baseline: {window: [-2, -1], mode: divide}\n", "analysis.baseline.mode",
        "expected one of subtract | zscore")
    bad("analysis:\n  pca_center: cc\n", "bad.yaml:2:15: analysis.pca_center", "expected one of mean | cross_condition")
    bad("analysis:\n  generalization: yes please\n", "analysis.generalization", "expected true or false")
    bad("analysis:\n  cv_repeats: 0\n", "analysis.cv_repeats", "expected an integer from 1 to 1000, got 0")
    bad("analysis:\n  cluster_alpha: 1\n", "bad.yaml:2:18: analysis.cluster_alpha", "expected a number > 0.0 and < 1.0, got 1")
    bad("analysis:\n  threads: -1\n", "analysis.threads", "expected an integer from 0 to 1024, got -1")
    bad("analysis:\n  time_resolve: true\n", "analysis.time_resolve", "did you mean 'time_resolved'")
    print("bad input: OK")


def main():
    if not os.path.exists(RIG):
        print(f"SKIP: {RIG} not built")
        sys.exit(77)
    with tempfile.TemporaryDirectory(prefix="rig-field-") as tmp:
        rec = os.path.join(tmp, "planted.h5")
        planted(rec)
        check_decoding(tmp, rec)
        check_baseline_pca_maxstat(tmp, rec)
        check_timecourse(tmp, rec)
        check_threads(tmp, rec)
        check_readme(tmp, rec)
        check_errors(tmp, rec)
    print("OK")


if __name__ == "__main__":
    main()
