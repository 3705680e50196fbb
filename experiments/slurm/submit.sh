#!/bin/bash
# Submits an experiment as a SLURM job array of N shards plus a merge job that runs when all
# of them succeeded:
#   experiments/slurm/submit.sh CONFIG N OUT.h5 [sbatch options...]
# e.g. submit.sh configs/x.yaml 16 /scratch/$USER/x.h5 --partition=gpu --gres=gpu:1 --time=4:00:00
# Task logs: rig-run-JOB_TASK.out, merge log: rig-merge-JOB.out (in the submit directory).
# Set RIG to the rig binary if it is not on PATH; RIG_RUN_ARGS / RIG_MERGE_ARGS pass extra
# options (e.g. RIG_RUN_ARGS="--set trials.repetitions=50", RIG_MERGE_ARGS=--virtual).
set -euo pipefail
if [ $# -lt 3 ]; then
  sed -n '2,8p' "$0" >&2
  exit 2
fi
config="$1"; n="$2"; out="$3"; shift 3
here="$(cd "$(dirname "$0")" && pwd)"
RIG="${RIG:-$(command -v rig || true)}"
[ -n "$RIG" ] || { echo "submit.sh: rig not found; set RIG=/path/to/rig" >&2; exit 2; }
export RIG
# Check the config (and its model) before queueing anything.
"$RIG" run "$config" --out "$out" --shard "0/$n" --dry-run ${RIG_RUN_ARGS:-} > /dev/null
array=$(sbatch --parsable --array="0-$((n - 1))" "$@" "$here/run_array.sbatch" "$config" "$out" ${RIG_RUN_ARGS:-})
array="${array%%;*}"
merge=$(sbatch --parsable --dependency="afterok:$array" "$@" "$here/merge.sbatch" "$out" "$n" ${RIG_MERGE_ARGS:-})
merge="${merge%%;*}"
echo "array job $array ($n tasks) -> merge job $merge -> $out"
