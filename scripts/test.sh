#!/usr/bin/env bash
# Builds rig and runs the whole test suite (unit, model parity, end-to-end, and the live
# oracle where its venv exists) with CTest.
#
#   scripts/test.sh [--libtorch debian|wheel] [ctest options...]
#
# --libtorch debian (default): Debian 12's LibTorch 1.13 (CPU), build dir build/.
# --libtorch wheel: the CUDA-enabled LibTorch inside the PyPI torch wheel of scripts/venv.sh
#   (created if missing), build dir build-wheel/. CUDA tests skip where there is no GPU.
# The oracle tests (tests/oracle: transformers itself) run when scripts/venv.sh has made its
# venv; otherwise CTest reports them skipped. RIG_WERROR=ON makes warnings errors.
set -euo pipefail
cd "$(dirname "$0")/.."
libtorch=debian
if [ "${1:-}" = "--libtorch" ]; then
  libtorch="${2:?--libtorch needs debian or wheel}"
  shift 2
fi
scripts/setup.sh
venv="$(scripts/venv.sh --if-ready)"
case "$libtorch" in
  debian) build=build; prefix=() ;;
  wheel)
    venv="$(scripts/venv.sh)"
    build=build-wheel
    # The torch package directory: its share/cmake/Torch config and its lib/ (searched before
    # the system's, where Debian's LibTorch may also be).
    prefix=(-DCMAKE_PREFIX_PATH="$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')")
    ;;
  *) echo "test.sh: --libtorch expects debian or wheel, got '$libtorch'" >&2; exit 2 ;;
esac
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${prefix[@]}" \
  -DRIG_ORACLE_PYTHON="${venv:+$venv/bin/python}" -DRIG_WERROR="${RIG_WERROR:-OFF}"
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j 2 "$@"
