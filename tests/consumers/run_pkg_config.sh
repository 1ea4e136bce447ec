#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The pkg-config consumer, run by ctest:
#   sh run_pkg_config.sh PC_DIR INCLUDE_DIR CXX SOURCE WORK VERSION OPENMP
# compiles SOURCE with `CXX $(pkg-config --cflags --libs beacon)` against the beacon.pc in PC_DIR
# (an install prefix's share/pkgconfig) and runs it. Exits 77 (skipped) without pkg-config.
set -eu
pc_dir=$1 include_dir=$2 cxx=$3 source=$4 work=$5 version=$6 openmp=$7

if ! command -v pkg-config >/dev/null 2>&1; then
  echo "pkg-config not found: skipping the pkg-config consumer test (scripts/install-deps.sh installs it)"
  exit 77
fi
unset MAKEFLAGS MFLAGS MAKELEVEL
PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_PATH
rm -rf "$work"
mkdir -p "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }
real() { (cd "$1" && pwd -P); }

pkg-config --print-errors --exists beacon || fail "pkg-config cannot resolve beacon (PKG_CONFIG_PATH=$PKG_CONFIG_PATH)"
found_dir=$(pkg-config --variable=pcfiledir beacon)
[ "$(real "$found_dir")" = "$(real "$pc_dir")" ] || fail "pkg-config found beacon.pc in $found_dir, not $pc_dir"
got=$(pkg-config --modversion beacon)
[ "$got" = "$version" ] || fail "beacon.pc says version $got, the build says $version"
includedir=$(pkg-config --variable=includedir beacon)
[ -d "$includedir" ] && [ "$(real "$includedir")" = "$(real "$include_dir")" ] ||
  fail "beacon.pc's includedir $includedir is not the install prefix's $include_dir"
echo "pkg-config --cflags --libs beacon: $(pkg-config --cflags --libs beacon)"

set -x
"$cxx" -O2 -DNDEBUG "-DBEACON_EXPECTED_VERSION=\"$got\"" "-DBEACON_EXPECT_OPENMP=$openmp" \
  "$source" -o "$work/consumer" $(pkg-config --cflags --libs beacon)
"$work/consumer"
