#!/usr/bin/python3
"""Every broken config in tests/data/configs/broken/ (first line: `# expect: MESSAGE`) makes
`rig run` exit 2 with that message, before any output exists; so do config errors that need
the model (a site pattern that matches no site, a neuron out of range)."""
import glob
import json
import os

import rigtest as rt

d = rt.tmpdir()
out = os.path.join(d, "never.h5")
n = 0
for path in sorted(glob.glob("tests/data/configs/broken/*.yaml")):
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    assert first.startswith("# expect: "), f"{path}: first line must be '# expect: MESSAGE'"
    expect = first[len("# expect: "):].strip()
    p = rt.run(["run", path, "--out", out], check=False)
    assert p.returncode == 2, f"{path}: exit {p.returncode}, expected 2\n{p.stderr}"
    assert expect in p.stderr, f"{path}: expected message\n  {expect}\ngot\n  {p.stderr}"
    assert not os.path.exists(out), f"{path}: an output file was written"
    n += 1

mdir = rt.ORGANISM
if True:  # the bundled organism: 4 layers, MLP width 512
    model_errors = [
        ({"site": "gpt_neox.layers.9.mlp"}, "did you mean 'gpt_neox.layers.0.mlp'"),
        ({"site": "gpt_neox.layers.*.mlp.nothing"}, "electrodes.0.site"),
        ({"site": "gpt_neox.layers.0.mlp.act", "neurons": [0, 512]}, "512"),
        ({"site": "gpt_neox.layers.0.mlp.act", "neurons": ["500:600"]}, "below 512"),
        ({"site": "gpt_neox.embed_in", "side": "input"}, "input"),
        ({"site": "gpt_neox.layers", "side": "output"}, "gpt_neox.layers"),
    ]
    for electrode, fragment in model_errors:
        cfg = {"name": "bad", "model": {"path": mdir}, "stimuli": [{"condition": "a", "prompts": ["hi"]}],
               "electrodes": [electrode]}
        conf = rt.write(os.path.join(d, "bad.yaml"), json.dumps(cfg, indent=1))
        p = rt.run(["run", conf, "--out", out], check=False)
        assert p.returncode == 2, f"{electrode}: exit {p.returncode}\n{p.stderr}"
        assert fragment in p.stderr and "bad.yaml:" in p.stderr, f"{electrode}: message lacks '{fragment}' or the file:line\n{p.stderr}"
        print("  " + p.stderr.strip())
        assert not os.path.exists(out)
        n += 1
    # A missing model directory, a model whose weights disagree with its config: exit 3.
    cfg = {"name": "bad", "model": {"path": mdir}, "stimuli": [{"condition": "a", "prompts": ["hi"]}]}
    broken_model = os.path.join(d, "model")
    os.makedirs(broken_model)
    for fname in ["tokenizer.json", "model.safetensors"]:
        os.symlink(os.path.join(mdir, fname), os.path.join(broken_model, fname))
    config = json.load(open(os.path.join(mdir, "config.json")))
    config["intermediate_size"] = 256
    json.dump(config, open(os.path.join(broken_model, "config.json"), "w"))
    cfg["model"]["path"] = broken_model
    conf = rt.write(os.path.join(d, "bad.yaml"), json.dumps(cfg))
    p = rt.run(["run", conf, "--out", out], check=False)
    assert p.returncode == 3 and "dense_h_to_4h.weight" in p.stderr and "shape" in p.stderr, p.stderr
    assert not os.path.exists(out)
    n += 1
print(f"{n} broken configs: exit 2/3 with the expected message and no output file")
