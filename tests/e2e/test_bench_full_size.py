"""rig bench --full-size --quick: writes a tiny Llama sharded as save_pretrained shards
(model-0000K-of-0000N.safetensors + model.safetensors.index.json), loads it and generates in a
child process; its JSON has every field, with ratios that agree with the numbers they come
from, and bench/full_size_hf.py reproduces its prompt (without PyTorch: only the prompt logic).
A second run uses the model again. No timing thresholds: the machine is shared."""
import importlib.util
import json
import math
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
import rigtest  # noqa: E402

FIELDS = ["seed", "threads", "checkpoint_bytes", "base_vm_hwm_kb", "load_s", "after_load", "parameters", "prompt_ids",
          "new_ids", "ttft_s", "generate_s", "decode_tokens_per_s", "tokens_per_s", "end", "vm_hwm_kb", "ratio",
          "dtype", "compute_dtype", "prompt_tokens", "new_tokens", "load_1m_start", "load_1m_end", "machine"]


def main():
    tmp = rigtest.tmpdir()
    work, out = os.path.join(tmp, "work"), os.path.join(tmp, "fs.json")
    args = ["bench", "--full-size", "--quick", "--threads", "1", "--dir", work, "--json", out, "--new-tokens", "5"]
    p = rigtest.run(args, timeout=120)
    assert "writing the full-size model" in p.stderr, p.stderr
    j = json.load(open(out))
    missing = [k for k in FIELDS if k not in j]
    assert not missing, missing
    model = os.path.join(work, "model")
    index = json.load(open(os.path.join(model, "model.safetensors.index.json")))
    shards = sorted(f for f in os.listdir(model) if f.endswith(".safetensors"))
    assert len(shards) >= 2 and set(index["weight_map"].values()) == set(shards), shards
    assert j["checkpoint_bytes"] == sum(os.path.getsize(os.path.join(model, f)) for f in shards)
    # header bytes aside, the shards hold the parameters in bfloat16 (the untied head included)
    assert index["metadata"]["total_size"] == 2 * j["parameters"]
    assert j["dtype"] == j["compute_dtype"] == "bfloat16" and j["threads"] == 1
    assert len(j["new_ids"]) == j["new_tokens"] == 5 and len(j["prompt_ids"]) == j["prompt_tokens"] == 8
    for k in ("load_s", "ttft_s", "generate_s", "decode_tokens_per_s", "vm_hwm_kb"):
        assert isinstance(j[k], (int, float)) and math.isfinite(j[k]) and j[k] > 0, (k, j[k])
    assert abs(j["ratio"] - j["vm_hwm_kb"] * 1024 / j["checkpoint_bytes"]) <= 1e-9 * j["ratio"]
    # tokens 2..5 over the time after the first one
    assert abs(j["decode_tokens_per_s"] - 4 / (j["generate_s"] - j["ttft_s"])) <= 1e-6 * j["decode_tokens_per_s"]
    assert j["base_vm_hwm_kb"] <= j["after_load"]["vm_hwm_kb"] <= j["vm_hwm_kb"]
    for line in ("full size", "peak RSS", "first token"):
        assert line in p.stdout, p.stdout

    spec = importlib.util.spec_from_file_location("full_size_hf", os.path.join("bench", "full_size_hf.py"))
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)  # imports torch only inside main()
    assert [b + 1 for b in base.lcg_letters(j["prompt_tokens"], j["seed"]).encode()] == j["prompt_ids"]

    # The same model again: not rewritten, the same greedy tokens.
    mtime = os.path.getmtime(os.path.join(model, shards[0]))
    p = rigtest.run(args, timeout=120)
    assert "using the model already" in p.stderr, p.stderr
    assert os.path.getmtime(os.path.join(model, shards[0])) == mtime
    assert json.load(open(out))["new_ids"] == j["new_ids"]
    # Another stored dtype is another model: written anew.
    p = rigtest.run(args + ["--dtype", "float32", "--compute-dtype", "bfloat16"], timeout=120)
    assert "writing the full-size model" in p.stderr, p.stderr
    j2 = json.load(open(out))
    assert j2["dtype"] == "float32" and j2["compute_dtype"] == "bfloat16"
    assert j2["checkpoint_bytes"] > 1.9 * j["checkpoint_bytes"]
    shutil.rmtree(tmp)
    print("ok")


if __name__ == "__main__":
    main()
