#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of rig (LibTorch itself uninstrumented)
# in build-asan, then the unit, end-to-end and hostile suites against it. Any sanitizer
# report makes rig abort, so the test that ran it fails. Usage: scripts/sanitize.sh [CTEST ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# Set before the build too: the build runs each test binary to list its cases.
# LeakSanitizer included: a leak report fails the command like any other report, except the
# process-lifetime allocations of system libraries listed in scripts/lsan.supp.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# -O1 -g1: line tables are all a report's stack trace needs, and ASan recommends -O1. The
# default -O2 -g made this the longest part of CI: one test file took 128 s of CPU to compile,
# against 38 s this way (22 s for the Release build).
flags="-O1 -g1 -DNDEBUG"
# With scripts/venv.sh's venv where it already exists (.ci/run makes it first; this script never
# downloads it), oracle_goldens re-records the gptneox/llama goldens, so the HF-parity tests
# run under the sanitizers too.
venv="$(scripts/venv.sh --if-ready)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIG_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="$flags" \
  -DRIG_ORACLE_PYTHON="${venv:+$venv/bin/python}"
cmake --build build-asan -j "$(nproc)"
# The hostile corpus: ASan reserves terabytes of address space (no RLIMIT_AS), and runs slower.
export RIG_HOSTILE_MEM_GIB=0 RIG_HOSTILE_TIME=300
start=$(date +%s)
# The oracle's comparisons (label oracle) run in scripts/test.sh's builds, not here: they are
# the long part of the suite (oracle_random_configs alone takes ~450 s). oracle_goldens still
# runs, as the setup of the CTest fixture the HF-parity tests require.
ctest --test-dir build-asan --output-on-failure -j 2 -LE 'stress|oracle' "$@"
echo "sanitize: unit, e2e and hostile suites clean under ASan+UBSan in $(( $(date +%s) - start )) s"
