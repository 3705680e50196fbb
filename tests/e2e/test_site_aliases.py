#!/usr/bin/python3
"""TransformerLens's hook names as aliases, as users meet them, on the bundled organism (a
GPT-NeoX with the parallel residual): configs/canonical_sites.yaml records by alias and
stimulates by alias; the file keeps each alias beside the HF name (/electrodes `alias`, the
dataset's `alias` attribute), through shards and `rig merge` too; `rig inspect` lists and
resolves aliases; a wrong or missing name stops the run with FILE:LINE:COL and the reason."""
import json
import os

import numpy as np

import rigtest as rt

d = rt.tmpdir()
CONFIG = "configs/canonical_sites.yaml"
out = os.path.join(d, "c.h5")
rt.run(["run", CONFIG, "--set", f"model.path={rt.ORGANISM}", "--out", out, "--force", "--quiet"])
with rt.open_h5(out) as f:
    el = f["electrodes"]
    rows = list(zip(el["alias"].asstr()[:], el["site"].asstr()[:], el["side"].asstr()[:]))
    assert "alias" in [c.decode() if isinstance(c, bytes) else c for c in el.attrs["colnames"]]
    want = {"hook_embed": ("gpt_neox.embed_in", "output"),
            "blocks.2.hook_resid_pre": ("gpt_neox.layers.2", "input"),
            "blocks.3.hook_resid_post": ("gpt_neox.layers.3", "output"),
            "blocks.1.hook_mlp_out": ("gpt_neox.layers.1.mlp", "output"),
            "blocks.0.mlp.hook_pre": ("gpt_neox.layers.0.mlp.act", "input"),
            "blocks.0.mlp.hook_post": ("gpt_neox.layers.0.mlp.act", "output"),
            "unembed.hook_in": ("gpt_neox.final_layer_norm", "output")}
    for alias, (site, side) in want.items():
        assert (alias, site, side) in rows, f"{alias}: expected at {site} {side}; /electrodes has {rows}"
        assert f[f"recordings/{site}/{side}"].attrs["alias"] == alias
    assert len(rows) == 1 + 4 * 4 + 1 + 1, rows  # embed, 4 layers x (pre, post, mlp_out, hook_post), hook_pre, unembed
    # The stimulation by alias: blocks.0.mlp.hook_post halved at every row; in the prompt rows
    # (the same tokens) the halved trial's values are half the plain trial's.
    t = f["trials"]
    stim, prompts = t["stimulation"].asstr()[:], t["prompt"].asstr()[:]
    plain = [i for i in range(len(stim)) if stim[i] == "" and prompts[i] == prompts[list(stim).index("halve_mlp0")]][0]
    halved = list(stim).index("halve_mlp0")
    n = t["n_prompt_tokens"][halved]
    rec = f["recordings/gpt_neox.layers.0.mlp.act/output"]
    a, b = t["row_start"][plain], t["row_start"][halved]
    assert np.allclose(rec[b:b + n], 0.5 * rec[a:a + n], rtol=1e-6, atol=1e-7)
    assert np.abs(rec[a:a + n]).max() > 0.1
    print(f"canonical_sites.yaml on the organism: {len(rows)} electrodes by alias, stimulation by alias")

# Shards and rig merge keep the aliases.
shards = []
for i in range(2):
    s = os.path.join(d, f"s{i}.h5")
    rt.run(["run", CONFIG, "--set", f"model.path={rt.ORGANISM}", "--out", s, "--force", "--quiet", "--shard", f"{i}/2"])
    shards.append(os.path.join(d, f"s{i}.shard-{i}-of-2.h5"))  # rig names each shard's file
merged = os.path.join(d, "m.h5")
rt.run(["merge", merged] + shards)
with rt.open_h5(merged) as f:
    assert list(f["electrodes/alias"].asstr()[:]) == [r[0] for r in rows]
    assert f["recordings/gpt_neox.layers.2/input"].attrs["alias"] == "blocks.2.hook_resid_pre"
print("merged shards keep the aliases")

# ln_final.hook_normalized: the final norm's input over its scale, before weight and bias.
# Its output is normalized * weight + bias, and zeroing the normalized site leaves the bias.
cfg = {"name": "norm", "seed": 0, "model": {"path": rt.ORGANISM, "dtype": "float32"},
       "stimuli": [{"condition": "plain", "prompts": ["User: Can you help me?\nAssistant:"]},
                   {"condition": "zeroed", "prompts": ["User: Can you help me?\nAssistant:"], "stimulation": ["zero"]}],
       "electrodes": [{"site": "ln_final.hook_normalized"}, {"site": "unembed.hook_in"}],
       "stimulation": [{"name": "zero", "site": "ln_final.hook_normalized", "op": "scale", "factor": 0}],
       "trials": {"generate": {"max_new_tokens": 2, "greedy": True}}}
