"""What transformers records: from_pretrained + register_forward_hook, the seed's method.

record() writes the golden format of ../shared/golden (its README): forward/p<i>/{input_ids,
logits, sites/<module>/{in,out}}, generate/ (greedy generate() with the KV cache, hooks
appending on every call), intervene/<kind>/ (hooks that return a modified output).
"""
import json

import h5py
import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def load(model_dir, dtype="float32"):
    """As the seed and users load a model: from_pretrained(dir, torch_dtype=...); with eager
    attention where the config soft-caps attention scores (Gemma 2): transformers 5.17 loads
    Gemma 2 with sdpa, which drops attn_logit_softcapping; eager computes the model as
    defined (docs/ORACLE.md)."""
    kwargs = {}
    if getattr(AutoConfig.from_pretrained(model_dir), "attn_logit_softcapping", None) is not None:
        kwargs["attn_implementation"] = "eager"
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=DTYPES[dtype], **kwargs)
    model.eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    return model, tok


def first_tensor(x):
    if torch.is_tensor(x):
        return x
    if isinstance(x, (tuple, list)) and x and torch.is_tensor(x[0]):
        return x[0]
    return None


class Hooks:
    """Forward hooks on every named module: the first positional input and the first output
    tensor of every call (batch row 0), as float32 numpy rows [T, D]."""

    def __init__(self, model):
        self.calls = {}
        self.handles = []
        for name, mod in model.named_modules():
            if name:
                self.handles.append(mod.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def hook(module, args, output):
            rec = self.calls.setdefault(name, {"in": [], "out": []})
            x = args[0] if args and torch.is_tensor(args[0]) else None
            y = first_tensor(output)
            for key, t in (("in", x), ("out", y)):
                if t is not None and t.dim() >= 2 and t.is_floating_point():  # not the token ids
                    rec[key].append(t[0].detach().float().numpy().reshape(t.shape[1], -1))
        return hook

    def take(self):
        calls, self.calls = self.calls, {}
        return {n: {k: np.concatenate(v, 0) for k, v in c.items() if v} for n, c in calls.items()}

    def remove(self):
        for h in self.handles:
            h.remove()


def intervention_hooks(model, spec):
    """Hooks that RETURN a modified output: set neurons to a value, add a vector, scale."""
    modules = dict(model.named_modules())
    handles = []
    for s in spec:
        assert s.get("side", "output") == "output"

        def hook(module, args, output, s=s):
            y = first_tensor(output)
            idx = torch.tensor(s["neurons"]) if "neurons" in s else slice(None)
            z = y.clone()
            if s["op"] == "set":
                z[..., idx] = s["value"]
            elif s["op"] == "add":
                z[..., idx] = z[..., idx] + torch.tensor(s["vector"], dtype=z.dtype)
            elif s["op"] == "scale":
                z[..., idx] = z[..., idx] * s["factor"]
            else:
                raise ValueError(s["op"])
            if torch.is_tensor(output):
                return z
            return (z, *output[1:])
        # prepend: the recording hooks see the modified output, as rig's electrodes do.
        handles.append(modules[s["site"]].register_forward_hook(hook, prepend=True))
    return handles


def write_sites(g, sites):
    for name, rec in sites.items():
        for key, arr in rec.items():
            g.create_dataset(f"sites/{name}/{key}", data=arr)


@torch.no_grad()
def record(model, tok, prompts, out_path, interventions=None, gen_prompt=None, max_new_tokens=8):
    """prompts: texts; interventions: {kind: spec list}; gen_prompt: the text generate/ uses."""
    hooks = Hooks(model)
    ids_of = lambda text: tok(text, return_tensors="pt")["input_ids"]
    with h5py.File(out_path, "w") as f:
        for i, text in enumerate(prompts):
            ids = ids_of(text)
            logits = model(ids).logits[0].float().numpy()
            g = f.create_group(f"forward/p{i}")
            g.attrs["text"] = text
            g["input_ids"] = ids[0].numpy()
            g["logits"] = logits
            write_sites(g, hooks.take())
        if gen_prompt is not None:
            ids = ids_of(gen_prompt)
            hooks.take()
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                 do_sample=False, pad_token_id=tok.eos_token_id or 0)
            g = f.create_group("generate")
            g.attrs["text"] = gen_prompt
            g.attrs["max_new_tokens"] = max_new_tokens
            g["input_ids"] = ids[0].numpy()
            g["output_ids"] = out[0].numpy()
            write_sites(g, hooks.take())
        for kind, spec in (interventions or {}).items():
            handles = intervention_hooks(model, spec)
            try:
                ids = ids_of(gen_prompt)
                hooks.take()
                g = f.create_group(f"intervene/{kind}")
                g.attrs["spec"] = json.dumps(spec)
                g["input_ids"] = ids[0].numpy()
                g["logits"] = model(ids).logits[0].float().numpy()
                write_sites(g, hooks.take())
                out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                     do_sample=False, pad_token_id=tok.eos_token_id or 0)
                hooks.take()
                g["output_ids"] = out[0].numpy()
            finally:
                for h in handles:
                    h.remove()
    hooks.remove()


# --- sites inside attention (docs/FORMAT.md "Sites inside attention") ---------------------------

ATTN_SITES = ("q", "k", "v", "q_rot", "k_rot", "scores", "pattern", "z", "result")


