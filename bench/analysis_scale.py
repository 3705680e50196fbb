#!/usr/bin/env python3
"""Scale measurement of `rig analyze` (not part of the test suite: it writes a ~5 GB file).

    /usr/bin/python3 bench/analysis_scale.py --rig build/rig --dir /tmp/rig-scale \
        [--trials 10000 --neurons 2048 --rows 64]

Builds a synthetic recording (two conditions, 20 neurons planted as selective for A in rows
8..31), runs `rig analyze` on it and a numpy/scipy reference that loads the recording whole (as
a numpy user would), each in its own process, and prints wall time and peak RSS of both, and
how far rig's numbers are from numpy's. The numpy reference computes the PSTH mean/SD, window
means, d', AUC, ANOVA F/p, BH q and PCA; it leaves out the permutation test and decoding.
"""
import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CFG = """analysis:
  event: prompt_onset
  pre: 0
  post: {post}
  bin: 1
  window: [8, 31]
  contrast: [A, B]
  permutations: {perms}
  folds: 5
  pca_components: 3
  chunk_rows: 8192
  seed: 1
"""
SITE = "gpt_neox.layers.3.mlp.act"
PLANTED = np.arange(0, 2048, 103)[:20]


def build(path, n_trials, width, rows):
    from analysis_synth import make_recording
    trials = [{"condition": "AB"[i % 2], "n_prompt": rows, "n_generated": 0} for i in range(n_trials)]
    rng = np.random.default_rng(0)
    planted = PLANTED[PLANTED < width]

    def fill(e, t, trial, n):
        x = rng.standard_normal((n, width), dtype=np.float32)
        if trial["condition"] == "A":
            x[8:32, planted] += 0.5
        return x

    make_recording(path, trials, [(SITE, "output", width, None)], fill)


def numpy_reference(rec, out):
    import h5py
    from scipy import stats
    t0 = time.time()
    with h5py.File(rec, "r") as f:
        cond = f["trials/condition"].asstr()[:]
        start = f["trials/row_start"][:]
        rows = int(f["trials/row_stop"][0] - start[0])
        x = f[f"recordings/{SITE}/output"][:]                 # the whole recording, float32
    x = x.reshape(len(cond), rows, -1)
    res = {}
    for c in ("A", "B"):
        xc = x[cond == c]
        res[f"mean_{c}"] = xc.mean(0, dtype=np.float64)
        res[f"sd_{c}"] = xc.std(0, dtype=np.float64, ddof=1)
    w = x[:, 8:32].mean(1, dtype=np.float64)                  # [trials, neurons]
    a, b = w[cond == "A"], w[cond == "B"]
    sp = np.sqrt(((len(a) - 1) * a.var(0, ddof=1) + (len(b) - 1) * b.var(0, ddof=1)) / (len(a) + len(b) - 2))
    res["d_prime"] = (a.mean(0) - b.mean(0)) / sp
    res["auc"] = stats.mannwhitneyu(a, b, axis=0).statistic / (len(a) * len(b))
    fo = stats.f_oneway(a, b, axis=0)
    res["anova_f"], res["anova_p"] = fo.statistic, fo.pvalue
    M = np.concatenate([res["mean_A"], res["mean_B"]])
    s = np.linalg.svd(M - M.mean(0), compute_uv=False)
    res["evr"] = (s ** 2 / (s ** 2).sum())[:3]
    np.savez(out, seconds=time.time() - t0, **res)


def rel(a, b):
    m = np.isfinite(b)
    return float(np.max(np.abs(a[m] - b[m]) / (np.abs(b[m]) + 1e-12)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rig", default="build/rig")
    ap.add_argument("--dir", default="/tmp/rig-scale")
    ap.add_argument("--trials", type=int, default=10000)
    ap.add_argument("--neurons", type=int, default=2048)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--permutations", type=int, default=200)
    ap.add_argument("--numpy-only", nargs=2, metavar=("REC", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.numpy_only:
        numpy_reference(*a.numpy_only)
        return
    os.makedirs(a.dir, exist_ok=True)
    rec = os.path.join(a.dir, f"scale_{a.trials}x{a.neurons}x{a.rows}.h5")
    if not os.path.exists(rec):
        t = time.time()
        build(rec, a.trials, a.neurons, a.rows)
        print(f"built {rec} ({os.path.getsize(rec) / 2**30:.2f} GiB) in {time.time() - t:.0f} s")
    cfg = os.path.join(a.dir, "scale.yaml")
    with open(cfg, "w") as f:
        f.write(CFG.format(post=a.rows - 1, perms=a.permutations))
    out = os.path.join(a.dir, "scale_results.h5")

    def measure(cmd):
        t = time.time()
        p = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"{cmd} failed:\n{p.stderr}")
        return time.time() - t, int(p.stderr.strip().splitlines()[-1]) / 1024

    rig_s, rig_mb = measure([a.rig, "analyze", rec, "-c", cfg, "-o", out])
    np_s, np_mb = measure([sys.executable, os.path.abspath(__file__), "--numpy-only", rec,
                           os.path.join(a.dir, "numpy.npz")])
    ref = np.load(os.path.join(a.dir, "numpy.npz"))
    import h5py
    with h5py.File(out, "r") as f:
        g = f[f"sites/{SITE}/output"]
        sel = g["selectivity"]
        errs = {
            "psth mean": rel(g["psth/A/mean"][:], ref["mean_A"]),
            "psth sd": rel(g["psth/B/sd"][:], ref["sd_B"]),
            "d'": rel(sel["d_prime"][:], ref["d_prime"]),
            "AUC": rel(sel["auc"][:], ref["auc"]),
            "ANOVA F": rel(sel["anova_f"][:], ref["anova_f"]),
            "ANOVA p": rel(sel["anova_p"][:], ref["anova_p"]),
            "PCA ratio": rel(g["pca/explained_variance_ratio"][:], ref["evr"]),
        }
        top = set(np.argsort(sel["anova_p"][:], kind="stable")[:20])
        acc = g["decoding/accuracy"][:]
    size = os.path.getsize(rec) / 2**30
    print(f"data: {a.trials} trials x {a.neurons} neurons x {a.rows} rows, float32, {size:.2f} GiB on disk")
    print(f"rig analyze ({a.permutations} permutations, 5-fold decoding): {rig_s:7.1f} s  peak RSS {rig_mb:7.0f} MiB")
    print(f"numpy/scipy reference (no permutations/decoding): {np_s:7.1f} s  peak RSS {np_mb:7.0f} MiB")
    print("max relative difference rig vs numpy: " + ", ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    print(f"planted neurons among the 20 smallest ANOVA p: {len(top & set(PLANTED[PLANTED < a.neurons]))}/20; "
          f"decoding accuracy in the window {np.nanmean(acc[8:32]):.3f}, outside {np.nanmean(np.r_[acc[:8], acc[32:]]):.3f}")


if __name__ == "__main__":
    main()
