"""rig bench --quick runs (tiny sizes, seconds) and its JSON summary has every field, with
ratios that agree with the numbers they come from. Also checks that the HF baseline script
reproduces rig bench's prompts (without PyTorch: only its prompt and id logic). No timing
thresholds: the machine is shared."""
import importlib.util
import json
import math
import os
import shutil
import sys

import h5py

sys.path.insert(0, os.path.dirname(__file__))
import rigtest  # noqa: E402

FIELDS = {
    "machine": ["cpu", "cores", "threads", "device", "load_1m_start", "load_1m_end", "rig_version", "quick", "dir", "env"],
    "model": ["model_type", "vocab_size", "hidden_size", "num_layers", "num_heads", "intermediate_size",
              "rotary_pct", "max_position_embeddings"],
    "gemm": ["gflops", "by_size", "model_shapes_gflops", "model_shapes_weighted_gflops"],
    "memory_bandwidth": ["read_gbs", "copy_gbs", "triad_gbs", "gbs"],
    "record": ["prompts", "tokens_per_prompt", "batch_size", "sites", "electrodes", "values_per_token",
               "recorded_bytes", "wall_s", "tokens_per_s", "flops_per_token", "gflops", "fraction_of_gemm",
               "fraction_of_model_shape_gemm", "target", "met"],
    "record_none": ["wall_s", "tokens_per_s"],
    "overhead": ["ratio", "target", "met"],
    "generate": ["prompt_tokens", "new_tokens", "trials", "site", "forward_calls_per_trial", "wall_s",
                 "ms_per_token", "model_only_ms_per_token", "no_fsync_ms_per_token", "weight_bytes", "bound_ms_per_token",
                 "ratio_to_bound", "model_only_ratio_to_bound", "target", "met"],
    "write": ["bytes", "hdf5_file_bytes", "hdf5_s", "raw_s", "hdf5_mb_s", "raw_mb_s", "fraction_of_raw", "fsync",
              "target", "met"],
    "write_no_fsync": ["bytes", "hdf5_s", "raw_s", "hdf5_mb_s", "raw_mb_s", "fraction_of_raw", "fsync"],
    "rss": ["model", "small", "large", "ratio", "delta_kb", "target", "met"],
}


def positive(x, what):
    assert isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0, f"{what}: {x!r}"


def close(a, b, what):
    assert abs(a - b) <= 1e-6 * max(abs(a), abs(b)), f"{what}: {a} != {b}"


def main():
    tmp = rigtest.tmpdir()
    # A --dir that YAML would misread unquoted or between pasted quotes: bench's configs quote it.
    work, out = os.path.join(tmp, 'work "a": #b'), os.path.join(tmp, "bench.json")
    p = rigtest.run(["bench", "--quick", "--threads", "1", "--dir", work, "--json", out], timeout=120)
    with open(out) as f:
        j = json.load(f)
    for section, keys in FIELDS.items():
        assert section in j, f"missing section {section}"
        missing = [k for k in keys if k not in j[section]]
        assert not missing, f"{section}: missing {missing}"
    assert "seed" in j
    assert j["machine"]["quick"] is True and j["machine"]["threads"] == 1
    for section in ("record", "overhead", "generate", "write", "rss"):
        assert isinstance(j[section]["met"], bool), section

    r, g, w, s = j["record"], j["generate"], j["write"], j["rss"]
    for what, x in [("gemm", j["gemm"]["gflops"]), ("bw", j["memory_bandwidth"]["gbs"]), ("tok/s", r["tokens_per_s"]),
                    ("ms/token", g["ms_per_token"]), ("bound", g["bound_ms_per_token"]), ("hdf5", w["hdf5_mb_s"]),
                    ("raw", w["raw_mb_s"]), ("rss", s["small"]["vm_hwm_kb"])]:
        positive(x, what)
    tokens = r["prompts"] * r["tokens_per_prompt"]
    close(r["tokens_per_s"], tokens / r["wall_s"], "tokens_per_s")
    close(r["fraction_of_gemm"], r["tokens_per_s"] * r["flops_per_token"] / 1e9 / j["gemm"]["gflops"], "fraction")
    close(j["overhead"]["ratio"], r["wall_s"] / j["record_none"]["wall_s"], "overhead")
    close(g["ratio_to_bound"], g["ms_per_token"] / g["bound_ms_per_token"], "generate ratio")
    close(g["ms_per_token"], g["wall_s"] / (g["trials"] * g["new_tokens"]) * 1e3, "ms/token")
    close(w["fraction_of_raw"], w["hdf5_mb_s"] / w["raw_mb_s"], "write fraction")
    close(s["ratio"], s["large"]["vm_hwm_kb"] / s["small"]["vm_hwm_kb"], "rss ratio")
    assert s["large"]["trials"] == 10 * s["small"]["trials"]
    # every layer output and every MLP neuron of the quick model (2 layers, hidden 64, ffn 256)
    assert r["electrodes"] == 2 * j["model"]["num_layers"]
    assert r["values_per_token"] == j["model"]["num_layers"] * (j["model"]["hidden_size"] + j["model"]["intermediate_size"])
    assert w["bytes"] == r["recorded_bytes"] == tokens * r["values_per_token"] * 4
    # streamed weights: everything but the input embedding, float32
    m = j["model"]
    D, F, L, V = m["hidden_size"], m["intermediate_size"], m["num_layers"], m["vocab_size"]
    per_layer = 4 * D + (3 * D * D + 3 * D) + (D * D + D) + (D * F + F) + (F * D + D)
    assert g["weight_bytes"] == 4 * (L * per_layer + 2 * D + V * D), g["weight_bytes"]
    for line in ("(1) record", "(2) generate", "(3) overhead", "(4) write", "(5) peak RSS"):
        assert line in p.stdout, p.stdout

    # The model rig bench wrote is an HF directory; the baseline reproduces rig's prompts.
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        assert os.path.exists(os.path.join(work, "model", f)), f
    spec = importlib.util.spec_from_file_location("hf_hooks_baseline", os.path.join("bench", "hf_hooks_baseline.py"))
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)  # imports torch only inside main()
    with h5py.File(os.path.join(work, "bench_generate.h5"), "r") as f:
        stim = [x.decode() if isinstance(x, bytes) else x for x in f["stimuli/prompt"][()]]
    assert stim == base.prompts(g["trials"], g["prompt_tokens"], j["seed"] + 1), stim
    sizes = base.sizes_from(j)
    assert sizes["gen_site"] == g["site"] and sizes["rec_batch"] == r["batch_size"]
    with open(os.path.join(work, "model", "tokenizer.json")) as f:
        vocab = json.load(f)["model"]["vocab"]
    byte_char = {b: c for c, b in ((c, i - 1) for c, i in vocab.items() if 1 <= i <= 256)}
    assert [vocab[byte_char[b]] for b in b"hello"] == base.token_ids("hello")
    shutil.rmtree(tmp)
    print("ok")


if __name__ == "__main__":
    main()