conf = rt.write(os.path.join(d, "norm.yaml"), json.dumps(cfg, indent=1))
nout = os.path.join(d, "norm.h5")
rt.run(["run", conf, "--out", nout, "--force", "--quiet"])
weights = rt.read_safetensors(os.path.join(rt.ORGANISM, "model.safetensors"))
w, b = weights["gpt_neox.final_layer_norm.weight"], weights["gpt_neox.final_layer_norm.bias"]
with rt.open_h5(nout) as f:
    t = f["trials"]
    norm = f["recordings/gpt_neox.final_layer_norm.normalized/output"]
    assert norm.attrs["alias"] == "ln_final.hook_normalized"
    outp = f["recordings/gpt_neox.final_layer_norm/output"]
    a, z = list(t["condition"].asstr()[:]).index("plain"), list(t["condition"].asstr()[:]).index("zeroed")
    r = slice(t["row_start"][a], t["row_stop"][a])
    x = norm[r]
    assert np.allclose(x.mean(-1), 0, atol=1e-5) and np.allclose(x.std(-1), 1, atol=1e-3), "not (x - mean) / scale"
    assert np.allclose(outp[r], x * w + b, rtol=1e-5, atol=1e-5)
    rz = slice(t["row_start"][z], t["row_stop"][z])
    assert np.allclose(outp[rz], np.broadcast_to(b, outp[rz].shape), atol=1e-6)
print("ln_final.hook_normalized: output = normalized * weight + bias; zeroed, the bias")

# rig inspect: the aliases beside the sites, and one name resolved.
p = rt.run(["inspect", rt.ORGANISM, "--sites"])
line = [x for x in p.stdout.splitlines() if x.startswith("gpt_neox.layers.1 ")][0]
assert "in: blocks.1.hook_resid_pre" in line and "out: blocks.1.hook_resid_post" in line, line
p = rt.run(["inspect", rt.ORGANISM, "--resolve", "blocks.0.mlp.hook_pre"])
assert p.stdout.strip() == "blocks.0.mlp.hook_pre = site gpt_neox.layers.0.mlp.act (GELUActivation), side input, width 512", p.stdout
p = rt.run(["inspect", rt.ORGANISM, "--resolve", "blocks.0.hook_resid_mid"], check=False)
assert p.returncode == 2 and "use_parallel_residual" in p.stderr, p.stderr

# Config errors: FILE:LINE:COL, the key, did-you-mean or the reason; exit 2, no file.
never = os.path.join(d, "never.h5")
cases = [
    ({"site": "blocks.0.hook_resid_prre"}, "electrodes.0.site: expected a site of the model, got "
     "'blocks.0.hook_resid_prre'; did you mean 'blocks.0.hook_resid_pre'?"),
    ({"site": "blocks.1.hook_resid_mid"}, "names no tensor of this model: GPT-NeoX with use_parallel_residual"),
    ({"site": "ln_final.hook_normalized", "side": "input"}, "not its input"),
    ({"site": "blocks.0.hook_resid_pre", "side": "output"}, "is the input of 'gpt_neox.layers.0', not its output"),
    ({"site": "blocks.9.hook_resid_pre"}, "did you mean"),
]
for electrode, fragment in cases:
    cfg = {"name": "bad", "model": {"path": rt.ORGANISM}, "stimuli": [{"condition": "a", "prompts": ["hi"]}],
           "electrodes": [electrode]}
    conf = rt.write(os.path.join(d, "bad.yaml"), json.dumps(cfg, indent=1))
    p = rt.run(["run", conf, "--out", never], check=False)
    assert p.returncode == 2, f"{electrode}: exit {p.returncode}\n{p.stderr}"
    assert fragment in p.stderr and "bad.yaml:" in p.stderr, f"{electrode}: expected '{fragment}'\n{p.stderr}"
    assert not os.path.exists(never)
# ... and in stimulation
cfg = {"name": "bad", "model": {"path": rt.ORGANISM}, "stimuli": [{"condition": "a", "prompts": ["hi"]}],
       "stimulation": [{"site": "blocks.0.mlp.hook_postt", "op": "scale", "factor": 2}]}
conf = rt.write(os.path.join(d, "bad.yaml"), json.dumps(cfg, indent=1))
p = rt.run(["run", conf, "--out", never], check=False)
assert p.returncode == 2 and "stimulation.0.site" in p.stderr and "did you mean 'blocks.0.mlp.hook_post'" in p.stderr, p.stderr
print(f"{len(cases) + 1} alias errors: exit 2, FILE:LINE:COL, the reason; no output")
import shutil; shutil.rmtree(d, ignore_errors=True)
