#!/usr/bin/env bash
# Runs one libFuzzer harness (docs/HARDENING.md): tests/fuzz/run.sh NAME SECONDS
#   NAME: safetensors | tokenizer | experiment | recording
# Builds build-fuzz (clang, -DRIG_FUZZ=ON) if needed, fuzzes for SECONDS with one worker,
# starting from tests/fuzz/corpus/NAME plus what earlier runs found (build-fuzz/corpus/NAME).
# Then the inputs that add coverage are minimised (-merge=1) into build-fuzz/min/NAME; copy
# those to tests/fuzz/corpus/NAME to keep them (the repository keeps that minimised set).
# Crashers go to tests/fuzz/crashes/ (keep them as regression inputs once fixed).
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: tests/fuzz/run.sh NAME SECONDS}
secs=${2:-600}
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIG_FUZZ=ON
fi
cmake --build build-fuzz --target "fuzz_$name"
work=build-fuzz/corpus/$name
mkdir -p "$work" tests/fuzz/crashes
extra=()
case $name in
  tokenizer) extra=(-max_len=16384) ;;
  experiment) extra=(-max_len=4096 -dict=tests/fuzz/experiment.dict) ;;
  recording) extra=(-max_len=2048) ;;
  safetensors) extra=(-max_len=4096) ;;
esac
# UBSan and ASan abort on the first report, so that libFuzzer keeps the input.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
"build-fuzz/fuzz/fuzz_$name" "$work" "tests/fuzz/corpus/$name" -max_total_time="$secs" -workers=1 -jobs=1 \
  -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="tests/fuzz/crashes/$name-" "${extra[@]}"
mv -f fuzz-0.log "build-fuzz/$name.log" 2>/dev/null || true  # -jobs=1 logs to fuzz-0.log in the working directory
tail -8 "build-fuzz/$name.log"
rm -rf "build-fuzz/min/$name" && mkdir -p "build-fuzz/min/$name"
"build-fuzz/fuzz/fuzz_$name" -merge=1 "build-fuzz/min/$name" "tests/fuzz/corpus/$name" "$work" "${extra[@]}" 2>&1 | tail -1
