"""How far transformers itself moves at float32 when it runs on a GPU instead of the CPU, next
to how far rig on that GPU is from transformers on the CPU: the noise floor behind the oracle's
--device cuda figures (docs/ORACLE.md). Forward passes over the oracle's prompts, every named
module's output, on the oracle's random configs (same seeds as test_random_configs.py).

Usage: python device_noise.py [--arch llama --arch qwen2] [--n 12] [--device cuda] [--json out.json]
Needs the venv (transformers) and a rig built with CUDA on a GPU machine (RIG_BIN).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_record  # noqa: E402
import test_random_configs as oracle  # noqa: E402


def hf_outputs(model_dir, device, text):
    model, tok = hf_record.load(model_dir, "float32")
    model.to(device)
    outs = {}

    def hook(name):
        def h(module, args, output):
            y = hf_record.first_tensor(output)
            if y is not None and y.dim() >= 2 and y.is_floating_point():
                outs[name] = y[0].detach().float().cpu().numpy().reshape(y.shape[1], -1)
        return h
    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    with torch.no_grad():
        model(tok(text, return_tensors="pt")["input_ids"].to(device))
    for h in handles:
        h.remove()
    return outs


def worst(a, b):
    """max over sites of max |a - b| / (1e-4 + 1e-4 |b|), and where."""
    w, where = 0.0, ""
    for site in b:
        if site in a and a[site].shape == b[site].shape:
            e = oracle.excess(a[site], b[site])
            if e > w:
                w, where = e, site
    return w, where


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", action="append")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json")
    args = ap.parse_args()
    p = subprocess.run([oracle.RIG, "inspect", "--architectures"], capture_output=True, text=True, check=True)
    archs = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    oracle.DEVICE = args.device
    work = tempfile.mkdtemp(prefix="rig-noise-")
    rows = []
    for arch in (args.arch or archs):
        for k in range(args.n):
            seed = 1000 * (archs.index(arch) + 1) + k
            d5, _, stored, _ = oracle.make_model(arch, k, seed, work)
            for i, text in enumerate(oracle.PROMPTS):
                cpu = hf_outputs(d5, "cpu", text)
                gpu = hf_outputs(d5, args.device, text)
                f = oracle.rig_run(d5, work, f"n-{arch}-{k}-{i}", [text], {}, max_new=0)
                rig = {s: f["recordings"][oracle.rig_site(f, arch, s)]["output"][:] for s in cpu
                       if oracle.rig_site(f, arch, s) in f["recordings"]}
                f.close()
                hf_e, hf_w = worst(gpu, cpu)
                rig_e, rig_w = worst(rig, cpu)
                rig_hf_e, _ = worst(rig, gpu)
                rows.append({"config": f"{arch}-{k}", "prompt": i, "hf_device_vs_hf_cpu": hf_e, "hf_where": hf_w,
                             "rig_device_vs_hf_cpu": rig_e, "rig_where": rig_w, "rig_device_vs_hf_device": rig_hf_e})
                print(f"{arch}-{k} p{i}: HF {args.device} vs HF cpu {hf_e:.3g} ({hf_w}); rig {args.device} vs HF cpu "
                      f"{rig_e:.3g} ({rig_w}); rig vs HF both {args.device} {rig_hf_e:.3g}", flush=True)
    summary = {key: max(r[key] for r in rows) for key in
               ("hf_device_vs_hf_cpu", "rig_device_vs_hf_cpu", "rig_device_vs_hf_device")}
    summary.update(cases=len(rows), over_1={key: sum(r[key] > 1 for r in rows) for key in summary},
                   units="max |a - b| / (1e-4 + 1e-4 |b|) over every named module's output; <= 1 is within 1e-4")
    print(json.dumps(summary, indent=1))
    if args.json:
        json.dump({"summary": summary, "rows": rows}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
