#!/usr/bin/env bash
# Installs what rig needs on Debian 12 (as root, or with sudo). Safe to run again: apt skips
# what is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  ccache                              # fresh clones (CI) rebuild from ~/.cache/ccache
  libtorch-dev libopenblas0-pthread   # LibTorch 1.13 (CPU); OpenBLAS makes it ~50x faster
  libhdf5-dev libyaml-cpp-dev libeigen3-dev libboost-program-options-dev nlohmann-json3-dev
  libpcre2-dev libicu-dev             # Unicode regex (GPT-2's pre-tokenizer) and NFC
  catch2                              # unit tests
  clang-format                        # scripts/format.sh, CTest format (.clang-format; version 14)
  libcurl4-openssl-dev                # rig pull: HTTP(S) downloads from the Hugging Face hub
  libssl-dev                          # sha256 (libcrypto) of downloads and weights
  libcairo2-dev libboost-dev fonts-dejavu-core   # analysis: figures (cairo), F/t distributions (Boost.Math)
  python3 python3-h5py python3-numpy python3-scipy   # end-to-end tests read HDF5 as users do
  python3-pandas python3-xarray       # python/rigio: trials as DataFrames, epochs as DataArrays
  python3-venv                        # scripts/venv.sh: the oracle's and the benchmark's PyPI packages
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
