"""Re-records the two shared goldens that carry the rounded-inv_freq artifact (gptneox-tiny,
llama-tiny; ../shared/README.md) with transformers itself: from_pretrained(dir,
torch_dtype=torch.float32) + forward hooks, the same prompts, generation and interventions as
the shared recording. Tests read these instead of the shared .h5 files.

Usage: python make_goldens.py OUT_DIR        (needs ../shared; exit 77 = skipped)
"""
import json
import os
import sys

try:
    import h5py
    import transformers  # noqa: F401
except ImportError as e:
    print(f"SKIPPED: the oracle needs the venv of scripts/venv.sh ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_record  # noqa: E402

MODELS = ["gptneox-tiny", "llama-tiny"]


def main(out_dir):
    shared = os.path.abspath(os.environ.get("RIG_SHARED", "../shared"))
    golden = os.path.join(shared, "golden")
    if not os.path.isdir(os.path.join(golden, "models")):
        print(f"SKIPPED: {golden} not found (set RIG_SHARED)")
        return 77
    os.makedirs(out_dir, exist_ok=True)
    for m in MODELS:
        with h5py.File(os.path.join(golden, m + ".h5"), "r") as old:
            prompts = [old["forward"][p].attrs["text"] for p in sorted(old["forward"], key=lambda p: int(p[1:]))]
            gen_prompt = old["generate"].attrs["text"]
            max_new = int(old["generate"].attrs["max_new_tokens"])
            interventions = {k: json.loads(old["intervene"][k].attrs["spec"]) for k in old["intervene"]}
        model, tok = hf_record.load(os.path.join(golden, "models", m), "float32")
        tmp = os.path.join(out_dir, m + ".h5.tmp")
        hf_record.record(model, tok, prompts, tmp, interventions, gen_prompt, max_new)
        os.replace(tmp, os.path.join(out_dir, m + ".h5"))
        print(f"{m}: {len(prompts)} prompts, generate {max_new}, {len(interventions)} interventions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
