#!/usr/bin/env python3
"""rig analyze against an independent numpy/scipy computation on a synthetic recording (made
with h5py to docs/FORMAT.md): PSTH means/SD/SEM/counts with masking, smoothing and bins,
window means, d', SI, AUC, t, ANOVA F/p/eta^2, BH-FDR q, PCA explained variance and decoding
accuracy. Then ground truth (planted selective neurons come out on top; null p-values are
uniform), figures, and bad input named in clear errors."""
import csv
import os
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
SITES = [("gpt_neox.layers.0.mlp.act", "output", 12, None),
         ("gpt_neox.layers.1.mlp.act", "output", 10, [3, 5, 7, 8, 11, 13, 17, 19, 23, 29])]
PLANTED = [0, 1, 2]  # columns of layer 1 that respond to condition A in rows 1..3 after response onset


def rig(*args, check=True):
    p = subprocess.run([RIG, *args], capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"rig {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p


def synthetic(path, n_per_cond=24, conds=("A", "B", "C"), seed=1, planted=True, sites=SITES):
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(n_per_cond * len(conds)):
        c = conds[i % len(conds)]
        ng = int(rng.integers(0, 7))  # some trials generate nothing: no response_onset
        trials.append({"condition": c, "n_prompt": int(rng.integers(2, 7)), "n_generated": ng})
    noise = np.random.default_rng(seed + 1)

    def fill(e, t, trial, rows):
        x = noise.normal(0, 1, (rows, sites[e][2])).astype(np.float32)
        x += np.arange(sites[e][2], dtype=np.float32) * 0.1  # per-neuron offsets
        if planted and e == 1 and trial["condition"] == "A":
            onset = trial["n_prompt"]
            for r in range(onset + 1, min(rows, onset + 4)):
                x[r, PLANTED] += 3.0
        return x

    make_recording(path, trials, sites, fill, events={"third": {i: 2 for i in range(0, len(trials), 2)}})
    return trials


# ---------- the reference: numpy / scipy, from the raw rows ----------

def kernel(kind, width):
    if kind == "boxcar":
        w = int(width)
        return -((w - 1) // 2), np.ones(w)
    if kind == "gaussian":
        half = int(np.ceil(3 * width))
        d = np.arange(-half, half + 1)
        return -half, np.exp(-0.5 * d * d / width ** 2)
    return 0, np.ones(1)


def reference(path, site, cfg, conds):
    with h5py.File(path, "r") as f:
        t = f["trials"]
        start, stop = t["row_start"][:], t["row_stop"][:]
        npr, ngen = t["n_prompt_tokens"][:], t["n_generated"][:]
        cond = t["condition"].asstr()[:]
        x = f[f"recordings/{site}/output"][:].astype(np.float64)
    pre, post, b = cfg["pre"], cfg["post"], cfg["bin"]
    L = pre + post + 1
    k0, w = kernel(cfg["kind"], cfg["width"])
    nb = (L + b - 1) // b
    per = {c: [] for c in conds}   # condition -> list of [nb, W] with NaN
    win = {c: [] for c in conds}
    for i in range(len(start)):
        if cond[i] not in conds or ngen[i] == 0:
            continue
        ev = start[i] + npr[i]
        A = np.full((L, x.shape[1]), np.nan)
        for a in range(L):
            r = ev - pre + a
            if start[i] <= r < stop[i]:
                A[a] = x[r]
        S = np.full_like(A, np.nan)
        for a in range(L):
            if np.isnan(A[a, 0]):
                continue
            num, den = 0.0, 0.0
            for j, wt in enumerate(w):
                bb = a + k0 + j
                if 0 <= bb < L and not np.isnan(A[bb, 0]):
                    num = num + wt * A[bb]
                    den += wt
            S[a] = num / den
        B = np.full((nb, x.shape[1]), np.nan)
        for j in range(nb):
            seg = S[j * b:min((j + 1) * b, L)]
            seg = seg[~np.isnan(seg[:, 0])]
            if len(seg):
                B[j] = seg.mean(0)
        per[cond[i]].append(B)
        ws, we = cfg["window"]
        seg = A[ws + pre:we + pre + 1]
        seg = seg[~np.isnan(seg[:, 0])]
        if len(seg):
            win[cond[i]].append(seg.mean(0))
    return per, {c: np.array(v) for c, v in win.items()}


def close(name, got, want, rtol=1e-5, atol=1e-9):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{name}: NaN pattern differs\n{got}\n{want}"
    m = ~np.isnan(want)
    err = np.max(np.abs(got[m] - want[m]) / (np.abs(want[m]) + atol / rtol)) if m.any() else 0
    assert err <= rtol, f"{name}: max relative error {err:.3g} > {rtol}"
    print(f"  {name}: OK (max rel err {err:.2g})")


def bh(p):
    p = np.asarray(p, float)
    q = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    order = np.argsort(pv, kind="stable")
    m = len(pv)
    adj = pv[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1)
    q[ok] = out
    return q


def check_numbers(tmp):
    rec = os.path.join(tmp, "rec.h5")
    synthetic(rec)
    cfg = {"pre": 2, "post": 5, "bin": 2, "kind": "gaussian", "width": 1.0, "window": (1, 3)}
    yaml = os.path.join(tmp, "a.yaml")
    with open(yaml, "w") as f:
        f.write("analysis:\n  event: response_onset\n  pre: 2\n  post: 5\n  bin: 2\n"
                "  smoothing: {kind: gaussian, width: 1.0}\n  window: [1, 3]\n  contrast: [A, B]\n"
                "  permutations: 500\n  seed: 7\n  folds: 4\n  pca_components: 3\n  chunk_rows: 40\n")
    out = os.path.join(tmp, "res.h5")
    rig("analyze", rec, "-c", yaml, "-o", out)
    conds = ["A", "B", "C"]
    with h5py.File(out, "r") as f:
        assert f.attrs["format"] == "rig-analysis"
        assert list(f["conditions/name"].asstr()[:]) == conds
        all_p, all_pp, got_q, got_pq = [], [], [], []
        for si, (site, _, width, neurons) in enumerate(SITES):
            print(f"{site}:")
            g = f[f"sites/{site}/output"]
            assert list(g["neuron"][:]) == (neurons or list(range(width)))
            per, win = reference(rec, site, cfg, conds)
            for c in conds:
                arr = np.array(per[c])                     # [trials, nb, W]
                n = (~np.isnan(arr[:, :, 0])).sum(0)
                assert list(g[f"psth/{c}/n"][:]) == list(n), (c, g[f"psth/{c}/n"][:], n)
                assert (n < len(arr)).any(), "the test should have masked bins"
                with np.errstate(all="ignore"):
                    mean = np.nanmean(arr, 0)
                    sd = np.nanstd(arr, 0, ddof=1)
                sd[n < 2] = np.nan
                close(f"psth {c} mean", g[f"psth/{c}/mean"][:], mean)
                close(f"psth {c} sd", g[f"psth/{c}/sd"][:], sd)
                close(f"psth {c} sem", g[f"psth/{c}/sem"][:], sd / np.sqrt(n)[:, None])
            a, b_ = win["A"], win["B"]
            close("window mean", g["window/mean"][:], np.array([win[c].mean(0) for c in conds]))
            na, nb_ = len(a), len(b_)
            sp = np.sqrt(((na - 1) * a.var(0, ddof=1) + (nb_ - 1) * b_.var(0, ddof=1)) / (na + nb_ - 2))
            sel = g["selectivity"]
            close("d'", sel["d_prime"][:], (a.mean(0) - b_.mean(0)) / sp)
            ma, mb = a.mean(0), b_.mean(0)
            close("selectivity index", sel["selectivity_index"][:], (ma - mb) / (np.abs(ma) + np.abs(mb)))
            u = np.array([stats.mannwhitneyu(a[:, j], b_[:, j]).statistic for j in range(a.shape[1])])
            close("AUC", sel["auc"][:], u / (na * nb_))
            tt = stats.ttest_ind(a, b_)
            close("t", sel["t"][:], tt.statistic)
            close("t p", sel["t_p"][:], tt.pvalue)
            fo = stats.f_oneway(*[win[c] for c in conds])
            close("ANOVA F", sel["anova_f"][:], fo.statistic)
            close("ANOVA p", sel["anova_p"][:], fo.pvalue)
            allw = np.concatenate([win[c] for c in conds])
            ssb = sum(len(win[c]) * (win[c].mean(0) - allw.mean(0)) ** 2 for c in conds)
            close("eta^2", sel["eta2"][:], ssb / ((allw - allw.mean(0)) ** 2).sum(0))
            pp = sel["perm_p"][:]
            assert np.all((pp >= 1 / 501 - 1e-12) & (pp <= 1)), pp
            # The permutation p estimates the F test's p (exchangeable noise): within 3 binomial SDs.
            sdp = np.sqrt(fo.pvalue * (1 - fo.pvalue) / 500) + 2 / 501
            assert np.all(np.abs(pp - fo.pvalue) <= 3 * sdp + 1e-9), (pp, fo.pvalue)
            all_p.append(fo.pvalue)
            all_pp.append(pp)
            got_q.append(sel["anova_q"][:])
            got_pq.append(sel["perm_q"][:])
            # PCA of the condition-averaged trajectories.
            M = np.concatenate([np.nanmean(np.array(per[c]), 0) for c in conds])
            M = M[~np.isnan(M).any(1)]
            s = np.linalg.svd(M - M.mean(0), compute_uv=False)
            close("PCA explained variance", g["pca/explained_variance"][:], (s ** 2 / (len(M) - 1))[:3])
            close("PCA explained variance ratio", g["pca/explained_variance_ratio"][:], (s ** 2 / (s ** 2).sum())[:3])
            # Decoding: nearest centroid with rig's folds (from /trials/fold).
            fold = f["trials/fold"][:]
            inc = f["trials/included"][:].astype(bool)
            tc = f["trials/condition"].asstr()[:]
            order = [i for i in range(len(fold)) if inc[i]]
            trials_b = {}
            for c in conds:  # per[c] is in trial order of that condition
                idx = [i for i in order if tc[i] == c]
                for i, B in zip(idx, per[c]):
                    trials_b[i] = B
            nbins = len(f["bins/start"][:])
            acc = np.full(nbins, np.nan)
            for j in range(nbins):
                correct = tested = 0
                for i in order:
                    x = trials_b[i][j]
                    if np.isnan(x[0]):
                        continue
                    best, bd, cands = None, np.inf, 0
                    for c in conds:
                        tr = [trials_b[k][j] for k in order if tc[k] == c and fold[k] != fold[i]
                              and not np.isnan(trials_b[k][j][0])]
                        if not tr:
                            continue
                        cands += 1
                        d = ((x - np.mean(tr, 0)) ** 2).sum()
                        if d < bd:
                            bd, best = d, c
                    if cands >= 2:
                        tested += 1
                        correct += best == tc[i]
                if tested:
                    acc[j] = correct / tested
            close("decoding accuracy", g["decoding/accuracy"][:], acc, rtol=1e-12)
            assert abs(f.attrs["chance"] - 1 / 3) < 1e-12
        close("ANOVA q (BH over all neurons)", np.concatenate(got_q), bh(np.concatenate(all_p)))
        close("permutation q (BH)", np.concatenate(got_pq), bh(np.concatenate(all_pp)))
        # Folds are stratified: each condition's trials spread over all 4 folds.
        for c in conds:
            fc = fold[inc & (tc == c)]
            assert np.bincount(fc).max() - np.bincount(fc).min() <= 1, (c, np.bincount(fc))
    # Ground truth: the planted neurons top the CSV, with the smallest possible permutation p.
    rows = list(csv.DictReader(open(os.path.join(tmp, "res.selective.csv"))))
    top = {(r["site"], int(r["neuron"])) for r in rows[:3]}
    want = {(SITES[1][0], SITES[1][3][j]) for j in PLANTED}
    assert top == want, (top, want)
    assert all(r["preferred"] == "A" and abs(float(r["perm_p"]) - 1 / 501) < 1e-9 and float(r["d_prime"]) > 1.5 for r in rows[:3]), rows[:3]
    print("ground truth: planted neurons are the 3 most selective: OK")
    # The same analysis twice gives the same numbers (seeded permutations and folds).
    out2 = os.path.join(tmp, "res2.h5")
    rig("analyze", rec, "-c", yaml, "-o", out2)
    with h5py.File(out, "r") as f1, h5py.File(out2, "r") as f2:
        for k in ("selectivity/perm_p", "decoding/accuracy"):
            d = f"sites/{SITES[1][0]}/output/{k}"
            assert np.array_equal(f1[d][:], f2[d][:], equal_nan=True), k
    return rec, out, yaml


def check_null(tmp):
    rec = os.path.join(tmp, "null.h5")
    sites = [("gpt_neox.layers.0.mlp.act", "output", 300, None)]
    synthetic(rec, n_per_cond=20, conds=("A", "B"), seed=5, planted=False, sites=sites)
    yaml = os.path.join(tmp, "null.yaml")
    with open(yaml, "w") as f:
        f.write("event: prompt_onset\npost: 3\npermutations: 999\nfolds: 0\nseed: 3\n")
    out = os.path.join(tmp, "null_res.h5")
    rig("analyze", rec, "-c", yaml, "-o", out)
    with h5py.File(out, "r") as f:
        sel = f[f"sites/{sites[0][0]}/output/selectivity"]
        for col in ("anova_p", "perm_p", "t_p"):
            ks = stats.kstest(sel[col][:], "uniform")
            print(f"null {col}: KS D={ks.statistic:.3f} p={ks.pvalue:.3f}")
            assert ks.pvalue > 0.001, (col, ks)
        assert np.nanmin(sel["anova_q"][:]) > 0.05, "no false discoveries expected at q < 0.05 on null data"


def check_plots(tmp, rec, res):
    d = os.path.join(tmp, "figs")
    rig("plot", res, "--kind", "all", "-o", d)
    for name in ("heatmap", "psth", "selectivity", "dprime"):
        p = os.path.join(d, name + ".png")
        head = open(p, "rb").read(8)
        assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(p) > 5000, (p, os.path.getsize(p))
    svg = os.path.join(tmp, "psth.svg")
    rig("plot", res, "--kind", "psth", "--site", SITES[1][0], "--neurons", "0,1,5", "--condition", "A",
        "--condition", "B", "-o", svg)
    assert "<svg" in open(svg).read(500)
    trial_png = os.path.join(tmp, "trial.png")
    rig("plot", rec, "--kind", "heatmap", "--trial", "3", "--site", SITES[0][0], "-o", trial_png)
    assert os.path.getsize(trial_png) > 5000
    print("figures: OK")


def check_errors(tmp, rec, res):
    def bad(yaml_text, code, *needles):
        y = os.path.join(tmp, "bad.yaml")
        with open(y, "w") as f:
            f.write(yaml_text)
        p = rig("analyze", rec, "-c", y, "-o", os.path.join(tmp, "bad.h5"), check=False)
        assert p.returncode == code, (yaml_text, p.returncode, p.stderr)
        for n in needles:
            assert n in p.stderr, (n, p.stderr)

    bad("analysis:\n  sites:\n    - gpt_neox.layers.9.mlp.act\n", 2, "bad.yaml:3:7: analysis.sites.0",
        "site 'gpt_neox.layers.9.mlp.act' is not recorded", "gpt_neox.layers.0.mlp.act/output")
    bad("analysis:\n  event: sure\n", 2, "bad.yaml:2:10: analysis.event", "event 'sure' is not in", "third")
    bad("analysis:\n  conditions: [A, Z]\n", 2, "bad.yaml:2:15: analysis.conditions", "condition 'Z' has no trials")
    bad("analysis:\n  contrast: [A, Q]\n", 2, "analysis.contrast", "contrast condition 'Q'")
    bad("analysis:\n  bins: 3\n", 2, "bad.yaml:2:3: analysis.bins", "did you mean 'bin'")
    bad("analysis:\n  pre: 2\n  window: [-5, 1]\n", 2, "analysis.window", "inside the aligned rows")
    p = rig("plot", res, "--kind", "psth", "--site", "nope", "-o", os.path.join(tmp, "x.png"), check=False)
    assert p.returncode == 4 and "site 'nope' is not in the results" in p.stderr, p.stderr
    p = rig("plot", res, "--kind", "psth", "--condition", "Z", "-o", os.path.join(tmp, "x.png"), check=False)
    assert p.returncode == 4 and "condition 'Z'" in p.stderr, p.stderr
    p = rig("analyze", os.path.join(tmp, "a.yaml"), check=False)
    assert p.returncode == 4, p.stderr
    print("bad input: OK")


def main():
    if not os.path.exists(RIG):
        print(f"SKIP: {RIG} not built")
        sys.exit(77)
    with tempfile.TemporaryDirectory(prefix="rig-analysis-") as tmp:
        rec, res, _ = check_numbers(tmp)
        check_null(tmp)
        check_plots(tmp, rec, res)
        check_errors(tmp, rec, res)
    print("OK")


if __name__ == "__main__":
    main()
