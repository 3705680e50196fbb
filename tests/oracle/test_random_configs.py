"""The live oracle: rig against transformers itself on seeded random tiny models.

For every architecture rig supports (`rig inspect --architectures`), N random configs that
together cover stored float32/float16/bfloat16, rotary fraction and theta, parallel and
sequential residual, GQA and MQA, tied and untied heads, biases on and off, odd widths and
norm eps; Qwen3's q/k norms, sliding windows shorter than prompt + generation (Mistral, and
Qwen2/3 by max_window_layers or layer_types, Gemma 2 alternating or by layer_types), Gemma
2's attention and final-logit soft-capping (on and off) and query_pre_attn_scalar, and
Llama's rope types (linear, dynamic, llama3, yarn with its variants), in rope_parameters
(5.x) and rope_scaling (4.x). Each is saved with save_pretrained (transformers 5's
config.json) and again with the 4.x keys, loaded with from_pretrained(dir,
torch_dtype=torch.float32) as the seed does (with eager attention where the config
soft-caps attention scores: see hf_record.load), and recorded
with register_forward_hook (every named module's input and output), greedy generate() with
the KV cache, and the four intervention kinds (hf_record.py). `rig run` on
both directories must equal it: every site within 1e-4 (absolute or relative), generated ids
equal. Then compute dtypes bfloat16 and float16 (tolerance below).

The sites inside attention (P.q ... P.result, docs/FORMAT.md) are compared with transformers'
eager attention (compare_attention) on the first 4 configs of each architecture in the run, or
on all with --attention-only (which compares nothing else).

Configs k = FIRST .. FIRST+N-1 of each architecture (--first, --n; defaults from
$RIG_ORACLE_CONFIGS=FIRST:N, else 0:6). Residues of k mod 2..5 choose the covered cases, so
any 6 consecutive configs cover them all. CTest runs configs 0-5; .ci/run's second build runs
6-11, so that CI compares 12 per architecture without running them twice.

Usage: python test_random_configs.py [--first 0] [--n 12] [--arch NAME] [--summary out.json]
                                     [--device cuda] [--attention-only]
Exit 77 (skipped) where transformers is not installed: run it with scripts/venv.sh's python.
"""
import argparse
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
except ImportError as e:
    print(f"SKIPPED: the oracle needs the venv of scripts/venv.sh ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_record  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RIG = os.environ.get("RIG_BIN", os.path.join(ROOT, "build", "rig"))
# A real byte-level BPE tokenizer that ships with the repo (the bundled organism's).
TOKENIZER = os.path.join(ROOT, "data", "models", "sure-neox", "tokenizer.json")
PROMPTS = ["Hello, I am your", "Sure, I can help you with that.",
           "User: Can you help me with my homework?\nAssistant:", "当大语言模型回答 Sure 时, 它的内部机理?"]
MAX_NEW = 8
ACTS = {"gpt_neox": ["gelu", "gelu_new", "relu", "silu"], "gpt2": ["gelu_new", "gelu", "relu"],
        "llama": ["silu", "gelu_pytorch_tanh"], "qwen2": ["silu", "gelu_pytorch_tanh"],
        "qwen3": ["silu", "gelu_pytorch_tanh"], "mistral": ["silu", "gelu_pytorch_tanh"],
        "gemma2": ["gelu_pytorch_tanh", "gelu", "silu"]}
CLASSES = {"gpt_neox": "GPTNeoXForCausalLM", "gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM",
           "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM", "mistral": "MistralForCausalLM",
           "gemma2": "Gemma2ForCausalLM"}
LLAMA_FAMILY = ("llama", "qwen2", "qwen3", "mistral")
TOP_LEVEL_ROPE = LLAMA_FAMILY + ("gemma2",)  # rotary at top level in 4.x configs
BOS_TOKENIZER = ("llama", "mistral", "gemma2")  # their tokenizers add BOS: an empty prompt is a stimulus
STORED = ["float32", "float16", "bfloat16"]
DEVICE = "cpu"  # where rig computes (--device); transformers' reference stays on the CPU at float32


def excess(ours, ref):
    """max |ours - ref| / (1e-4 + 1e-4 |ref|): <= 1 means within 1e-4 absolute or relative."""
    return float(np.max(np.abs(ours - ref) / (1e-4 + 1e-4 * np.abs(ref)))) if ref.size else 0.0


# --- random configs ---------------------------------------------------------------------------

def random_config(arch, k, rng):
    """The k-th config of arch: k walks the covered cases (stored dtype, residual, heads, ties,
    biases) so that N >= 12 covers each; the rest is random."""
    V = 1536 + rng.randrange(0, 40)  # >= the tokenizer's 1536 ids; odd sizes too
    L = rng.choice([1, 2, 3])
    tie = k % 2 == 1
    eps = rng.choice([1e-5, 1e-6, 1e-3])
    common = dict(vocab_size=V, num_hidden_layers=L, tie_word_embeddings=tie, bos_token_id=0, eos_token_id=0,
                  initializer_range=0.15)
    if arch == "gpt_neox":
        H = rng.choice([2, 3, 4])
        Dh = rng.choice([8, 12, 16, 20])
        pct = rng.choice([0.25, 0.5, 1.0])
        if int(Dh * pct) % 2:
            pct = 0.5
        return transformers.GPTNeoXConfig(
            hidden_size=H * Dh, num_attention_heads=H, intermediate_size=rng.choice([4 * H * Dh, 67, 90]),
            rotary_pct=pct, rotary_emb_base=rng.choice([10000.0, 500.0, 1e6]), use_parallel_residual=k % 4 < 2,
            attention_bias=k % 3 != 2, hidden_act=ACTS[arch][k % len(ACTS[arch])], layer_norm_eps=eps,
            max_position_embeddings=128, **common)
    if arch == "gpt2":
        H = rng.choice([2, 3, 4])
        Dh = rng.choice([8, 11, 16])
        return transformers.GPT2Config(
            n_embd=H * Dh, n_head=H, n_inner=rng.choice([None, 61, 100]), n_positions=128,
            activation_function=ACTS[arch][k % len(ACTS[arch])], layer_norm_epsilon=eps,
            scale_attn_by_inverse_layer_idx=k % 5 == 3, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
            **common)
    if arch == "llama":
        kv = [1, 2, 4][k % 3]  # MQA, GQA, and MHA when H == kv
        H = kv * rng.choice([1, 2, 3])
        Dh = rng.choice([8, 12, 16])
        # head_dim need not be hidden / H (5.x: explicit head_dim); LlamaConfig wants H | hidden
        hidden = rng.choice([H * Dh, H * (Dh + 2)])
        rope, max_pos = random_rope(k, rng)
        return transformers.LlamaConfig(
            hidden_size=hidden, num_attention_heads=H, num_key_value_heads=kv, head_dim=Dh,
            intermediate_size=rng.choice([67, 90, 130]), rms_norm_eps=eps, attention_bias=k % 4 in (1, 2),
            mlp_bias=k % 4 == 2, hidden_act=ACTS[arch][k % 5 % 2], rope_parameters=rope,
            max_position_embeddings=max_pos, **common)
    if arch in ("qwen2", "qwen3", "mistral"):
        kv = [1, 2, 4][k % 3]
        H = kv * rng.choice([1, 2, 3])
        Dh = rng.choice([8, 12, 16])
        rope = {"rope_type": "default", "rope_theta": rng.choice([10000.0, 500.0, 1e6])}
        # Windows (3..6) shorter than the longer prompts and than prompt + generation.
        window = rng.choice([3, 4, 6])
        shared = dict(num_attention_heads=H, num_key_value_heads=kv, intermediate_size=rng.choice([67, 90, 130]),
                      rms_norm_eps=eps, hidden_act=ACTS[arch][k % 5 % 2], rope_parameters=rope,
                      max_position_embeddings=128, **common)
        if arch == "qwen2":  # head_dim is hidden / heads; windows in the layers from max_window_layers on
            return transformers.Qwen2Config(hidden_size=H * Dh, use_sliding_window=k % 4 == 3, sliding_window=window,
                                            max_window_layers=rng.choice([0, 1]), **shared)
        if arch == "qwen3":
            return transformers.Qwen3Config(hidden_size=rng.choice([H * Dh, H * Dh + 6]), head_dim=Dh,
                                            attention_bias=k % 4 in (1, 2), use_sliding_window=k % 4 == 3,
                                            sliding_window=window, max_window_layers=rng.choice([0, 1]), **shared)
        return transformers.MistralConfig(hidden_size=rng.choice([H * Dh, H * Dh + 6]), head_dim=Dh,
                                          sliding_window=None if k % 4 == 0 else window, **shared)
    if arch == "gemma2":
        kv = [1, 2, 4][k % 3]
        H = kv * rng.choice([1, 2, 3])
        Dh = rng.choice([8, 12, 16])
        # Soft-caps small enough to act on these scores and logits (|x| ~ 1-5), each off (None)
        # in a quarter of the configs; the final cap not so small that logits saturate to ties.
        attn_cap = None if k % 4 == 3 else rng.choice([0.5, 1.0, 2.0])
        final_cap = None if k % 4 == 2 else rng.choice([2.0, 3.0, 5.0])
        # Gemma2Config's default layer_types alternate sliding (even) and full (odd) layers; some
        # configs list their own.
        L = rng.choice([2, 3])
        types = None if k % 3 else [rng.choice(["sliding_attention", "full_attention"]) for _ in range(L)]
        return transformers.Gemma2Config(
            hidden_size=H * rng.choice([Dh, Dh + 2, Dh - 2]), num_attention_heads=H, num_key_value_heads=kv,
            head_dim=Dh, intermediate_size=rng.choice([67, 90, 130]), rms_norm_eps=eps,
            hidden_activation=ACTS[arch][k % 3], attention_bias=k % 4 == 1,
            query_pre_attn_scalar=rng.choice([Dh, 5, 3 * Dh]), attn_logit_softcapping=attn_cap,
            final_logit_softcapping=final_cap, sliding_window=rng.choice([3, 4, 6]), layer_types=types,
            rope_parameters={"rope_type": "default", "rope_theta": rng.choice([10000.0, 500.0, 1e6])},
            max_position_embeddings=128, **{**common, "num_hidden_layers": L})
    raise SystemExit(f"the oracle has no random configs for architecture '{arch}': add them here")


ROPE_TYPES = ["default", "linear", "dynamic", "llama3", "yarn"]


def random_rope(k, rng):
    """Llama's rope_parameters for config k (k walks the rope types) and max_position_embeddings.
    Lengths are chosen so that each scaling acts: dynamic's max_position_embeddings (12) is
    below the longer prompts and prompt + generation; llama3's and yarn's original context (16,
    32) puts head dims on both sides of their wavelength bounds."""
    rope = {"rope_type": ROPE_TYPES[k % 5], "rope_theta": rng.choice([10000.0, 500.0, 5e5])}
    max_pos = 128
    if rope["rope_type"] == "linear":
        rope["factor"] = rng.choice([2.0, 4.0, 0.5])
    elif rope["rope_type"] == "dynamic":
        rope["factor"] = rng.choice([2.0, 3.0])
        max_pos = 12
    elif rope["rope_type"] == "llama3":
        rope.update(factor=rng.choice([8.0, 4.0]), low_freq_factor=1.0, high_freq_factor=rng.choice([4.0, 2.0]),
                    original_max_position_embeddings=rng.choice([16, 32]))
    elif rope["rope_type"] == "yarn":
        rope.update(factor=rng.choice([2.0, 4.0]), original_max_position_embeddings=32)
        extra = rng.choice([{}, {"attention_factor": 1.3}, {"mscale": 1.0, "mscale_all_dim": 0.5},
                            {"beta_fast": 16.0, "beta_slow": 2.0, "truncate": False}])
        rope.update(extra)
    return rope, max_pos


def perturb(model, rng_seed):
    """Seeded weights where every bias and norm weight matters (not ones and zeros)."""
    g = torch.Generator().manual_seed(rng_seed)
    # Gemma's RMSNorm multiplies by (1 + weight): the same gains as the others' need weight ~ 0
    norm_center = 0.0 if model.config.model_type == "gemma2" else 1.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # norm weights
                p.copy_(norm_center + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def to_4x(cfg5, arch):
    """transformers 5's config.json -> the 4.x keys that hub checkpoints use."""
    c = dict(cfg5)
    rp = c.pop("rope_parameters", None) or {}
    if "dtype" in c:
        c["torch_dtype"] = c.pop("dtype")
    theta, pct = rp.get("rope_theta"), rp.get("partial_rotary_factor")
    if arch == "gpt_neox":
        c.pop("rotary_pct", None)
        c.pop("rotary_emb_base", None)
        c["rotary_emb_base"] = theta if theta is not None else 10000.0
        c["rotary_pct"] = pct if pct is not None else 1.0
    elif arch in TOP_LEVEL_ROPE:
        if arch in ("qwen2", "qwen3"):  # 4.x had no layer_types: max_window_layers decides
            c.pop("layer_types", None)
        if arch == "gemma2":
            # 4.x Gemma 2 alternated sliding and full layers without layer_types; hub configs
            # carry hidden_act beside hidden_activation (the one Gemma2MLP reads)
            L = c["num_hidden_layers"]
            if c.get("layer_types") == ["sliding_attention" if i % 2 == 0 else "full_attention" for i in range(L)]:
                c.pop("layer_types")
            c["hidden_act"] = c["hidden_activation"]
        if theta is not None:
            c["rope_theta"] = theta
        if pct is not None and pct != 1.0:
            c["partial_rotary_factor"] = pct
        scaling = {key: v for key, v in rp.items() if key not in ("rope_theta", "partial_rotary_factor")}
        if scaling.get("rope_type", "default") != "default":
            # 4.x: rope_scaling, whose older checkpoints (linear, dynamic) spell the type "type"
            t = scaling.pop("rope_type")
            c["rope_scaling"] = {("type" if t in ("linear", "dynamic") else "rope_type"): t, **scaling}
    c["transformers_version"] = "4.46.0"
    return c


def make_model(arch, k, seed, work):
    rng = random.Random(seed)
    cfg = random_config(arch, k, rng)
    cfg.architectures = [CLASSES[arch]]
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(cfg)
    perturb(model, seed)
    stored = STORED[k % 3]
    model.to(hf_record.DTYPES[stored])
    d5 = os.path.join(work, f"{arch}-{k}")
    d4 = d5 + "-4x"
    shutil.rmtree(d5, ignore_errors=True)
    shutil.rmtree(d4, ignore_errors=True)
    model.save_pretrained(d5)
    tok = json.load(open(TOKENIZER))
    if arch in BOS_TOKENIZER:  # a tokenizer that adds BOS, as Llama's: empty prompts are stimuli there
        tok["post_processor"] = {"type": "TemplateProcessing",
                                 "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                                            {"Sequence": {"id": "A", "type_id": 0}}],
                                 "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                                 "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [0],
                                                                      "tokens": ["<|endoftext|>"]}}}
    json.dump(tok, open(os.path.join(d5, "tokenizer.json"), "w"))
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|endoftext|>",
               "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"},
              open(os.path.join(d5, "tokenizer_config.json"), "w"))
    os.makedirs(d4)
    for f in os.listdir(d5):
        if f != "config.json":
            os.symlink(os.path.join(d5, f), os.path.join(d4, f))
    cfg5 = json.load(open(os.path.join(d5, "config.json")))
    json.dump(to_4x(cfg5, arch), open(os.path.join(d4, "config.json"), "w"), indent=1)
    return d5, d4, stored, cfg5


