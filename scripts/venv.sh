#!/usr/bin/env bash
# Creates (once) the Python environment of the oracle tests and benchmarks and prints its
# path: pinned torch, transformers, tokenizers, safetensors, h5py, numpy, TransformerLens,
# SAELens, pynwb and nwbinspector from PyPI
# (scripts/requirements.txt, the full lock of requirements.in).
#
# It lives outside the clone, keyed by the hash of the lock and the base Python, so every
# clone (CI's fresh ones too) reuses it instead of downloading gigabytes again:
#   ${RIG_VENV_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/rig/venv}/<hash>
# Usage: scripts/venv.sh              -> prints the venv's directory (creating it if needed)
#        scripts/venv.sh --if-ready   -> prints it only if it is complete (never downloads)
#        "$(scripts/venv.sh)/bin/python" tests/oracle/...
# Progress goes to stderr; stdout is the path alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
lock="$here/requirements.txt"
# Debian's Python (python3-venv, installed by scripts/setup.sh): the same on every machine.
base="${RIG_VENV_PYTHON:-/usr/bin/python3}"
if ! "$base" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "venv: $base cannot create virtual environments (run scripts/setup.sh: python3-venv)" >&2
  exit 1
fi
key="$( { cat "$lock"; "$base" -c 'import sys, platform; print(sys.version, platform.machine())'; } |
        sha256sum | cut -c1-16)"
root="${RIG_VENV_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/rig/venv}"
dir="$root/$key"
if [ -f "$dir/.complete" ]; then
  echo "$dir"
  exit 0
fi
[ "${1:-}" = "--if-ready" ] && exit 0
mkdir -p "$root"
# One creator at a time (parallel CI steps); a half-built venv is removed and built anew.
exec 9>"$root/.lock-$key"
flock 9
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"
  echo "venv: creating $dir (pinned: $(grep -c '==' "$lock") packages; first time only)" >&2
  "$base" -m venv "$dir" >&2
  "$dir/bin/python" -m pip install -q --upgrade "pip==24.3.1" >&2
  # The lock pins every package; --no-deps keeps pip from resolving anything else.
  "$dir/bin/python" -m pip install -q --no-deps --no-cache-dir -r "$lock" >&2
  "$dir/bin/python" -m pip check >&2
  touch "$dir/.complete"
fi
echo "$dir"
