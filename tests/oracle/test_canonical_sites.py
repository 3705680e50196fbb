"""One config, three architectures: configs/canonical_sites.yaml (electrodes and a stimulation
named by TransformerLens's hook names) run unchanged on seeded random tiny GPT-NeoX (parallel
residual, as Pythia), GPT-2 and Llama models; only --set model.path differs.

Each recording must hold the same names (layer numbers aside), each at the HF site and side
written below (an independent statement of what the names mean, not rig's table), with
the width of that site, and values equal to transformers' forward hooks on those sites over
the trial's tokens (its prompt and what rig generated), the stimulated trial with the same
scale applied by a hook: within 1e-4 (absolute or relative) at float32.

Exit 77 (skipped) without the venv of scripts/venv.sh.
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    import h5py
    import torch
    import transformers
except ImportError as e:
    print(f"SKIPPED: needs the venv of scripts/venv.sh ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_record  # noqa: E402
import test_random_configs as oracle  # noqa: E402

transformers.logging.set_verbosity_error()
warnings.filterwarnings("ignore")

CONFIG = os.path.join(oracle.ROOT, "configs", "canonical_sites.yaml")
# name (with {i}) -> (HF site with {i}, side), per architecture
MEANS = {
    "gpt_neox": {"hook_embed": ("gpt_neox.embed_in", "output"),
                 "blocks.{i}.hook_resid_pre": ("gpt_neox.layers.{i}", "input"),
                 "blocks.{i}.hook_resid_post": ("gpt_neox.layers.{i}", "output"),
                 "blocks.{i}.hook_mlp_out": ("gpt_neox.layers.{i}.mlp", "output"),
                 "blocks.{i}.mlp.hook_pre": ("gpt_neox.layers.{i}.mlp.act", "input"),
                 "blocks.{i}.mlp.hook_post": ("gpt_neox.layers.{i}.mlp.act", "output"),
                 "unembed.hook_in": ("gpt_neox.final_layer_norm", "output")},
    "gpt2": {"hook_embed": ("transformer.wte", "output"),
             "blocks.{i}.hook_resid_pre": ("transformer.h.{i}", "input"),
             "blocks.{i}.hook_resid_post": ("transformer.h.{i}", "output"),
             "blocks.{i}.hook_mlp_out": ("transformer.h.{i}.mlp", "output"),
             "blocks.{i}.mlp.hook_pre": ("transformer.h.{i}.mlp.act", "input"),
             "blocks.{i}.mlp.hook_post": ("transformer.h.{i}.mlp.act", "output"),
             "unembed.hook_in": ("transformer.ln_f", "output")},
    "llama": {"hook_embed": ("model.embed_tokens", "output"),
              "blocks.{i}.hook_resid_pre": ("model.layers.{i}", "input"),
              "blocks.{i}.hook_resid_post": ("model.layers.{i}", "output"),
              "blocks.{i}.hook_mlp_out": ("model.layers.{i}.mlp", "output"),
              "blocks.{i}.mlp.hook_pre": ("model.layers.{i}.mlp.act_fn", "input"),
              "blocks.{i}.mlp.hook_post": ("model.layers.{i}.mlp.down_proj", "input"),
              "unembed.hook_in": ("model.norm", "output")},
}


def generic(name):
    return re.sub(r"^blocks\.\d+\.", "blocks.{i}.", name)


def layer_of(name):
    m = re.match(r"^blocks\.(\d+)\.", name)
    return m.group(1) if m else None


def check(arch, d, work, failures):
    out = os.path.join(work, arch + ".h5")
    p = subprocess.run([oracle.RIG, "run", CONFIG, "--set", f"model.path={d}", "--out", out, "--force", "--quiet"],
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        failures.append(f"{arch}: rig run exited {p.returncode}: {p.stderr.strip()}")
        return None, 0
    model, _ = hf_record.load(d, "float32")
    L = model.config.num_hidden_layers
    compared = 0
    with h5py.File(out, "r") as f:
        el = f["electrodes"]
        rows = list(zip(el["alias"].asstr()[:], el["site"].asstr()[:], el["side"].asstr()[:], el["width"][:]))
        names = sorted({generic(a) for a, *_ in rows})
        per_layer = {n: sorted(layer_of(a) for a, *_ in rows if generic(a) == n) for n in names}
        for n, layers in per_layer.items():  # every layer of the blocks.* electrodes
            if n.startswith("blocks.") and n != "blocks.{i}.mlp.hook_pre" and layers != [str(i) for i in range(L)]:
                failures.append(f"{arch}: {n} recorded in layers {layers}, the model has {L}")
        for alias, site, side, width in rows:
            want = MEANS[arch].get(generic(alias))
            i = layer_of(alias)
            if want is None or (want[0].replace("{i}", i or ""), want[1]) != (site, side):
                failures.append(f"{arch}: {alias} recorded from {site} {side}, expected {want}")
        trials = f["trials"]
        ids = f["tokens/token_id"][:]
        stim = trials["stimulation"].asstr()[:]
        act = MEANS[arch]["blocks.{i}.mlp.hook_post"]
        hooks = hf_record.Hooks(model)
        for t, (a, b) in enumerate(zip(trials["row_start"][:], trials["row_stop"][:])):
            handles = []
            if stim[t] == "halve_mlp0":  # the config's stimulation, as a hook on the same tensor
                mod = dict(model.named_modules())[act[0].replace("{i}", "0")]
                if act[1] == "output":
                    handles.append(mod.register_forward_hook(lambda m, args, y: y * 0.5, prepend=True))
                else:
                    handles.append(mod.register_forward_pre_hook(lambda m, args: (args[0] * 0.5, *args[1:]),
                                                                 prepend=True))
            with torch.no_grad():
                model(torch.tensor(ids[a:b][None]))
            for h in handles:
                h.remove()
            ref = hooks.take()
            for alias, site, side, width in rows:
                ds = f[f"recordings/{site}/{side}"]
                x = ref[site]["in" if side == "input" else "out"]
                if "neurons" in ds.attrs:
                    x = x[:, ds.attrs["neurons"]]
                ours = ds[a:b]
                if ours.shape != x.shape:
                    failures.append(f"{arch}: trial {t} {alias}: rig {ours.shape} vs HF {x.shape}")
                    continue
                err = np.abs(ours - x)
                if (err > 1e-4 + 1e-4 * np.abs(x)).any():
                    failures.append(f"{arch}: trial {t} {alias} ({site} {side}): max |rig - HF| = {err.max():.3g}")
                compared += 1
        hooks.remove()
    return names, compared


def main():
    if not os.path.exists(oracle.RIG):
        raise SystemExit(f"rig not found at {oracle.RIG} (set RIG_BIN)")
    work = tempfile.mkdtemp(prefix="rig-canonical-")
    failures, names_of, total = [], {}, 0
    try:
        for arch, k in (("gpt_neox", 0), ("gpt2", 0), ("llama", 3)):  # NeoX k=0: parallel residual, as Pythia
            d5, _, stored, cfg5 = oracle.make_model(arch, k, 9100 + k, work)
            if stored != "float32":
                raise SystemExit(f"{arch}-{k}: expected a float32 checkpoint, got {stored}")
            names_of[arch], n = check(arch, d5, work, failures)
            total += n
            print(f"{arch}: {n} (trial, electrode) comparisons; names {names_of[arch]}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len({tuple(v or []) for v in names_of.values()}) != 1:
        failures.append(f"the three recordings hold different names: {names_of}")
    if failures:
        print(f"{len(failures)} FAILURES:")
        for x in failures[:40]:
            print("  " + x)
        return 1
    print(f"canonical sites: one config, 3 architectures, {total} comparisons with transformers: all within 1e-4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
