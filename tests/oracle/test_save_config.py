"""config.json as rig writes it, against transformers: for every architecture rig supports
(`rig inspect --architectures`), N of test_random_configs.py's seeded random models (rotary
scaling, sliding windows, soft-capping, biases, ties, stored dtypes), each in transformers 5's
config.json and the 4.x keys. rig reads each directory and writes it again (resave_model:
ModelConfig::from_file, then save_model_dir); transformers 5.17 must load rig's directory
(from_pretrained) to the same model: every config value rig wrote equal to the one transformers
read from the original (rope_parameters and layer_types always compared), and the logits of
a random batch within 1e-4 (absolute or relative).

Usage: python test_save_config.py [--n 5] [--arch NAME] [--keep DIR]
Exit 77 (skipped) where transformers is not installed: run it with scripts/venv.sh's python.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import torch
    import transformers
except ImportError as e:
    print(f"SKIPPED: the oracle needs the venv of scripts/venv.sh ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_random_configs as trc  # noqa: E402

ROOT = trc.ROOT
RESAVE = os.environ.get("RIG_RESAVE_MODEL", os.path.join(ROOT, "build", "tests", "resave_model"))
# Written by rig with values of its own (not read from the original): no part of the model.
NOT_COMPARED = {"transformers_version", "initializer_range", "torch_dtype", "dtype", "use_cache", "rope_scaling"}
ROPE_DEFAULTS = {"beta_fast": 32.0, "beta_slow": 1.0, "truncate": True}


def load(d):
    cfg = transformers.AutoConfig.from_pretrained(d)
    # eager attention where scores are soft-capped (hf_record.load: sdpa drops the cap)
    kw = {"attn_implementation": "eager"} if getattr(cfg, "attn_logit_softcapping", None) is not None else {}
    m = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, **kw)
    return m.eval()


def rope(cfg):
    """rope_parameters as the model uses them: 4.x's 'type' alias and defaults left out."""
    rp = dict(getattr(cfg, "rope_parameters", None) or {})
    rp.pop("type", None)
    for k, v in ROPE_DEFAULTS.items():
        if rp.get(k) == v:
            rp.pop(k)
    if rp.get("original_max_position_embeddings") == getattr(cfg, "max_position_embeddings", None) \
            and rp.get("rope_type") != "llama3":
        rp.pop("original_max_position_embeddings")
    return rp


def compare(arch, src, out):
    """Differences between transformers' model from src and from rig's rewrite of it, out."""
    problems = []
    ref, ours = load(src), load(out)
    written = json.load(open(os.path.join(out, "config.json")))
    for key in sorted(set(written) - NOT_COMPARED):
        a, b = getattr(ref.config, key, "<absent>"), getattr(ours.config, key, "<absent>")
        if a != b:
            problems.append(f"{key}: transformers read {a!r} from the original, {b!r} from rig's")
    for key, f in (("rope_parameters", rope), ("layer_types", lambda c: getattr(c, "layer_types", None))):
        if f(ref.config) != f(ours.config):
            problems.append(f"{key}: {f(ref.config)!r} from the original, {f(ours.config)!r} from rig's")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, ref.config.vocab_size, (2, 9), generator=g)
    with torch.no_grad():
        la, lb = ref(ids).logits, ours(ids).logits
    worst = float(((la - lb).abs() / (1e-4 + 1e-4 * la.abs())).max())
    if worst > 1:
        problems.append(f"logits differ: max excess {worst:.3g} over 1e-4")
    return problems, worst


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5, help="random configs per architecture (5: each rope type)")
    ap.add_argument("--arch", action="append", help="only these architectures")
    ap.add_argument("--keep", help="work directory to keep (default: a temporary one, removed)")
    args = ap.parse_args()
    for exe in (trc.RIG, RESAVE):
        if not os.path.exists(exe):
            raise SystemExit(f"{exe} not found (set RIG_BIN, RIG_RESAVE_MODEL)")
    p = subprocess.run([trc.RIG, "inspect", "--architectures"], capture_output=True, text=True, check=True)
    archs = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    if args.arch:
        archs = [a for a in archs if a in args.arch]
    work = args.keep or tempfile.mkdtemp(prefix="rig-save-config-")
    os.makedirs(work, exist_ok=True)
    failures, checked, worst = [], 0, 0.0
    try:
        for arch in archs:
            for k in range(args.n):
                d5, d4, _, _ = trc.make_model(arch, k, 1000 + 17 * k, work)
                for src in (d5, d4):
                    out = src + "-rig"
                    shutil.rmtree(out, ignore_errors=True)
                    r = subprocess.run([RESAVE, src, out], capture_output=True, text=True)
                    name = os.path.basename(src)
                    if r.returncode != 0:
                        failures.append(f"{name}: resave_model failed: {r.stderr.strip()}")
                        continue
                    try:
                        problems, w = compare(arch, src, out)
                    except Exception as e:  # transformers refuses rig's file: a finding, not a crash
                        problems, w = [f"transformers cannot load rig's directory: {type(e).__name__}: {e}"], 0.0
                    worst = max(worst, w)
                    checked += 1
                    failures += [f"{name}: {x}" for x in problems]
            print(f"{arch}: {args.n} configs x 2 config.json styles", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{checked} rig-written config.json files loaded by transformers {transformers.__version__}; "
          f"worst logit excess {worst:.3g} (<= 1: within 1e-4)")
    for f in failures:
        print("FAIL", f)
    return 1 if failures or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
