#!/usr/bin/env bash
# Memory at full size: rig and transformers load the same 1.47 B-parameter Llama (random
# weights, bfloat16, three shards + model.safetensors.index.json, ~2.9 GB, written by
# `rig bench --full-size`) and generate greedily after the same prompt, one after the other
# (never both at once: each holds the model), each in its own process. Prints checkpoint
# bytes, peak RSS and its ratio to them, load s, time to first token and tokens/s for both.
# Usage (from the repo root):
#   bench/full_size.sh [rig bench options, e.g. --new-tokens 16, --dtype float16,
#                       --compute-dtype float32 (a converting load: a copy, ~2x the bytes)]
# Environment: RIG_BIN (default build/rig), PYTHON (default: the venv's python, made by
# scripts/venv.sh if missing), OUT (default $TMPDIR/rig-full-size), KEEP=1 keeps the model
# in OUT/work/model (otherwise it is deleted; a kept one is used again by the next run).
set -euo pipefail
RIG_BIN=${RIG_BIN:-build/rig}
PYTHON=${PYTHON:-$(scripts/venv.sh)/bin/python}
OUT=${OUT:-${TMPDIR:-/tmp}/rig-full-size}
# As bench/run.sh: no OpenMP spin-waiting on a shared machine, for both.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
mkdir -p "$OUT"
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$OUT/work"; }
trap cleanup EXIT
echo "== uptime: $(uptime)"
"$RIG_BIN" bench --full-size --dir "$OUT/work" --json "$OUT/rig.json" "$@"
rc=0
"$PYTHON" bench/full_size_hf.py --model "$OUT/work/model" --rig-json "$OUT/rig.json" --json "$OUT/hf.json" \
  > /dev/null || rc=$?
echo "== uptime: $(uptime)"
if [ "$rc" = 77 ]; then
  echo "transformers baseline skipped (needs the venv of scripts/venv.sh): rig's numbers only"
  exit 0
elif [ "$rc" != 0 ]; then
  echo "transformers baseline failed (exit $rc)" >&2
  exit "$rc"
fi
"$PYTHON" - "$OUT/rig.json" "$OUT/hf.json" <<'PY'
import json, sys
rig, hf = (json.load(open(p)) for p in sys.argv[1:3])
print(f"model: {rig['parameters'] / 1e9:.2f} B parameters, stored {rig['dtype']}, computed in {rig['compute_dtype']}, checkpoint {rig['checkpoint_bytes'] / 1e9:.3f} GB; "
      f"{rig['prompt_tokens']}-token prompt, {rig['new_tokens']} greedy tokens, {rig['threads']} threads")
print(f"rig: LibTorch {rig['machine']['libtorch']}; baseline: {hf['impl']}, torch {hf['torch_version']}")
print(f"{'':14}{'peak RSS GB':>12}{'/ ckpt':>8}{'before GB':>11}{'load s':>8}{'TTFT s':>8}{'tok/s':>7}{'load avg':>12}")
for name, j in (("rig", rig), ("transformers", hf)):
    print(f"{name:14}{j['vm_hwm_kb'] * 1024 / 1e9:12.2f}{j['ratio']:8.3f}{j['base_vm_hwm_kb'] * 1024 / 1e9:11.2f}"
          f"{j['load_s']:8.2f}{j['ttft_s']:8.2f}{j['decode_tokens_per_s']:7.2f}"
          f"{j['load_1m_start']:6.2f}-{j['load_1m_end']:.2f}")
print("same greedy tokens:", "yes" if rig["new_ids"] == hf["new_ids"] else f"no (rig {rig['new_ids']}, transformers {hf['new_ids']})")
PY