def _attention_parts(model):
    """(modeling module, [(attention path, its q/k/v source, output projection)]) per layer."""
    import importlib
    arch = model.config.model_type
    mod = importlib.import_module(type(model).__module__)
    parts = []
    for name, m in model.named_modules():
        cls = type(m).__name__
        if not cls.endswith("Attention"):
            continue
        if arch == "gpt2":
            parts.append((name, m.c_attn, m.c_proj, m.c_proj.weight))  # Conv1D: [H*Dh, D]
        elif arch == "gpt_neox":
            parts.append((name, m.query_key_value, m.dense, m.dense.weight.t()))
        else:
            parts.append((name, (m.q_proj, m.k_proj, m.v_proj), m.o_proj, m.o_proj.weight.t()))
    return mod, parts


@torch.no_grad()
def attention_sites(model, ids):
    """transformers' values at rig's attention sites for one sequence ids [1, T] (no cache), as
    {"<attention path>.<site>": float32 [T, W]}. The model must use eager attention. q, k, v:
    the projections' outputs (forward hooks), heads side by side; q_rot, k_rot: the query and
    key that eager_attention_forward receives (after q_norm/k_norm and rotary); scores: its
    q k^T * scaling, soft-capped, with the keys its mask excludes at -inf; pattern: its
    attention weights (what output_attentions returns); z: the output projection's input
    (a forward pre-hook); result: z's heads times their columns of W_O, bias excluded. The
    key axis is padded to max_position_embeddings keys (scores -inf, pattern 0)."""
    cfg = model.config
    arch = cfg.model_type
    H = cfg.num_attention_heads
    K = getattr(cfg, "max_position_embeddings", None) or cfg.n_positions
    mod, parts = _attention_parts(model)
    T = ids.shape[1]
    got, handles, order = {}, [], []

    def keep(name, t):  # [1, T, W] -> [T, W]
        got[name] = t[0].detach().float().reshape(T, -1).numpy()

    for path, src, proj, w_o in parts:
        if arch == "gpt2":
            def qkv_hook(m, a, y, path=path):
                for s, t in zip("qkv", y.split(y.shape[-1] // 3, dim=-1)):
                    keep(f"{path}.{s}", t)
            handles.append(src.register_forward_hook(qkv_hook))
        elif arch == "gpt_neox":
            def qkv_hook(m, a, y, path=path):
                Dh = y.shape[-1] // (3 * H)
                per_head = y.view(1, T, H, 3 * Dh)
                for i, s in enumerate("qkv"):
                    keep(f"{path}.{s}", per_head[..., i * Dh:(i + 1) * Dh])
            handles.append(src.register_forward_hook(qkv_hook))
        else:
            for s, lin in zip("qkv", src):
                handles.append(lin.register_forward_hook(lambda m, a, y, s=s, path=path: keep(f"{path}.{s}", y)))

        def z_hook(m, a, path=path, w_o=w_o):
            z = a[0]
            keep(f"{path}.z", z)
            zh = z[0].float().view(T, H, -1)
            D = w_o.shape[1]
            keep(f"{path}.result", torch.einsum("thd,hdo->tho", zh, w_o.float().view(H, -1, D)).reshape(1, T, -1))
        handles.append(proj.register_forward_pre_hook(z_hook))
        order.append(path)

    original = mod.eager_attention_forward
    calls = []

    def probe(module, query, key, value, attention_mask, *args, **kwargs):
        out = original(module, query, key, value, attention_mask, *args, **kwargs)
        calls.append((module, query, key, attention_mask, kwargs.get("scaling", args[1] if len(args) > 1 else None),
                      kwargs.get("softcap"), out[1]))
        return out

    mod.eager_attention_forward = probe
    try:
        model(ids, use_cache=False)
    finally:
        mod.eager_attention_forward = original
        for h in handles:
            h.remove()
    assert len(calls) == len(order), "eager attention was not called once per layer (not eager?)"

    def key_axis(x, fill):  # [1, H, T, S] -> [T, H*K]
        x = x[0].float().permute(1, 0, 2)
        pad = torch.full((T, H, K - x.shape[-1]), fill)
        return torch.cat([x, pad], -1).reshape(T, -1).numpy()

    for path, (module, query, key, mask, scaling, softcap, weights) in zip(order, calls):
        if arch != "gpt2":
            got[f"{path}.q_rot"] = query[0].float().transpose(0, 1).reshape(T, -1).numpy()
            got[f"{path}.k_rot"] = key[0].float().transpose(0, 1).reshape(T, -1).numpy()
        reps = getattr(module, "num_key_value_groups", 1)
        k_all = key.repeat_interleave(reps, 1) if reps > 1 else key
        if scaling is None:
            scaling = query.shape[-1] ** -0.5
        scores = torch.matmul(query, k_all.transpose(2, 3)) * scaling
        if softcap is not None:
            scores = torch.tanh(scores / softcap) * softcap
        if mask is not None:
            allowed = mask if mask.dtype == torch.bool else mask == 0
            scores = scores.masked_fill(~allowed[..., :scores.shape[-1]], float("-inf"))
        got[f"{path}.scores"] = key_axis(scores, float("-inf"))
        got[f"{path}.pattern"] = key_axis(weights, 0.0)
    return got
