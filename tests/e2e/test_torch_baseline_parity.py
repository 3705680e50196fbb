"""bench/torch_gpt_neox.py (the plain-PyTorch GPT-NeoX of the forward-hook baseline) computes
what HF transformers computes: every hooked module's input and output, the logits, greedy
generation with the KV cache and generation under hooks that return modified outputs, against
../shared/golden/gptneox-tiny.h5 (recorded by transformers 5.17 with register_forward_hook);
and on the model `rig bench` writes, its greedy continuations equal rig's (the ids rig bench
recorded, and `rig generate`'s text). Skips (77) without PyTorch or ../shared.
Set RIG_BENCH_DIR to a kept `rig bench --dir` folder to check that model instead of --quick's."""
import json
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import rigtest  # noqa: E402

try:
    import torch
except ImportError as e:
    print(f"SKIPPED: needs PyTorch ({e})")
    sys.exit(77)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "bench"))
from torch_gpt_neox import GPTNeoXForCausalLM  # noqa: E402

TOL = 1e-4  # shared/README.md: 1e-4 absolute or 1e-4 relative, float32
worst = {"abs": 0.0, "what": ""}


def compare(got, want, what):
    got = np.asarray(got, dtype=np.float32)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, HF {want.shape}"
    diff = np.abs(got - want)
    bad = diff > np.maximum(TOL, TOL * np.abs(want))
    assert not bad.any(), f"{what}: {int(bad.sum())} values differ, max |diff| {diff.max():.3g}"
    if diff.max() > worst["abs"]:
        worst.update(abs=float(diff.max()), what=what)


def hf_name(name):
    return "lm_head" if name == "embed_out" else name  # transformers 5 renamed embed_out


def first_tensor(x):
    return x[0] if isinstance(x, (tuple, list)) else x


class Recorder:
    """register_forward_hook on the modules golden recorded; appends each call's first input
    and first output tensor (batch row 0), as the golden recording did."""

    def __init__(self, model, names):
        self.rec = {n: {"in": [], "out": []} for n in names}
        mods = {hf_name(n): m for n, m in model.named_modules()}
        self.handles = [mods[n].register_forward_hook(self.hook(n)) for n in names]

    def hook(self, name):
        def fn(module, inputs, output):
            if inputs and torch.is_tensor(inputs[0]) and inputs[0].is_floating_point():
                self.rec[name]["in"].append(inputs[0][0].detach().clone())
            self.rec[name]["out"].append(first_tensor(output)[0].detach().clone())
        return fn

    def check(self, sites, what):
        for n, g in sites.items():
            for side in ("in", "out"):
                if side in g:
                    calls = self.rec[n][side]
                    assert len(calls) == g.attrs[f"{side}_calls"], f"{what} {n}/{side}: {len(calls)} calls"
                    compare(torch.cat(calls).numpy(), g[side][()], f"{what} {n}/{side}")

    def remove(self):
        for h in self.handles:
            h.remove()


def intervention_hooks(model, spec):
    """Hooks that RETURN a modified first output: set neurons / add a vector / scale."""
    mods = {hf_name(n): m for n, m in model.named_modules()}

    def make(s):
        def fn(module, inputs, output):
            x = first_tensor(output).clone()
            if s["op"] == "set":
                x[..., s["neurons"]] = s["value"]
            elif s["op"] == "add":
                x = x + torch.tensor(s["vector"], dtype=x.dtype)
            elif s["op"] == "scale":
                x = x * s["factor"]
            else:
                raise AssertionError(f"unknown op {s['op']}")
            return (x, *output[1:]) if isinstance(output, tuple) else x
        return fn
    for s in spec:
        assert s["side"] == "output", s
    return [mods[s["site"]].register_forward_hook(make(s)) for s in spec]


