#!/usr/bin/python3
"""rig run on the golden tiny models: the recording's layout, rows == tokens, and the
recorded activations of HF's golden prompts equal HF's (1e-4), prompt-only and generated."""
import json
import os

import h5py
import numpy as np

import rigtest as rt

checked = 0
for model in ["gptneox-tiny", "gpt2-tiny", "llama-tiny"]:
    golden = h5py.File(rt.golden_recording(model))
    mdir = os.path.join(rt.GOLDEN, "models", model)
    prompts = [golden["forward"][p].attrs["text"] for p in sorted(golden["forward"])]
    sites = sorted(golden["forward/p0/sites"])
    d = rt.tmpdir()
    cfg = {
        "name": "golden",
        "seed": 7,
        "model": {"path": mdir},
        "stimuli": [{"condition": "golden", "prompts": prompts}],
        "electrodes": [{"site": "/.*/", "side": "output"}, {"site": "/.*/", "side": "input"}],
        "trials": {"batch_size": 3, "generate": {"max_new_tokens": 0}},
        "events": [{"name": "prompt_onset"}],
        "recording": {"path": os.path.join(d, "out.h5")},
    }
    rt.write(os.path.join(d, "c.yaml"), json.dumps(cfg))  # JSON is YAML
    rt.run(["run", os.path.join(d, "c.yaml"), "--quiet"])
    f = h5py.File(os.path.join(d, "out.h5"))

    # Layout (docs/FORMAT.md).
    assert f.attrs["format"] == "rig-recording" and f.attrs["format_version"] == 1
    for a in ["config", "model", "architecture", "dtype", "device", "seed", "created", "rig_version"]:
        assert a in f.attrs, f"missing root attribute {a}"
    for g in ["stimuli", "trials", "tokens", "events", "recordings"]:
        assert g in f, f"missing group /{g}"
    T = f["trials"]
    n_rows = len(f["tokens/token_id"])
    assert T["row_stop"][-1] == n_rows and T["row_start"][0] == 0
    assert np.all(T["row_stop"][:] - T["row_start"][:] == T["n_prompt_tokens"][:] + T["n_generated"][:])
    for name, side in [(s, sd) for s in f["recordings"] for sd in f["recordings"][s]]:
        assert f["recordings"][name][side].shape[0] == n_rows, f"{name}/{side}: rows != tokens"
    assert len(f["events/prompt_onset/row"]) == len(prompts)

    # Activations equal HF's, prompt by prompt (golden names: in/out; lm_head = embed_out for NeoX).
    for i, p in enumerate(sorted(golden["forward"])):
        g = golden["forward"][p]
        r0, r1 = T["row_start"][i], T["row_stop"][i]
        assert np.array_equal(f["tokens/token_id"][r0:r1], g["input_ids"][:]), f"{model} {p}: token ids differ from HF"
        for site in sites:
            ours_site = "embed_out" if (site == "lm_head" and "embed_out" in f["recordings"]) else site
            for key, side in [("in", "input"), ("out", "output")]:
                if key not in g["sites"][site]:
                    continue
                ref = g["sites"][site][key][:]
                ours = f["recordings"][ours_site][side][r0:r1]
                err = np.max(np.abs(ours - ref) / (1e-4 + 1e-4 * np.abs(ref)))
                assert err <= 1.0, f"{model} {p} {site} {side}: max scaled error {err}"
                checked += 1

    # Greedy generation: HF's output ids and per-step activations (rig adds the last token's row).
    gen = golden["generate"]
    gen_groups = [gen] if "input_ids" in gen else [gen[k] for k in sorted(gen)]
    for gg in gen_groups:
        ids = gg["input_ids"][:]
        new = len(gg["output_ids"]) - len(ids)
        text = None
        for p in golden["forward"]:
            if np.array_equal(golden["forward"][p]["input_ids"][:], ids):
                text = golden["forward"][p].attrs["text"]
        assert text is not None
        cfg["stimuli"] = [{"condition": "gen", "prompts": [text]}]
        cfg["trials"]["generate"]["max_new_tokens"] = new
        cfg["recording"]["path"] = os.path.join(d, "gen.h5")
        rt.write(os.path.join(d, "g.yaml"), json.dumps(cfg))
        rt.run(["run", os.path.join(d, "g.yaml"), "--quiet"])
        h = h5py.File(os.path.join(d, "gen.h5"))
        assert np.array_equal(h["tokens/token_id"][:], gg["output_ids"][:]), f"{model}: generated ids differ"
        assert h["trials/n_generated"][0] == new and len(h["tokens/token_id"]) == len(ids) + new
        for site in gg["sites"]:
            ours_site = "embed_out" if (site == "lm_head" and "embed_out" in h["recordings"]) else site
            for key, side in [("in", "input"), ("out", "output")]:
                if key not in gg["sites"][site]:
                    continue
                ref = gg["sites"][site][key][:]
                ours = h["recordings"][ours_site][side][: len(ids) + new - 1]  # HF has no row for the last token
                ours = ours[-ref.shape[0]:]  # HF's head sees only the prompt's last row
                err = np.max(np.abs(ours - ref) / (1e-4 + 1e-4 * np.abs(ref)))
                assert err <= 1.0, f"{model} generate {site} {side}: max scaled error {err}"
                checked += 1
print(f"{checked} site recordings equal HF's within 1e-4")
