#!/usr/bin/env python3
"""The Python way, for comparison with `rig bench`: the same model, prompts and sizes run
with Hugging Face transformers and register_forward_hook, as the post does.

It runs in the venv of scripts/venv.sh (pinned torch and transformers); the summary records
both versions.

  (1) prompt-only recording: every decoder layer output (gpt_neox.layers.N) and every MLP
      neuron (gpt_neox.layers.N.mlp.act), hooks copying to CPU float32, each batch appended to
      an HDF5 file (h5py), flushed and fsynced, as rig's writer does;
  (2) the post's experiment: batch 1, greedy generate() of 14 new tokens after a 6-token
      prompt, one hooked site (gpt_neox.layers.5.mlp.dense_4h_to_h).

It reads the sizes and the seed from rig bench's JSON summary and loads the model that rig
bench wrote (run it with --dir so the model stays), so both run the same work:

  build/rig bench --dir /tmp/rb --json /tmp/rb/rig.json
  python3 bench/hf_hooks_baseline.py --model /tmp/rb/model --rig-json /tmp/rb/rig.json --json /tmp/rb/hf.json

bench/run.sh does both and prints the ratios. Exits 77 (skipped) when transformers, PyTorch,
h5py or numpy are missing.
"""
import argparse
import json
import os
import sys
import time

SKIP = 77


def lcg_letters(n, state):
    """rig bench's prompts: n letters from its LCG (src/bench/model_files.cc random_letters)."""
    out = []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(chr(ord("a") + (state >> 33) % 26))
    return "".join(out), state


def prompts(count, n, seed):
    state, res = seed, []
    for _ in range(count):
        s, state = lcg_letters(n, state)
        res.append(s)
    return res


def token_ids(text):
    """The bench tokenizer: byte-level BPE without merges, byte b is id b + 1."""
    return [b + 1 for b in text.encode("ascii")]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the model directory rig bench wrote (DIR/model)")
    p.add_argument("--rig-json", required=True, help="rig bench's --json summary (sizes and seed)")
    p.add_argument("--json", help="write this baseline's summary here")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = the same as rig bench)")
    p.add_argument("--reps", type=int, default=0, help="timed repetitions, best counts (0 = 1 for --quick, else 2)")
    p.add_argument("--workdir", help="where the HDF5 files go (default: beside --model)")
    return p.parse_args(argv)


def sizes_from(rig):
    r, g = rig["record"], rig["generate"]
    return {
        "rec_prompts": int(r["prompts"]), "rec_tokens": int(r["tokens_per_prompt"]), "rec_batch": int(r["batch_size"]),
        "gen_prompt_tokens": int(g["prompt_tokens"]), "gen_new_tokens": int(g["new_tokens"]),
        "gen_trials": int(g["trials"]), "gen_site": g["site"], "seed": int(rig["seed"]),
        "quick": bool(rig["machine"].get("quick", False)), "threads": int(rig["machine"]["threads"]),
    }


