#!/usr/bin/env python3
"""transformers on the model of `rig bench --full-size`, measured as rig measures itself:
from_pretrained(dir, dtype=...) as users call it (transformers 5's name for torch_dtype), then
a greedy generate() of --new-tokens after the same --prompt-tokens prompt, batch 1.

Prints JSON: checkpoint bytes, peak RSS (VmHWM of this process; base_vm_hwm_kb is the peak
before loading, after importing torch and transformers), load s, time to first token,
tokens/s after it, and the generated ids (rig's should match them: same greedy decode).

  build/rig bench --full-size --dir /tmp/fs --json /tmp/fs/rig.json
  python bench/full_size_hf.py --model /tmp/fs/model --rig-json /tmp/fs/rig.json

bench/full_size.sh does both. Exits 77 (skipped) without torch or transformers.
"""
import argparse
import json
import os
import sys
import time

SKIP = 77


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def lcg_letters(n, state):
    """rig bench's prompt: n letters from its LCG (src/bench/model_files.cc random_letters)."""
    out = []
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(chr(ord("a") + (state >> 33) % 26))
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--rig-json", required=True, help="rig bench --full-size's summary: dtype, seed, lengths")
    ap.add_argument("--json", help="also write the summary here")
    args = ap.parse_args()
    rig = json.load(open(args.rig_json))
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"SKIPPED: {e}", file=sys.stderr)
        return SKIP
    threads = rig["threads"]
    torch.set_num_threads(threads)
    out = {"impl": f"transformers {transformers.__version__}", "torch_version": torch.__version__,
           "threads": threads, "dtype": rig["dtype"], "compute_dtype": rig["compute_dtype"], "load_1m_start": os.getloadavg()[0]}
    out["checkpoint_bytes"] = sum(os.path.getsize(os.path.join(args.model, f))
                                  for f in os.listdir(args.model) if f.endswith(".safetensors"))
    out["base_vm_hwm_kb"] = status_kb("VmHWM")
    dtype = getattr(torch, rig["compute_dtype"])
    t0 = time.perf_counter()
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=dtype)
    model.eval()
    out["load_s"] = time.perf_counter() - t0
    out["after_load"] = {k: status_kb(f) for k, f in (("vm_hwm_kb", "VmHWM"), ("vm_rss_kb", "VmRSS"),
                                                      ("rss_anon_kb", "RssAnon"), ("rss_file_kb", "RssFile"))}
    out["parameters"] = sum(p.numel() for p in model.parameters())
    # The bench tokenizer: byte b is id b + 1, so the prompt's ids are its letters' bytes + 1.
    ids = [b + 1 for b in lcg_letters(rig["prompt_tokens"], rig["seed"]).encode()]
    assert ids == rig["prompt_ids"], (ids, rig["prompt_ids"])

    times = []

    class Clock(transformers.generation.streamers.BaseStreamer):
        """generate() calls put() with the prompt, then with each new token once it is chosen."""

        def put(self, value):
            times.append(time.perf_counter())

        def end(self):
            pass

    n = rig["new_tokens"]
    model.generation_config.eos_token_id = None  # exactly n tokens, as rig (no stop, no eos suppression)
    with torch.inference_mode():
        t1 = time.perf_counter()
        res = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=n, do_sample=False, streamer=Clock(), pad_token_id=0)
        t_end = time.perf_counter()
    first = times[1]  # times[0]: the prompt
    out["new_ids"] = res[0, len(ids):].tolist()
    out["ttft_s"] = first - t1
    out["generate_s"] = t_end - t1
    out["decode_tokens_per_s"] = (n - 1) / (times[-1] - first)
    out["tokens_per_s"] = n / (t_end - t1)
    out["end"] = {k: status_kb(f) for k, f in (("vm_hwm_kb", "VmHWM"), ("vm_rss_kb", "VmRSS"),
                                               ("rss_anon_kb", "RssAnon"), ("rss_file_kb", "RssFile"))}
    out["vm_hwm_kb"] = status_kb("VmHWM")
    out["ratio"] = out["vm_hwm_kb"] * 1024 / out["checkpoint_bytes"]
    out["load_1m_end"] = os.getloadavg()[0]
    print(json.dumps(out))
    if args.json:
        json.dump(out, open(args.json, "w"), indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
