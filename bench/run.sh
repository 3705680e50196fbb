#!/usr/bin/env bash
# Runs `rig bench` and the seed's method on the same model, prompts and sizes, in one job:
# transformers' from_pretrained + register_forward_hook (bench/hf_hooks_baseline.py, in the
# venv of scripts/venv.sh); prints rig's targets and the rig / transformers ratios.
# Usage (from the repo root):
#   bench/run.sh [rig bench options, e.g. --device cuda or --quick]
# Environment: RIG_BIN (default build/rig), PYTHON (default: the venv's python, made by
# scripts/venv.sh if missing), OUT (default $TMPDIR/rig-bench), DEVICE (default cpu),
# KEEP=1 keeps OUT/work (the model, ~280 MB).
set -euo pipefail
RIG_BIN=${RIG_BIN:-build/rig}
PYTHON=${PYTHON:-$(scripts/venv.sh)/bin/python}
OUT=${OUT:-${TMPDIR:-/tmp}/rig-bench}
DEVICE=${DEVICE:-cpu}
# On a shared machine OpenMP's default spin-waiting makes ATen's threads burn the cores that
# the next op needs (8x slower at load 5 on 2 cores: docs/PERFORMANCE.md). Both rig and the
# PyTorch baseline get the same setting; export OMP_WAIT_POLICY=ACTIVE to measure without it.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$OUT"
echo "== uptime: $(uptime)"
"$RIG_BIN" bench --device "$DEVICE" --dir "$OUT/work" --json "$OUT/rig.json" "$@"
rc=0
"$PYTHON" bench/hf_hooks_baseline.py --model "$OUT/work/model" --rig-json "$OUT/rig.json" --json "$OUT/hf.json" \
  --device "$DEVICE" --workdir "$OUT/work" > /dev/null || rc=$?
if [ "$rc" = 0 ]; then
  "$PYTHON" - "$OUT/rig.json" "$OUT/hf.json" <<'PY'
import json, sys
rig, hf = (json.load(open(p)) for p in sys.argv[1:3])
rec = rig["record"]["tokens_per_s"] / hf["record"]["tokens_per_s"]
gen = hf["generate"]["ms_per_token"] / rig["generate"]["ms_per_token"]
print(f"rig: LibTorch {rig['machine'].get('libtorch', '?')}; baseline: {hf['impl']}, torch {hf['torch_version']}, "
      f"{hf['threads']} threads, logits at {hf['logits']}")
print(f"(1) record:   rig {rig['record']['tokens_per_s']:.0f} tok/s, transformers+hooks {hf['record']['tokens_per_s']:.0f} tok/s "
      f"(no hooks {hf['record_none']['tokens_per_s']:.0f}): rig {rec:.2f}x ({'met' if rec >= 1.0 else 'MISSED'}: target not slower)")
print(f"(2) generate: rig {rig['generate']['ms_per_token']:.2f} ms/token, transformers+hooks {hf['generate']['ms_per_token']:.2f} "
      f"ms/token: rig {gen:.2f}x faster ({'met' if gen >= 1.5 else 'MISSED'}: target >= 1.5x)")
PY
elif [ "$rc" = 77 ]; then
  echo "transformers baseline skipped (needs the venv of scripts/venv.sh): rig's numbers only"
else
  echo "Python baseline failed (exit $rc)" >&2
  exit "$rc"
fi
[ "${KEEP:-0}" = 1 ] || rm -rf "$OUT/work"