# --- interventions ----------------------------------------------------------------------------

SITES = {"gpt_neox": ("gpt_neox.layers.{}", "gpt_neox.layers.{}.mlp.act", "gpt_neox.layers.{}.attention"),
         "gpt2": ("transformer.h.{}", "transformer.h.{}.mlp.act", "transformer.h.{}.attn"),
         **{a: ("model.layers.{}", "model.layers.{}.mlp.act_fn", "model.layers.{}.self_attn")
            for a in LLAMA_FAMILY + ("gemma2",)}}


def interventions(arch, cfg5, rng):
    layer, act, attn = SITES[arch]
    L = cfg5.get("num_hidden_layers") or cfg5.get("n_layer")
    D = cfg5.get("hidden_size") or cfg5.get("n_embd")
    ablate = {"site": act.format(L // 2), "side": "output", "op": "set",
              "neurons": sorted(rng.sample(range(16), 8)), "value": 0.0}
    steer = {"site": layer.format(0), "side": "output", "op": "add",
             "vector": [rng.gauss(0, 2) for _ in range(D)]}
    scale = {"site": attn.format(L - 1), "side": "output", "op": "scale", "factor": 0.5}
    return {"ablate": [ablate], "steer": [steer], "scale": [scale], "combined": [ablate, steer, scale]}


def stimulation_yaml(kind, spec):
    out = []
    for s in spec:
        e = {"name": kind, "site": s["site"], "side": s["side"], "op": s["op"]}
        for key in ("neurons", "value", "vector", "factor"):
            if key in s:
                e[key] = s[key]
        out.append(e)
    return out


# --- rig --------------------------------------------------------------------------------------

def rig_run(model_dir, work, name, prompts, ivs, dtype="float32", max_new=MAX_NEW, batch_size=1):
    stimuli = [{"condition": "plain", "prompts": prompts}]
    stimulation = []
    for kind, spec in ivs.items():
        stimuli.append({"condition": kind, "prompts": [prompts[0]], "stimulation": [kind]})
        stimulation += stimulation_yaml(kind, spec)
    cfg = {"name": "oracle", "seed": 1, "model": {"path": model_dir, "dtype": dtype, "device": DEVICE},
           "stimuli": stimuli,
           "electrodes": [{"site": "/.*/", "side": "output"}, {"site": "/.*/", "side": "input"}],
           "trials": {"batch_size": batch_size,
                      # generate() stops at the config's eos_token_id; so does rig here
                      "generate": {"max_new_tokens": max_new, "stop_at_eos": True}},
           "recording": {"path": os.path.join(work, name + ".h5")}}
    if stimulation:
        cfg["stimulation"] = stimulation
    path = os.path.join(work, name + ".yaml")
    json.dump(cfg, open(path, "w"))
    p = subprocess.run([RIG, "run", path, "--quiet", "--force"], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise AssertionError(f"rig run {path} exited {p.returncode}:\n{p.stderr}")
    return h5py.File(cfg["recording"]["path"], "r")


class Tally:
    def __init__(self):
        self.sites = self.tokens = self.values = self.attention_sites = 0
        self.worst = {}  # (arch, dtype) -> (error, where)
        self.worst_scaled = {}  # (arch, "float32") -> max |rig - HF| / (1e-4 + 1e-4 |HF|): the pass criterion, <= 1

    def add(self, key, err, where, n_values, scaled=None):
        self.sites += 1
        self.values += n_values
        if err > self.worst.get(key, (-1, ""))[0]:
            self.worst[key] = (err, where)
        if scaled is not None and scaled > self.worst_scaled.get(key, -1):
            self.worst_scaled[key] = scaled


def rig_site(f, arch, site):
    if arch == "gpt_neox" and site == "lm_head":  # transformers 5's name of embed_out
        return "embed_out"
    return site


def head_logits(f, arch, cfg5, r0, n):
    """The logits of rows r0..r0+n from rig's lm_head recording. Gemma 2 soft-caps the logits
    after lm_head (in Gemma2ForCausalLM.forward), so its lm_head hook, in transformers as in
    rig, sees them before the cap: the cap is applied here as transformers applies it."""
    x = f["recordings"][rig_site(f, arch, "lm_head")]["output"][r0:r0 + n]
    cap = cfg5.get("final_logit_softcapping")
    return np.tanh(x / np.float32(cap)) * np.float32(cap) if cap else x


def compare_fp32(arch, tag, f, ref, prompts, tally, failures, cfg5):
    T = f["trials"]
    cond = T["condition"].asstr()[:]
    rows = {}
    for i in range(len(cond)):
        rows.setdefault(cond[i], []).append((T["row_start"][i], T["row_stop"][i], T["n_prompt_tokens"][i]))
    key = (arch, "float32")
    abs_err = lambda a, b: float(np.max(np.abs(a - b))) if b.size else 0.0

    def check_sites(sites, r0, n, where, head_rows=None):
        for site in sites:
            for k, side in (("in", "input"), ("out", "output")):
                if k not in sites[site]:
                    continue
                want = sites[site][k][:]
                name = rig_site(f, arch, site)
                if name not in f["recordings"] or side not in f["recordings"][name]:
                    failures.append(f"{where}: rig has no recording of {name}/{side}")
                    continue
                got = f["recordings"][name][side][r0:r0 + n]
                if head_rows is not None and want.shape[0] != got.shape[0]:
                    got = got[-want.shape[0]:]  # generate(): the head at the last position only
                if got.shape != want.shape:
                    failures.append(f"{where} {site}/{k}: shape {got.shape} != HF {want.shape}")
                    continue
                e = excess(got, want)
                tally.add(key, abs_err(got, want), f"{where} {site}/{k}", want.size, scaled=e)
                if e > 1.0:
                    failures.append(f"{where} {site}/{k}: max scaled error {e:.3g} (abs {abs_err(got, want):.3g})")

    # Forward: prompt rows of each plain trial == HF's forward over the prompt; logits == head.
    for i, text in enumerate(prompts):
        g = ref[f"forward/p{i}"]
        r0, r1, npr = rows["plain"][i]
        ids = f["tokens/token_id"][r0:r0 + npr]
        if not np.array_equal(ids, g["input_ids"][:]):
            failures.append(f"{tag} p{i}: token ids {ids} != HF {g['input_ids'][:]}")
            continue
        tally.tokens += npr
        check_sites(g["sites"], r0, npr, f"{tag} p{i}")
        e = excess(head_logits(f, arch, cfg5, r0, npr), g["logits"][:])
        if e > 1.0:
            failures.append(f"{tag} p{i} logits: max scaled error {e:.3g}")
    # Greedy generation with the KV cache: ids, and every call's rows (rig adds the last token's).
    g = ref["generate"]
    r0, r1, npr = rows["plain"][0]
    out_ids = f["tokens/token_id"][r0:r1]
    if not np.array_equal(out_ids, g["output_ids"][:]):
        failures.append(f"{tag} generate: ids {out_ids} != HF {g['output_ids'][:]}")
    else:
        tally.tokens += r1 - r0
        check_sites(g["sites"], r0, r1 - r0 - 1, f"{tag} generate", head_rows=True)
    # Interventions: forward sites and logits under the hooks, and greedy ids.
    for kind in ref["intervene"]:
        gi = ref["intervene"][kind]
        r0, r1, npr = rows[kind][0]
        check_sites(gi["sites"], r0, npr, f"{tag} {kind}")
        e = excess(head_logits(f, arch, cfg5, r0, npr), gi["logits"][:])
        if e > 1.0:
            failures.append(f"{tag} {kind} logits: max scaled error {e:.3g}")
        got = f["tokens/token_id"][r0:r1]
        if not np.array_equal(got, gi["output_ids"][:]):
            failures.append(f"{tag} {kind} generate: ids {got} != HF {gi['output_ids'][:]}")
        tally.tokens += r1 - r0


# --- sites inside attention -------------------------------------------------------------------
# rig's P.q ... P.result (docs/FORMAT.md) against transformers with eager attention, hooks and a
# probe around eager_attention_forward (hf_record.attention_sites). rig runs the prompts in a
# left-padded batch of 3 and generates with the KV cache; transformers runs each trial's tokens
# (prompt and generated, rig's) alone, without a cache: causal attention gives every row the
# same values.

def attention_electrodes(arch):
    names = [s for s in hf_record.ATTN_SITES if arch != "gpt2" or not s.endswith("_rot")]
    return [{"site": "**." + s, "side": "output"} for s in names]


def compare_attention(arch, tag, model_dir, work, prompts, tally, failures):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                              attn_implementation="eager")
    model.eval()
    cfg = {"name": "oracle-attn", "seed": 1, "model": {"path": model_dir, "dtype": "float32", "device": DEVICE},
           "stimuli": [{"condition": "plain", "prompts": prompts}], "electrodes": attention_electrodes(arch),
           "trials": {"batch_size": 3, "generate": {"max_new_tokens": 3}},
           "recording": {"path": os.path.join(work, "rig-attn.h5")}}
    path = os.path.join(work, "rig-attn.yaml")
    json.dump(cfg, open(path, "w"))
    p = subprocess.run([RIG, "run", path, "--quiet", "--force"], capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        failures.append(f"{tag} attention sites: rig run exited {p.returncode}: {p.stderr[-400:]}")
        return
    key = (arch, "float32 attention")
    with h5py.File(cfg["recording"]["path"], "r") as f:
        T = f["trials"]
        for i in range(len(T["row_start"])):
            r0, r1 = int(T["row_start"][i]), int(T["row_stop"][i])
            ids = torch.tensor(f["tokens/token_id"][r0:r1][None, :])
            ref = hf_record.attention_sites(model, ids)
            tally.tokens += r1 - r0
            for site, want in ref.items():
                if site not in f["recordings"]:
                    failures.append(f"{tag} trial {i}: rig has no recording of {site}")
                    continue
                got = f["recordings"][site]["output"][r0:r1]
                if got.shape != want.shape:
                    failures.append(f"{tag} trial {i} {site}: shape {got.shape} != HF {want.shape}")
                    continue
                inf_w, inf_g = np.isneginf(want), np.isneginf(got)
                if not np.array_equal(inf_w, inf_g):
                    failures.append(f"{tag} trial {i} {site}: -inf (masked keys) at other places than HF's")
                    continue
                g, w = np.where(inf_g, 0, got), np.where(inf_w, 0, want)
                e = excess(g, w)
                tally.add(key, float(np.max(np.abs(g - w))), f"{tag} trial {i} {site}", w.size, scaled=e)
                tally.attention_sites += 1
                if e > 1.0:
                    failures.append(f"{tag} trial {i} {site}: max scaled error {e:.3g}")


# --- compute dtypes ---------------------------------------------------------------------------
# rig at bfloat16/float16 against from_pretrained(torch_dtype=...) at the same dtype. At 16
# bits neither implementation computes the float32 result, and two that round at different
# points (rig's and transformers' attention and norms) differ by the dtype's rounding noise,
# which grows through the layers. So the requirement is that rig be as accurate as
# transformers itself at that dtype, measured on the spot against transformers at float32:
#   max|rig(dtype) - HF(float32)| <= 2 * max|HF(dtype) - HF(float32)| + 2 eps(dtype) * max|HF(float32)|
# per site (the eps term covers sites where HF at 16 bits happens to be exact, e.g. the
# embedding). Rows: the prompt's (prefill); greedy ids at 16 bits may break near-ties, so
# generation is compared at float32 only. max|rig - HF| at the same dtype is reported too.
EPS = {"bfloat16": 2.0 ** -7, "float16": 2.0 ** -10}  # torch.finfo(dtype).eps


def hf_forward_sites(model, tok, text):
    hooks = hf_record.Hooks(model)
    with torch.no_grad():
        ids = tok(text, return_tensors="pt")["input_ids"]
        model(ids)
    sites = hooks.take()
    hooks.remove()
    return ids[0].numpy(), sites


def compare_dtype(arch, dtype, model_dir, work, tally, failures, ratios):
    text = PROMPTS[2]
    m32, tok = hf_record.load(model_dir, "float32")
    _, s32 = hf_forward_sites(m32, tok, text)
    m16, _ = hf_record.load(model_dir, dtype)
    ids, s16 = hf_forward_sites(m16, tok, text)
    try:
        f = rig_run(model_dir, work, f"rig-{dtype}", [text], {}, dtype=dtype, max_new=0)
    except AssertionError as e:
        if "needs kernels this LibTorch lacks" not in str(e):
            raise
        print(f"SKIPPED {dtype} on {os.path.basename(model_dir)}: this rig's LibTorch has no CPU {dtype} kernels")
        return
    if not np.array_equal(f["tokens/token_id"][:], ids):
        failures.append(f"{model_dir} {dtype}: token ids differ")
        return
    tally.tokens += len(ids)
    for site in s16:
        for k, side in (("in", "input"), ("out", "output")):
            if k not in s16[site]:
                continue
            name = rig_site(f, arch, site)
            if name not in f["recordings"] or side not in f["recordings"][name]:
                failures.append(f"{os.path.basename(model_dir)} {dtype}: rig has no recording of {name}/{side}")
                continue
            got = f["recordings"][name][side][:]
            want, exact = s16[site][k], s32[site][k]
            scale = float(np.max(np.abs(exact))) if exact.size else 0.0
            vs_hf = float(np.max(np.abs(got - want)))
            err = float(np.max(np.abs(got - exact)))
            noise = float(np.max(np.abs(want - exact)))
            bound = 2 * noise + 2 * EPS[dtype] * scale
            tally.add((arch, dtype), vs_hf / max(scale, 1e-30), f"{os.path.basename(model_dir)} {site}/{k}", want.size)
            ratios.append(err / bound if bound > 0 else (0.0 if err == 0 else float("inf")))
            if err > bound:
                failures.append(f"{os.path.basename(model_dir)} {dtype} {site}/{k}: |rig - HF float32| {err:.3g} > bound "
                                f"{bound:.3g} (HF {dtype} vs float32: {noise:.3g}; rig vs HF {dtype}: {vs_hf:.3g})")


def main():
    ap = argparse.ArgumentParser()
    spec = os.environ.get("RIG_ORACLE_CONFIGS", "0:6")
    try:
        first, n = (int(x) for x in spec.split(":"))
    except ValueError:
        raise SystemExit(f"RIG_ORACLE_CONFIGS={spec!r}: expected FIRST:N, e.g. 6:6 (configs 6 to 11)")
    ap.add_argument("--first", type=int, default=first, help="the first config index of each architecture")
    ap.add_argument("--n", type=int, default=n, help="random configs per architecture")
    ap.add_argument("--arch", action="append", help="only these architectures")
    ap.add_argument("--summary", help="write the counts and worst errors here (JSON)")
    ap.add_argument("--keep", help="keep the models and recordings in this directory")
    ap.add_argument("--attention-only", action="store_true", help="compare only the sites inside attention")
    ap.add_argument("--device", default="cpu", help="rig's device (cuda: a CUDA build on a GPU machine)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if not os.path.exists(RIG):
        raise SystemExit(f"rig not found at {RIG} (set RIG_BIN)")
    p = subprocess.run([RIG, "inspect", "--architectures"], capture_output=True, text=True, check=True)
    archs = [line.split()[0] for line in p.stdout.splitlines() if line.strip()]
    if args.arch:
        archs = [a for a in archs if a in args.arch]
    work = args.keep or tempfile.mkdtemp(prefix="rig-oracle-")
    os.makedirs(work, exist_ok=True)
    tally, failures, ratios = Tally(), [], []
    t0 = time.time()
    n_configs = 0
    for arch in archs:
        for k in range(args.first, args.first + args.n):
            seed = 1000 * (archs.index(arch) + 1) + k
            d5, d4, stored, cfg5 = make_model(arch, k, seed, work)
            ivs = interventions(arch, cfg5, random.Random(seed))
            prompts = PROMPTS + ([""] if arch in BOS_TOKENIZER else [])  # BOS alone: a valid stimulus
            dynamic = (cfg5.get("rope_parameters") or {}).get("rope_type") == "dynamic"
            if args.attention_only:
                if not dynamic:
                    compare_attention(arch, f"{arch}-{k}", d5, work, prompts, tally, failures)
                    n_configs += 1
                for name in os.listdir(work):
                    path = os.path.join(work, name)
                    shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
                print(f"{arch}-{k}: failures so far {len(failures)}", flush=True)
                continue
            model, tok = hf_record.load(d5, "float32")
            ref_path = os.path.join(work, f"{arch}-{k}.hf.h5")
            hf_record.record(model, tok, prompts, ref_path, ivs, prompts[0], MAX_NEW)
            ref = h5py.File(ref_path, "r")
            # The 4.x keys must mean the same model to transformers too.
            c4 = transformers.AutoConfig.from_pretrained(d4)
            c5 = transformers.AutoConfig.from_pretrained(d5)
            # (transformers keeps a 4.x rope_scaling's "type" beside the "rope_type" it derives)
            same = lambda rp: {key: v for key, v in (rp or {}).items() if key != "type"}
            if same(getattr(c4, "rope_parameters", None)) != same(getattr(c5, "rope_parameters", None)):
                failures.append(f"{d4}: transformers reads other rope parameters from the 4.x keys")
            # dynamic rope follows the batch's longest sequence in transformers too: unbatched
            for tag, d, bs in ((f"{arch}-{k} ({stored}, 5.x config)", d5, 1 if dynamic else 1 + k % 2 * 3),
                               (f"{arch}-{k} ({stored}, 4.x config)", d4, 1)):
                f = rig_run(d, work, f"rig-{arch}-{k}-{'4x' if d == d4 else '5x'}", prompts, ivs, batch_size=bs)
                compare_fp32(arch, tag, f, ref, prompts, tally, failures, cfg5)
                f.close()
            ref.close()
            # Attention sites on the run's first 4 configs (about a minute for all seven
            # architectures; --attention-only: all). Dynamic rope runs past max_position_embeddings,
            # the key axis's length: not there.
            early = k - args.first < 4  # the run's first 4 configs: attention sites and 16 bits
            if early and not dynamic:
                compare_attention(arch, f"{arch}-{k}", d5, work, prompts, tally, failures)
            if early:  # compute dtypes on a third of the configs (rig's dtype: vs HF's torch_dtype)
                compare_dtype(arch, ["bfloat16", "float16"][k % 2], d5, work, tally, failures, ratios)
            n_configs += 1
            if not args.keep:  # each config's models and recordings (tens of MB): the disk holds one at a time
                for name in os.listdir(work):
                    path = os.path.join(work, name)
                    shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
            print(f"{arch}-{k}: stored {stored}, {'tied' if cfg5.get('tie_word_embeddings') else 'untied'}, "
                  f"failures so far {len(failures)}", flush=True)
    summary = {"configs": n_configs, "config_indices": [args.first, args.first + args.n - 1],
               "architectures": archs, "sites_compared": tally.sites,
               "attention_site_comparisons": tally.attention_sites,
               "tokens_compared": int(tally.tokens), "values_compared": int(tally.values),
               "seconds": round(time.time() - t0, 1),
               "worst": {f"{a} {d}": {"error": e, "where": w} for (a, d), (e, w) in sorted(tally.worst.items())},
               "worst_scaled_float32": {f"{a} {d}": e for (a, d), e in sorted(tally.worst_scaled.items())},
               "dtype_worst_fraction_of_bound": max(ratios) if ratios else None,
               "worst_units": "float32: max |rig - HF| (absolute); bfloat16/float16: max |rig - HF| at that dtype "
                              "/ max |HF float32| of the site",
               "transformers": transformers.__version__, "torch": torch.__version__, "rig_device": DEVICE}
    print(json.dumps(summary, indent=1))
    if args.summary:  # its folder is oracle_goldens' output, which is skipped without ../shared
        os.makedirs(os.path.dirname(os.path.abspath(args.summary)), exist_ok=True)
        json.dump(summary, open(args.summary, "w"), indent=1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print(f"{len(failures)} FAILURES:")
        for x in failures[:60]:
            print("  " + x)
        return 1
    print(f"oracle: {n_configs} configs, {tally.sites} site comparisons, {tally.tokens} tokens: all equal HF")
    return 0


if __name__ == "__main__":
    sys.exit(main())
