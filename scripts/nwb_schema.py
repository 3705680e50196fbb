#!/usr/bin/env python3
"""Writes data/nwb/spec/: the NWB schema that `rig export --nwb` caches in every NWB file
(/specifications/<namespace>/<version>/<source>), as the JSON text pynwb caches, so that
readers and validators load the file's own schema. The core and hdmf-common namespaces only
(core includes hdmf-common; rig's files use no other).

The text is taken from a file pynwb writes (not re-serialised here), so it is byte for byte
what pynwb caches. Run with the venv of scripts/venv.sh after a pynwb upgrade:
  "$(scripts/venv.sh)/bin/python" scripts/nwb_schema.py
and rebuild (CMakeLists.txt compiles the files into rig)."""
import datetime
import os
import shutil
import sys
import tempfile

import h5py
import pynwb

NAMESPACES = ("core", "hdmf-common")
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "nwb", "spec")
tmp = tempfile.mkdtemp()
try:
    path = os.path.join(tmp, "schema.nwb")
    nwb = pynwb.NWBFile(session_description="schema", identifier="schema",
                        session_start_time=datetime.datetime.now(datetime.timezone.utc))
    with pynwb.NWBHDF5IO(path, "w") as io:
        io.write(nwb)
    shutil.rmtree(out, ignore_errors=True)
    with h5py.File(path, "r") as f:
        specs = f["specifications"]
        for ns in NAMESPACES:
            for version in specs[ns]:
                os.makedirs(os.path.join(out, ns, version))
                for source in specs[ns][version]:
                    text = specs[ns][version][source][()]
                    with open(os.path.join(out, ns, version, source + ".json"), "wb") as g:
                        g.write(text if isinstance(text, bytes) else text.encode())
                    print(f"{ns}/{version}/{source}.json", file=sys.stderr)
    print(f"pynwb {pynwb.__version__}: wrote {os.path.normpath(out)}", file=sys.stderr)
finally:
    shutil.rmtree(tmp)
