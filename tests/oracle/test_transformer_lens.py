"""rig's TransformerLens names against TransformerLens itself, on seeded random tiny models.

For every architecture rig supports, N random configs within what TransformerLens 3.9 models
(its HookedTransformerConfig is made from the saved HF config by TransformerLens's own
convert_hf_model_config, or, for Gemma 2, whose TL configs are per hub name, from the same
fields; its weights by TransformerLens's weight conversions), with TransformerLens's weight
processing off (fold_ln, center_writing_weights, center_unembed, fold_value_biases,
refactor_factored_attn_matrices all False) and use_attn_result on. `rig run` records every
alias of the model (electrodes `hook_*`, `blocks.*.hook_*`, `blocks.*.mlp.hook_*`,
`unembed.hook_*`, and with --attention `blocks.*.attn.hook_*`); TransformerLens's
run_with_cache on the same token ids must give the same values under the same names, within
1e-4 (absolute or relative) at float32.

--attention compares the sites inside attention (hook_q/k/v/rot_q/rot_k/attn_scores/pattern/
z/result); where this rig lacks them (`rig inspect --resolve blocks.0.attn.hook_z` fails) it
exits 77: skipped, not passed.

Usage: python test_transformer_lens.py [--n 3] [--arch NAME] [--attention] [--summary out.json]
Exit 77 (skipped) without the venv of scripts/venv.sh (torch, transformers, transformer-lens).
"""
import argparse
import importlib.metadata
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

try:
    import numpy as np
    import h5py
    import torch
    import transformers
    import transformer_lens.loading_from_pretrained as tl_loading
    from transformer_lens import HookedTransformer, HookedTransformerConfig
