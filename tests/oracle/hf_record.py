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
