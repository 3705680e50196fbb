"""Bytes per row of an SAE electrode's recording, for docs/FORMAT.md ("SAE electrodes").

Random TopK SAEs (SAELens's TopKSAE, saved with save_model) of 16,384 and 65,536 latents with
k = 64 active per row (the L0 of published SAEs is 20-150), on layer 2's output of the bundled
organism; rig records the 30 + 30 quickstart prompts with 12 greedy tokens each, with
recording.compression none, gzip:1 and gzip:4, and float32 / float16. Prints the stored bytes
per row (h5py's get_storage_size / rows) and the file sizes.

Usage: $(scripts/venv.sh)/bin/python bench/sae_storage.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import torch
from sae_lens import TopKSAE, TopKSAEConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RIG = os.environ.get("RIG_BIN", os.path.join(ROOT, "build", "rig"))
SITE = "gpt_neox.layers.2"


def lines(path, n):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip()][:n]


def main():
    tmp = tempfile.mkdtemp(prefix="rig-sae-storage-")
    stimuli = [{"condition": "help", "prompts": lines(os.path.join(ROOT, "experiments/quickstart/help.txt"), 30)},
               {"condition": "refuse", "prompts": lines(os.path.join(ROOT, "experiments/quickstart/refuse.txt"), 30)}]
    try:
        for d_sae in (16384, 65536):
            torch.manual_seed(0)
            sae = TopKSAE(TopKSAEConfig(d_in=128, d_sae=d_sae, k=64))
            with torch.no_grad():
                sae.b_enc.normal_(0, 0.1)
            sdir = os.path.join(tmp, f"sae{d_sae}")
            sae.save_model(sdir)
            for dtype in ("float32", "float16"):
                for comp in ("none", "gzip:1", "gzip:4"):
                    out = os.path.join(tmp, "r.h5")
                    cfg = {"name": "s", "seed": 0, "model": {"path": os.path.join(ROOT, "data/models/sure-neox")},
                           "stimuli": stimuli, "electrodes": [{"site": SITE, "sae": sdir}],
                           "trials": {"batch_size": 16, "generate": {"max_new_tokens": 12, "greedy": True}},
                           "recording": {"path": out, "dtype": dtype, "compression": comp}}
                    p = os.path.join(tmp, "s.yaml")
                    json.dump(cfg, open(p, "w"))
                    subprocess.run([RIG, "run", p, "--quiet", "--force"], check=True)
                    with h5py.File(out, "r") as f:
                        n = int(f.attrs["n_rows_committed"])
                        ds = f[f"recordings/{SITE}/output"]
                        per_row = ds.id.get_storage_size() / n
                    print(f"d_sae {d_sae:6d} k 64 {dtype:8s} {comp:7s}: {per_row:9.1f} bytes/row "
                          f"({n} rows, file {os.path.getsize(out) / 1e6:.2f} MB)", flush=True)
                    os.remove(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
