#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Renders the pictures shown in the docs (docs/img): the `beacon` command's SVGs and their PNGs
# (rsvg-convert, Debian librsvg2-bin). Usage: scripts/render_pictures.sh <beacon executable> <out dir>
set -euo pipefail
beacon=$1
out=$2
mkdir -p "$out"
echo "== edit-bench (embedded data, every method, 3 random orders; a few minutes)"
"$beacon" edit-bench --orders 3 --svg "$out/edit-bench.svg" --json "$out/edit-bench.json"
echo "== schedules"
"$beacon" schedule --kind info --steps 2000 --sentence "what university did the geologist attend" --format svg --out "$out/schedule-info.svg"
"$beacon" schedule --kind cosine --steps 2000 --format svg --out "$out/schedule-cosine.svg"
for svg in "$out"/*.svg; do
  rsvg-convert --background-color=white -o "${svg%.svg}.png" "$svg"
  echo "wrote ${svg%.svg}.png"
done