except ImportError as e:
    print(f"SKIPPED: needs the venv of scripts/venv.sh with transformer-lens ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_random_configs as oracle  # noqa: E402  (perturb, CLASSES, RIG, the tokenizer)

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore")

PROMPTS = ["Hello, I am your", "Sure, I can help you with that.", "How do I bake bread at home?"]
ATTENTION = ("hook_q", "hook_k", "hook_v", "hook_rot_q", "hook_rot_k", "hook_attn_scores", "hook_pattern",
             "hook_z", "hook_result")


def tl_config(arch, k, rng):
    """A random HF config of arch that TransformerLens models exactly: head_dim = hidden / heads
    where TL derives it so, no biases TL's conversion drops, default rope, no windows that act."""
    H = rng.choice([2, 3, 4])
    Dh = rng.choice([8, 12, 16])
    kv = [1, 2, H][k % 3]
    L = rng.choice([1, 2, 3])
    common = dict(vocab_size=1536 + rng.randrange(0, 20), num_hidden_layers=L, tie_word_embeddings=k % 2 == 1,
                  bos_token_id=0, eos_token_id=0, max_position_embeddings=128)
    rope = {"rope_type": "default", "rope_theta": rng.choice([10000.0, 500.0])}
    eps = rng.choice([1e-5, 1e-6])
    if arch == "gpt_neox":  # TL reads no rotary base: the default 10000
        pct = rng.choice([0.25, 0.5, 1.0])
        return transformers.GPTNeoXConfig(
            hidden_size=H * Dh, num_attention_heads=H, intermediate_size=rng.choice([4 * H * Dh, 70]),
            rotary_pct=pct if int(Dh * pct) % 2 == 0 else 0.5, use_parallel_residual=k % 2 == 0,
            hidden_act=["gelu", "relu"][k % 2], layer_norm_eps=eps, **common)
    if arch == "gpt2":  # TL's d_mlp is 4 * n_embd
        common.pop("max_position_embeddings")
        return transformers.GPT2Config(
            n_embd=H * Dh, n_head=H, n_positions=128, n_ctx=128, activation_function=["gelu_new", "gelu"][k % 2],
            layer_norm_epsilon=eps, scale_attn_by_inverse_layer_idx=k % 3 == 2, resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0, **common)
    H = kv * rng.choice([1, 2])
    shared = dict(num_attention_heads=H, num_key_value_heads=kv, intermediate_size=rng.choice([67, 90]),
                  rms_norm_eps=eps, hidden_act="silu", rope_parameters=rope, **common)
    if arch == "llama":
        return transformers.LlamaConfig(hidden_size=H * Dh, **shared)
    if arch == "qwen2":
        return transformers.Qwen2Config(hidden_size=H * Dh, **shared)
    if arch == "qwen3":
        return transformers.Qwen3Config(hidden_size=H * Dh + rng.choice([0, 6]), head_dim=Dh, **shared)
    if arch == "mistral":
        return transformers.MistralConfig(hidden_size=H * Dh, head_dim=Dh, sliding_window=None, **shared)
    if arch == "gemma2":  # windows longer than any prompt here; scores scaled by Dh^-0.5 as TL does
        shared.pop("hidden_act")
        return transformers.Gemma2Config(
            hidden_size=H * Dh, head_dim=Dh, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=Dh,
            attn_logit_softcapping=rng.choice([None, 1.0, 2.0]), final_logit_softcapping=rng.choice([None, 5.0]),
            sliding_window=64, **shared)
    raise SystemExit(f"no TransformerLens configs for architecture '{arch}': add them here")


def gemma2_tl_config(hf):
    """TL's Gemma 2 configs are written out per hub name (loading_from_pretrained.py, google/
    gemma-2-2b); the same fields, from this config."""
    c = hf.config
    soft = lambda x: -1.0 if x is None else float(x)  # TL: -1 = no soft-cap
    return HookedTransformerConfig.from_dict({
        "d_model": c.hidden_size, "d_head": c.head_dim, "n_heads": c.num_attention_heads,
        "d_mlp": c.intermediate_size, "n_layers": c.num_hidden_layers, "n_ctx": c.max_position_embeddings,
        "eps": c.rms_norm_eps, "d_vocab": c.vocab_size, "act_fn": c.hidden_activation,
        "normalization_type": "RMS", "rotary_base": c.rope_parameters["rope_theta"],
        "positional_embedding_type": "rotary", "use_attn_scale": True, "n_key_value_heads": c.num_key_value_heads,
        "window_size": c.sliding_window, "use_local_attn": True,
        "attn_types": ["local" if t == "sliding_attention" else "global" for t in c.layer_types],
        "attn_scores_soft_cap": soft(c.attn_logit_softcapping),
        "output_logits_soft_cap": soft(c.final_logit_softcapping), "gated_mlp": True, "final_rms": True,
        "use_normalization_before_and_after": True, "original_architecture": "Gemma2ForCausalLM",
        "device": "cpu", "dtype": torch.float32, "init_weights": False})


def make(arch, k, seed, work):
    rng = random.Random(seed)
    cfg = tl_config(arch, k, rng)
    cfg.architectures = [oracle.CLASSES[arch]]
    torch.manual_seed(seed)
    hf = transformers.AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    oracle.perturb(hf, seed)
    hf.eval()
    # TL picks some architectures by name ("llama", "gemma" in the path): a neutral name
    d = os.path.join(work, f"m{len(os.listdir(work))}")
    hf.save_pretrained(d)
    shutil.copy(oracle.TOKENIZER, os.path.join(d, "tokenizer.json"))
    if arch == "gemma2":
        tcfg = gemma2_tl_config(hf)
    else:
        tcfg = tl_loading.get_pretrained_model_config(d, fold_ln=False, device="cpu", dtype=torch.float32)
    tcfg.use_attn_result = True  # hook_result
    tcfg.tokenizer_name = None   # offline: the ids come from rig's recording
    tl = HookedTransformer(tcfg)
    sd = tl_loading.get_pretrained_state_dict(d, tcfg, hf)
    tl.load_and_process_state_dict(sd, fold_ln=False, center_writing_weights=False, center_unembed=False,
                                   fold_value_biases=False, refactor_factored_attn_matrices=False)
    tl.eval()
    return d, hf, tl


def has_attention_sites(model_dir):
    p = subprocess.run([oracle.RIG, "inspect", model_dir, "--resolve", "blocks.0.attn.hook_z"],
                       capture_output=True, text=True)
    return p.returncode == 0, (p.stderr or p.stdout).strip()


def rig_run(model_dir, work, attention):
    sites = ["hook_*", "blocks.*.hook_*", "blocks.*.mlp.hook_*", "unembed.hook_*", "ln_final.hook_normalized",
             "blocks.*.ln*.hook_normalized"]
    if attention:
        sites.append("blocks.*.attn.hook_*")
    cfg = {"name": "tl", "seed": 1, "model": {"path": model_dir, "dtype": "float32"},
           "stimuli": [{"condition": "plain", "prompts": PROMPTS}],
           "electrodes": [{"site": s} for s in sites],
           "trials": {"generate": {"max_new_tokens": 0}},
           "recording": {"path": model_dir + ".h5"}}
    path = model_dir + ".yaml"
    json.dump(cfg, open(path, "w"))
    p = subprocess.run([oracle.RIG, "run", path, "--quiet", "--force"], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"rig run {path} exited {p.returncode}:\n{p.stderr}")
    return h5py.File(cfg["recording"]["path"], "r")


def tl_rows(name, x, T):
    """TL's cached value for one prompt (batch 1) as rig's rows: [T, width]."""
    x = x[0]
    if name.endswith(("hook_attn_scores", "hook_pattern")):
        return x.permute(1, 0, 2).reshape(T, -1)  # [H, Tq, Tk] -> row t: each head's keys
    return x.reshape(T, -1)


def compare(arch, tag, f, tl, tally, failures, attention):
    el = f["electrodes"]
    aliases = el["alias"].asstr()[:]
    sites = el["site"].asstr()[:]
    sides = el["side"].asstr()[:]
    trials = f["trials"]
    ids = f["tokens/token_id"][:]
    caches = []
    for a, b in zip(trials["row_start"][:], trials["row_stop"][:]):
        with torch.no_grad():
            _, cache = tl.run_with_cache(torch.tensor(ids[a:b][None]))
        caches.append((a, b, cache))
    for alias, site, side in zip(aliases, sites, sides):
        if not alias:
            continue
        if ".attn.hook_" in alias and not attention:
            continue
        if alias not in caches[0][2]:
            failures.append(f"{tag}: rig records '{alias}' ({site} {side}), which TransformerLens does not cache")
            continue
        rec = f[f"recordings/{site}/{side}"]
        for a, b, cache in caches:
            ref = tl_rows(alias, cache[alias], b - a).float().numpy()
            ours = rec[a:b].astype(np.float32)
            if alias.endswith(("hook_attn_scores", "hook_pattern")):
                # rig's key axis is max_position_embeddings wide per head (docs/FORMAT.md): the
                # trial's first b - a keys are TL's, the rest of the row holds only masked keys.
                heads, T = int(rec.attrs["heads"]), b - a
                full = ours.reshape(T, heads, -1)
                rest = full[:, :, T:]
                if rest.size and not (np.all(rest == 0) if alias.endswith("hook_pattern") else np.all(np.isneginf(rest))):
                    failures.append(f"{tag}: {alias}: keys beyond the trial's tokens are not masked")
                    break
                ours = np.ascontiguousarray(full[:, :, :T]).reshape(T, -1)
            if ours.shape != ref.shape:
                failures.append(f"{tag}: {alias} ({site} {side}): rig {ours.shape} vs TransformerLens {ref.shape}")
                break
            finite = np.isfinite(ref)  # TL's masked scores are -inf above the diagonal
            if not np.array_equal(finite, np.isfinite(ours)):
                failures.append(f"{tag}: {alias}: finite in one, not the other")
                break
            d = np.abs(ours[finite] - ref[finite])
            err = float(d.max()) if d.size else 0.0
            scaled = float((d / (1e-4 + 1e-4 * np.abs(ref[finite]))).max()) if d.size else 0.0
            tally.add(arch, alias, err, scaled, ref.size)
            if scaled > 1:
                failures.append(f"{tag}: {alias} ({site} {side}): max |rig - TL| = {err:.3g}")
                break


class Tally:
    def __init__(self):
        self.comparisons = self.values = 0
        self.names = set()
        self.worst = {}  # arch -> (max |rig - TL|, alias)
        self.worst_scaled = {}  # arch -> max |rig - TL| / (1e-4 + 1e-4 |TL|): the pass criterion, <= 1

    def add(self, arch, alias, err, scaled, n):
        self.comparisons += 1
        self.values += n
        generic = ".".join("{i}" if p.isdigit() else p for p in alias.split("."))
        self.names.add(generic)
        if err > self.worst.get(arch, (-1, ""))[0]:
            self.worst[arch] = (err, alias)
        self.worst_scaled[arch] = max(scaled, self.worst_scaled.get(arch, 0.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3, help="random configs per architecture")
    ap.add_argument("--arch", action="append", help="only these architectures")
    ap.add_argument("--attention", action="store_true", help="the sites inside attention (skips where rig lacks them)")
    ap.add_argument("--summary", help="write the counts and worst errors here (JSON)")
    args = ap.parse_args()
    if not os.path.exists(oracle.RIG):
        raise SystemExit(f"rig not found at {oracle.RIG} (set RIG_BIN)")
    p = subprocess.run([oracle.RIG, "inspect", "--architectures"], capture_output=True, text=True, check=True)
    archs = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    if args.arch:
        archs = [a for a in archs if a in args.arch]
    work = tempfile.mkdtemp(prefix="rig-tl-")
    tally, failures = Tally(), []
    t0 = time.time()
    n_models = 0
    try:
        for ai, arch in enumerate(archs):
            for k in range(args.n):
                seed = 7000 + 100 * ai + k
                d, hf, tl = make(arch, k, seed, work)
                if args.attention:
                    ok, why = has_attention_sites(d)
                    if not ok:
                        print(f"SKIPPED: this rig has no sites inside attention for the TransformerLens names "
                              f"blocks.{{i}}.attn.hook_* ({why})")
                        return 77
                tag = f"{arch}-{k}"
                f = rig_run(d, work, args.attention)
                compare(arch, tag, f, tl, tally, failures, args.attention)
                f.close()
                n_models += 1
                for name in os.listdir(work):
                    path = os.path.join(work, name)
                    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
                print(f"{tag}: failures so far {len(failures)}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {"models": n_models, "architectures": archs, "names": sorted(tally.names),
               "comparisons": tally.comparisons, "values_compared": tally.values,
               "worst_abs": {a: {"error": e, "where": w} for a, (e, w) in sorted(tally.worst.items())},
               "worst_scaled": dict(sorted(tally.worst_scaled.items())),
               "seconds": round(time.time() - t0, 1), "transformer_lens": importlib.metadata.version("transformer-lens"), "torch": torch.__version__}
    print(json.dumps(summary, indent=1))
    if args.summary:
        os.makedirs(os.path.dirname(os.path.abspath(args.summary)), exist_ok=True)
        json.dump(summary, open(args.summary, "w"), indent=1)
    if failures:
        print(f"{len(failures)} FAILURES:")
        for x in failures[:60]:
            print("  " + x)
        return 1
    if tally.comparisons == 0:
        print("FAILED: nothing compared")
        return 1
    print(f"TransformerLens parity: {n_models} models, {len(tally.names)} names, {tally.comparisons} comparisons: "
          f"all within 1e-4")
    return 0


if __name__ == "__main__":
    sys.exit(main())