def main(argv):
    args = parse_args(argv)
    try:
        import torch
        import h5py
        import numpy as np  # noqa: F401 (h5py and .numpy() need it)
        import transformers
    except ImportError as e:
        print(f"hf_hooks_baseline: skipped: needs transformers, PyTorch, h5py and numpy: the venv of "
              f"scripts/venv.sh ({e})", file=sys.stderr)
        return SKIP
    with open(args.rig_json) as f:
        rig = json.load(f)
    s = sizes_from(rig)
    torch.set_num_threads(args.threads or s["threads"])
    device = torch.device(args.device)
    reps = args.reps or (1 if s["quick"] else 2)
    workdir = args.workdir or os.path.dirname(os.path.abspath(args.model))

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    impl = f"transformers {transformers.__version__}"
    model = transformers.GPTNeoXForCausalLM.from_pretrained(args.model, torch_dtype=torch.float32).to(device).eval()
    n_layers = model.config.num_hidden_layers

    # --- (1) prompt-only recording of every layer output and MLP neuron ---
    names = [f"gpt_neox.layers.{i}" for i in range(n_layers)] + [f"gpt_neox.layers.{i}.mlp.act" for i in range(n_layers)]
    modules = dict(model.named_modules())
    captured = {n: [] for n in names}

    def make_hook(name):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            captured[name].append(out.detach().to("cpu", torch.float32))
        return hook

    ids = torch.tensor([token_ids(p) for p in prompts(s["rec_prompts"], s["rec_tokens"], s["seed"])])
    assert ids.shape == (s["rec_prompts"], s["rec_tokens"])
    # Only the last position's logits are needed, as in rig.
    def forward(batch):
        model(input_ids=batch, attention_mask=torch.ones_like(batch), use_cache=False, logits_to_keep=1)

    def record_run(with_hooks):
        handles = [modules[n].register_forward_hook(make_hook(n)) for n in names] if with_hooks else []
        path = os.path.join(workdir, "hf_record.h5")
        t0 = time.perf_counter()
        with h5py.File(path, "w") as f:
            dsets = {}
            rows = 0
            for b in range(0, s["rec_prompts"], s["rec_batch"]):
                batch = ids[b:b + s["rec_batch"]].to(device)
                with torch.inference_mode():
                    forward(batch)
                sync()
                n_rows = batch.numel()
                for n in names if with_hooks else []:
                    x = torch.cat(captured[n]).reshape(n_rows, -1).numpy()
                    captured[n].clear()
                    if n not in dsets:
                        dsets[n] = f.create_dataset(n, shape=(0, x.shape[1]), maxshape=(None, x.shape[1]),
                                                    dtype="f4", chunks=(min(1024, n_rows), x.shape[1]))
                    d = dsets[n]
                    d.resize(rows + n_rows, axis=0)
                    d[rows:rows + n_rows] = x
                rows += n_rows
                f.flush()
                os.fsync(f.id.get_vfd_handle())
        wall = time.perf_counter() - t0
        for h in handles:
            h.remove()
        os.remove(path)
        return wall

    record_run(True)  # warm-up
    t_rec = t_none = float("inf")
    for _ in range(reps):
        t_rec = min(t_rec, record_run(True))
        t_none = min(t_none, record_run(False))
    tokens = s["rec_prompts"] * s["rec_tokens"]

    # --- (2) the post's experiment: batch 1, greedy, one hooked site ---
    site = modules[s["gen_site"]]
    gen_captured = []
    handle = site.register_forward_hook(lambda m, i, o: gen_captured.append(o.detach().to("cpu", torch.float32)))
    gen_prompts = [token_ids(p) for p in prompts(s["gen_trials"], s["gen_prompt_tokens"], s["seed"] + 1)]

    def generate_run():
        path = os.path.join(workdir, "hf_generate.h5")
        t0 = time.perf_counter()
        with h5py.File(path, "w") as f:
            for k, p in enumerate(gen_prompts):
                x = torch.tensor([p], device=device)
                with torch.inference_mode():
                    out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=s["gen_new_tokens"],
                                         min_new_tokens=s["gen_new_tokens"], do_sample=False, pad_token_id=0)
                sync()
                assert out.shape[1] == len(p) + s["gen_new_tokens"], out.shape
                rec = torch.cat([c[0] for c in gen_captured]).numpy()
                gen_captured.clear()
                f.create_dataset(f"trial_{k}", data=rec)
                f.flush()
                os.fsync(f.id.get_vfd_handle())
        wall = time.perf_counter() - t0
        os.remove(path)
        return wall

    generate_run()  # warm-up
    t_gen = min(generate_run() for _ in range(reps))
    handle.remove()
    n_gen = s["gen_trials"] * s["gen_new_tokens"]

    summary = {
        "impl": impl, "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "device": str(device), "threads": torch.get_num_threads(),
        "logits": "last position",
        "record": {"wall_s": t_rec, "tokens_per_s": tokens / t_rec, "tokens": tokens},
        "record_none": {"wall_s": t_none, "tokens_per_s": tokens / t_none},
        "generate": {"wall_s": t_gen, "ms_per_token": t_gen / n_gen * 1e3},
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
