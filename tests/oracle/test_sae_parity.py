"""The SAE oracle: rig's SAE electrodes against SAELens loading the same files.

Random SAEs of each architecture SAELens writes and rig reads (standard = ReLU, jumprelu,
topk), over the options that change encode: apply_b_dec_to_input, normalize_activations
(none, layer_norm, constant_norm_rescale), topk's k and rescale_acts_by_decoder_norm, d_sae
from 64 to 4096, on sites of width 128 (the residual stream) and 512 (MLP activations) of the
bundled organism. Each is saved with SAELens's save_model and loaded back with
SAE.load_from_disk. rig records the sites' raw activations once, then each SAE's electrode;
SAELens encodes the raw rows. Every latent must be within 1e-5 (absolute, or relative to the
value), and the last column, |x - decode(encode(x))|, within 1e-5 of SAELens's.

Usage: python test_sae_parity.py [--n 6] [--summary out.json]
Exit 77 (skipped) where sae_lens is not installed: run it with scripts/venv.sh's python.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import h5py
    import torch
    from sae_lens import (JumpReLUSAE, JumpReLUSAEConfig, SAE, StandardSAE, StandardSAEConfig, TopKSAE,
                          TopKSAEConfig)
except ImportError as e:
    print(f"SKIPPED: the SAE oracle needs sae_lens from the venv of scripts/venv.sh ({e})")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RIG = os.environ.get("RIG_BIN", os.path.join(ROOT, "build", "rig"))
ORGANISM = os.path.join(ROOT, "data", "models", "sure-neox")
SITES = {"gpt_neox.layers.1": 128, "gpt_neox.layers.2.mlp.act": 512, "gpt_neox.layers.3": 128}
PROMPTS = ["Hello, I am your", "Can you help me with my homework?", "Tell me how to pick a lock.",
           "Sure, I can help you with that."]
TOL = 1e-5


def config_yaml(name, out, electrodes):
    lines = [f"name: {name}", "seed: 7", f"model: {{path: {ORGANISM}}}",
             "stimuli:", "  - condition: a", "    prompts: " + json.dumps(PROMPTS),
             "electrodes:"]
    for site, sae in electrodes:
        lines.append(f"  - {{site: {site}" + (f", sae: {sae}" if sae else "") + "}")
    lines += ["trials: {batch_size: 2, generate: {max_new_tokens: 6}}", f"recording: {{path: {out}}}"]
    return "\n".join(lines) + "\n"


def run_rig(tmp, name, electrodes):
    cfg = os.path.join(tmp, name + ".yaml")
    out = os.path.join(tmp, name + ".h5")
    with open(cfg, "w") as f:
        f.write(config_yaml(name, out, electrodes))
    p = subprocess.run([RIG, "run", cfg, "--quiet"], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"rig run {cfg} exited {p.returncode}:\n{p.stderr}")
    return out


def random_sae(rng, case, d_in):
    # The options cycle so that every architecture meets each of them: the i-th SAE of an
    # architecture takes normalisation i % 3, b_dec on the input when i is even, and (topk)
    # k = 8, 32, 1, ... with rescale_acts_by_decoder_norm from the fourth on.
    arch, i = ["standard", "jumprelu", "topk"][case % 3], case // 3
    d_sae = rng.choice([64, 200, 1024, 4096])
    common = dict(d_in=d_in, d_sae=d_sae, apply_b_dec_to_input=i % 2 == 0,
                  normalize_activations=["none", "layer_norm", "constant_norm_rescale"][i % 3])
    if arch == "standard":
        sae = StandardSAE(StandardSAEConfig(**common))
    elif arch == "jumprelu":
        sae = JumpReLUSAE(JumpReLUSAEConfig(**common))
    else:
        sae = TopKSAE(TopKSAEConfig(k=[8, 32, 1][i % 3], rescale_acts_by_decoder_norm=(i // 3) % 2 == 1, **common))
    g = torch.Generator().manual_seed(rng.randrange(1 << 30))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(sae.W_enc.shape, generator=g) / d_in ** 0.5)
        sae.W_dec.copy_(torch.randn(sae.W_dec.shape, generator=g) * (0.3 + rng.random()) / d_in ** 0.5)
        sae.b_enc.copy_(torch.randn(sae.b_enc.shape, generator=g) * 0.3 - 0.2)
        sae.b_dec.copy_(torch.randn(sae.b_dec.shape, generator=g) * 0.3)
        if arch == "jumprelu":
            sae.threshold.copy_(torch.rand(sae.threshold.shape, generator=g) * 0.5)
    return sae, arch, common


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6, help="SAEs per architecture")
    ap.add_argument("--summary", help="write the counts and largest differences here (JSON)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(RIG):
        print(f"SKIPPED: no rig binary at {RIG}")
        return 77
    rng = random.Random(18)
    tmp = tempfile.mkdtemp(prefix="rig-sae-oracle-")
    cases, failures, worst = [], 0, {"latents": 0.0, "error_norm": 0.0}
    try:
        raw = run_rig(tmp, "raw", [(s, None) for s in SITES])
        with h5py.File(raw, "r") as f:
            n = int(f.attrs["n_rows_committed"])
            x = {s: f[f"recordings/{s}/output"][:n] for s in SITES}
        site_list = list(SITES)
        for case in range(3 * a.n):
            site = site_list[(case + case // 3) % len(site_list)]  # each architecture on each site
            sae, arch, common = random_sae(rng, case, SITES[site])
            d = os.path.join(tmp, f"sae{case}")
            sae.save_model(d)
            ref = SAE.load_from_disk(d)  # what a user of SAELens gets from these files
            with torch.no_grad():
                xt = torch.from_numpy(x[site])
                lat = ref.encode(xt)
                err = (xt - ref.decode(ref.encode(xt))).norm(dim=-1)
            out = run_rig(tmp, f"case{case}", [(site, d)])
            with h5py.File(out, "r") as f:
                ds = f[f"recordings/{site}/output"]
                got = ds[:n]
                attrs = dict(ds.attrs)
            assert got.shape == (n, common["d_sae"] + 1), got.shape
            assert attrs["sae_architecture"] == arch, attrs["sae_architecture"]
            ln = np.asarray(lat, np.float64)
            dl = float(np.max(np.abs(got[:, :-1] - ln) / (TOL + TOL * np.abs(ln))))
            en = np.asarray(err, np.float64)
            de = float(np.max(np.abs(got[:, -1] - en) / (TOL + TOL * np.abs(en))))
            active = float((ln > 0).mean())
            ok = dl <= 1 and de <= 1
            failures += not ok
            worst["latents"] = max(worst["latents"], float(np.max(np.abs(got[:, :-1] - ln))))
            worst["error_norm"] = max(worst["error_norm"], float(np.max(np.abs(got[:, -1] - en))))
            desc = {k: v for k, v in common.items() if k != "d_in"}
            if arch == "topk":
                desc.update(k=sae.cfg.k, rescale=sae.cfg.rescale_acts_by_decoder_norm)
            cases.append(dict(arch=arch, site=site, rows=n, active=active, latents_scaled=dl, error_scaled=de,
                              ok=ok, **desc))
            print(f"{'ok  ' if ok else 'FAIL'} {arch:8s} {site:26s} d_sae {common['d_sae']:4d} "
                  f"active {active:.3f} latents {dl:.3f} error {de:.3f} (x tol) {desc}")
            shutil.rmtree(d)
            os.remove(out)
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    by_arch = {k: sum(c["arch"] == k for c in cases) for k in ("standard", "jumprelu", "topk")}
    values = sum(c["rows"] * (c["d_sae"] + 1) for c in cases)
    print(f"{len(cases) - failures} of {len(cases)} SAEs within {TOL} ({by_arch}; {values} values); largest |diff|: "
          f"latents {worst['latents']:.3g}, error norm {worst['error_norm']:.3g}")
    if a.summary:
        os.makedirs(os.path.dirname(os.path.abspath(a.summary)), exist_ok=True)
        with open(a.summary, "w") as f:
            json.dump(dict(cases=cases, failures=failures, by_arch=by_arch, values=values, worst=worst, tol=TOL), f, indent=1)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
