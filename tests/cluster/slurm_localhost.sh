#!/bin/bash
# A real SLURM run of experiments/slurm on this machine: starts munged, slurmctld and slurmd
# (Debian's slurm-wlm) for a one-node cluster on localhost, submits a 3-task array and its
# merge job with experiments/slurm/submit.sh, waits for them, and checks the merged file
# against a single-machine run. Tears the daemons down on any exit; gives up after
# RIG_CLUSTER_TIMEOUT seconds (default 600).
#
#   sudo tests/cluster/slurm_localhost.sh [RIG_BINARY]
#
# Needs root (daemons, apt-get install of slurm-wlm and munge when missing), ../shared's
# golden tiny model (RIG_SHARED) and /usr/bin/python3 with h5py. Exit 77 = skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
RIG=$(realpath "${1:-${RIG_BIN:-build/rig}}")
SHARED=$(realpath -m "${RIG_SHARED:-../shared}")
model="$SHARED/golden/models/gptneox-tiny"
timeout_s=${RIG_CLUSTER_TIMEOUT:-600}
deadline=$((SECONDS + timeout_s))

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (starts munged, slurmctld, slurmd)"
[ -d "$model" ] || skip "$model not found (set RIG_SHARED)"
[ -x "$RIG" ] || { echo "no rig binary at $RIG" >&2; exit 2; }
if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  echo "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 apt-get update -qq && timeout 600 apt-get install -y -qq slurm-wlm munge > /dev/null \
    || skip "could not install slurm-wlm and munge"
fi

work=$(mktemp -d /tmp/rig-slurm-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local rc=$?
  set +e
  if [ -n "${SLURM_CONF:-}" ]; then scancel --quiet --user=root 2> /dev/null; fi
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
  sleep 1
  for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
  if [ $rc -ne 0 ]; then
    echo "--- slurmctld log (tail)"; tail -n 20 "$work/slurmctld.log" 2> /dev/null
    echo "--- slurmd log (tail)"; tail -n 20 "$work/slurmd.log" 2> /dev/null
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT TERM
left() { echo $((deadline - SECONDS)); }
fail() { echo "FAIL: $*" >&2; exit 1; }

# munge with its own key and socket, so a system munged (if any) is left alone.
mkdir -m 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.sock" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed" \
  || fail "munged did not start: $(cat "$work/munge/munged.log" 2> /dev/null)"
pids+=("$(cat "$work/munge/munged.pid")")

host=$(hostname -s)
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" << EOF
ClusterName=rigtest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.sock
SlurmctldPort=${RIG_SLURMCTLD_PORT:-16817}
SlurmdPort=${RIG_SLURMD_PORT:-16818}
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$work/slurm.conf"
slurmctld -D -i -f "$SLURM_CONF" > /dev/null 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" > /dev/null 2>&1 &
pids+=($!)

echo "waiting for node $host to be idle"
until [ "$(sinfo -h -n "$host" -o %T 2> /dev/null)" = idle ]; do
  [ "$(left)" -gt 0 ] || fail "node $host not idle after ${timeout_s}s: $(sinfo 2>&1)"
  sleep 1
done
sinfo

# The experiment: 12 trials of the golden tiny model, in 3 shards.
cat > "$work/exp.yaml" << EOF
name: cluster
seed: 3
model: {path: $model}
stimuli:
  - {condition: a, prompts: ["Hello, I am your", "The quick brown fox"]}
  - {condition: b, template: "Tell me about {x}.", vars: {x: [cats, dogs]}}
electrodes: [{site: "gpt_neox.layers.*"}]
trials: {repetitions: 3, batch_size: 2, generate: {max_new_tokens: 4, greedy: false}}
events: [{name: response_onset}]
recording: {path: $work/unused.h5}
EOF
mkdir "$work/out"
cd "$work"  # sbatch writes the task logs to the submit directory
RIG="$RIG" "$repo/experiments/slurm/submit.sh" "$work/exp.yaml" 3 "$work/out/cluster.h5" | tee "$work/submit.txt"
merge_job=$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' "$work/submit.txt")
array_job=$(sed -n 's/^array job \([0-9]*\).*/\1/p' "$work/submit.txt")

state() { scontrol show job "$1" 2> /dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1; }
while :; do
  s=$(state "$merge_job")
  case "$s" in
    COMPLETED) break ;;
    FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) fail "merge job $merge_job: $s" ;;
  esac
  [ "$(left)" -gt 0 ] || fail "merge job not done after ${timeout_s}s (state $s): $(squeue 2>&1)"
  sleep 2
done
cd "$repo"
echo "--- squeue/scontrol: array $array_job"
for t in 0 1 2; do echo "task $t: $(state "${array_job}_$t")"; done
for f in "$work"/rig-run-*.out "$work"/rig-merge-*.out; do
  echo "--- $(basename "$f")"
  cat "$f"
done

# The merged file equals a single-machine run (tables exactly, recordings within 1e-5).
"$RIG" run "$work/exp.yaml" --out "$work/single.h5" --quiet
/usr/bin/python3 - "$work/out/cluster.h5" "$work/single.h5" << 'PY'
import sys
import h5py
import numpy as np

merged, single = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
merged.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
other = []
single.visititems(lambda n, o: other.append(n) if isinstance(o, h5py.Dataset) else None)
assert sorted(names) == sorted(other), set(names) ^ set(other)
for n in names:
    a, b = merged[n][()], single[n][()]
    if n.startswith("recordings/"):
        assert np.max(np.abs(a.astype(np.float64) - b)) <= 1e-5, n
    else:
        assert np.array_equal(a, b), n
# Each file has its own identifier; a merged one lists its shards' (docs/FORMAT.md).
skip = {"created", "identifier", "source_identifiers"}
assert len(merged.attrs["source_identifiers"]) == 3, merged.attrs["source_identifiers"]
assert merged.attrs["identifier"] != single.attrs["identifier"]
for k in set(merged.attrs) | set(single.attrs):
    if k not in skip:
        assert np.array_equal(merged.attrs[k], single.attrs[k]), k
print(f"merged file == single-machine run: {len(names)} datasets, "
      f"{merged.attrs['n_trials_committed']} trials, {merged.attrs['n_rows_committed']} rows")
PY
echo "PASS: SLURM array of 3 shards + afterok merge"
