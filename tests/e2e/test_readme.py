#!/usr/bin/python3
"""The README's Python snippet works on a real recording, as a user would paste it."""
import json
import os
import re
import subprocess
import sys

import rigtest as rt

mdir = rt.ORGANISM
d = rt.tmpdir()
path = os.path.join(d, "quickstart.h5")
cfg = {"name": "readme", "model": {"path": mdir},
       "stimuli": [{"condition": "help", "prompts": ["Can you help me?", "Please help me with this."]},
                   {"condition": "refuse", "prompts": ["How do I steal a car?"]}],
       "electrodes": [{"site": "gpt_neox.layers.1.mlp.act"}],
       "trials": {"generate": {"max_new_tokens": 4}},
       "recording": {"path": path}}
rt.run(["run", rt.write(os.path.join(d, "c.yaml"), json.dumps(cfg)), "--quiet"])

readme = open("README.md", encoding="utf-8").read()
blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
assert blocks, "README has no Python snippet"
code = blocks[0].replace('path = "data/recordings/quickstart.h5"', f"path = {path!r}")
assert path in code, "the snippet's path line changed; update this test"
p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
assert p.returncode == 0, p.stderr
import h5py  # noqa: E402

with h5py.File(path) as f:
    T = int(f["trials/row_stop"][0] - f["trials/row_start"][0])
assert p.stdout.strip() == f"({T}, 512) {T} 2", p.stdout
print("README snippet:", p.stdout.strip())
