#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages beacon needs to build, test and benchmark, but only those missing.
# Used by `make`, `make test`, `make bench` and `.ci/run`; safe to run repeatedly.
set -euo pipefail

packages=(cmake make g++ pkg-config libeigen3-dev doctest-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev
          # the second compiler CI builds with (make test-clang), with its OpenMP runtime
          clang libomp-dev
          # libFuzzer and the sanitizer runtimes of clang (make fuzz)
          libclang-rt-dev
          # DLPack interop (include/beacon/interop/dlpack.hpp) and the libtorch client example (examples/libtorch_edit)
          libdlpack-dev libtorch-dev
          # the independent cross-checks of the test suite (tests/reference): PyTorch, scikit-learn, numpy
          python3 python3-numpy python3-torch python3-sklearn
          # rsvg-convert: the PNGs of the command's pictures in docs/img (make pictures)
          librsvg2-bin)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "beacon: installing missing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "beacon: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