def check_golden(model_dir, golden):
    model = GPTNeoXForCausalLM.from_pretrained(model_dir)
    # the module tree is HF's, name for name (module_tree.txt: transformers 5's named_modules())
    with open(os.path.join(model_dir, "module_tree.txt")) as f:
        hf_names = {line.split("\t")[0] for line in f.read().splitlines() if "\t" in line}
    ours = {hf_name(n) for n, _ in model.named_modules()}
    assert ours == hf_names, f"module names: only ours {sorted(ours - hf_names)}, only HF {sorted(hf_names - ours)}"

    with h5py.File(golden, "r") as f:
        for p, g in f["forward"].items():
            rec = Recorder(model, list(g["sites"]))
            with torch.inference_mode():
                logits, _ = model(torch.from_numpy(g["input_ids"][()])[None])
            rec.remove()
            compare(logits[0].numpy(), g["logits"][()], f"forward/{p} logits")
            rec.check(g["sites"], f"forward/{p}")

        g = f["generate"]
        rec = Recorder(model, list(g["sites"]))
        out = model.generate(torch.from_numpy(g["input_ids"][()])[None], int(g.attrs["max_new_tokens"]),
                             eos_token_id=model.config["eos_token_id"])
        rec.remove()
        assert out[0].tolist() == g["output_ids"][()].tolist(), f"generate: {out[0].tolist()}"
        rec.check(g["sites"], "generate")

        for name, g in f["intervene"].items():
            handles = intervention_hooks(model, json.loads(g.attrs["spec"]))
            rec = Recorder(model, list(g["sites"]))
            ids = torch.from_numpy(g["input_ids"][()])[None]
            with torch.inference_mode():
                logits, _ = model(ids)
            rec.remove()
            compare(logits[0].numpy(), g["logits"][()], f"intervene/{name} logits")
            rec.check(g["sites"], f"intervene/{name}")
            n_new = len(g["output_ids"]) - ids.shape[1]
            out = model.generate(ids, n_new, eos_token_id=model.config["eos_token_id"])
            for h in handles:
                h.remove()
            assert out[0].tolist() == g["output_ids"][()].tolist(), f"intervene/{name} generate: {out[0].tolist()}"


def byte_chars():
    """GPT-2's byte-level alphabet: byte -> the printable character that stands for it."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_CHARS = byte_chars()
CHAR_BYTES = {c: b for b, c in BYTE_CHARS.items()}


def byte_level_text(vocab, ids):
    """What a ByteLevel decoder makes of ids: the tokens' characters mapped back to bytes."""
    id_tok = {i: t for t, i in vocab.items()}
    return bytes(CHAR_BYTES[ch] for i in ids for ch in id_tok[i]).decode("utf-8", errors="replace")


def check_bench_model(work):
    """Greedy continuations on the model rig bench wrote equal rig's."""
    model = GPTNeoXForCausalLM.from_pretrained(os.path.join(work, "model"))
    with h5py.File(os.path.join(work, "bench_generate.h5"), "r") as f:
        tok, trials = f["tokens"], f["trials"]
        ids, generated = tok["token_id"][()], tok["generated"][()].astype(bool)
        prompts = [p.decode() for p in trials["prompt"][()]]
        for k, (a, b) in enumerate(zip(trials["row_start"][()], trials["row_stop"][()])):
            prompt, new = ids[a:b][~generated[a:b]], ids[a:b][generated[a:b]]
            out = model.generate(torch.from_numpy(prompt)[None], len(new))
            assert out[0, len(prompt):].tolist() == new.tolist(), f"bench trial {k}: {out[0].tolist()} vs rig {new}"
    with open(os.path.join(work, "model", "tokenizer.json")) as f:
        vocab = json.load(f)["model"]["vocab"]
    for prompt in prompts[:2] + ["the quick brown fox", "Hello, I am your"]:
        n = 20
        p = rigtest.run(["generate", os.path.join(work, "model"), "--prompt", prompt, "-n", str(n), "--no-special-tokens"])
        ids = [vocab[BYTE_CHARS[b]] for b in prompt.encode()]  # the bench tokenizer has no merges
        out = model.generate(torch.tensor([ids]), n)[0].tolist()
        assert p.stdout.rstrip("\n") == byte_level_text(vocab, out), f"{prompt!r}: rig {p.stdout!r}, ours {out}"
    return len(prompts) + 4


def main():
    model_dir = rigtest.need(os.path.join(rigtest.GOLDEN, "models", "gptneox-tiny"))
    golden = rigtest.need(os.path.join(rigtest.GOLDEN, "gptneox-tiny.h5"))
    torch.set_num_threads(1)
    check_golden(model_dir, golden)
    print(f"golden: max |diff| {worst['abs']:.3g} ({worst['what']})")

    tmp = None
    work = os.environ.get("RIG_BENCH_DIR")
    if not work:
        tmp = rigtest.tmpdir()
        work = os.path.join(tmp, "work")
        rigtest.run(["bench", "--quick", "--threads", "1", "--dir", work], timeout=120)
    n = check_bench_model(work)
    print(f"bench model {work}: {n} greedy continuations equal rig's")
    if tmp:
        shutil.rmtree(tmp)
    print("ok")


if __name__ == "__main__":
    main()
