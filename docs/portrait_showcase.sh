#!/usr/bin/env bash
# Remakes docs/images/portrait-hints.jpg (MODEL.md, "Failure cases"): a portrait the model never saw,
# colorized without hints and with six hints (skin, background, a flag stripe and its canton, the
# uniform), next to the original; the dots mark the hints, in their colours. The photo is Grace Hopper's
# official portrait (U.S. Navy, public domain), as matplotlib's sample data ships it in Debian's
# python-matplotlib-data package, which this script downloads with apt-get (no root needed).
#
#   bash docs/portrait_showcase.sh [MODEL]        # default: models/default.safetensors
#
# Needs apt-get, dpkg-deb, ImageMagick and a WebGPU adapter.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODEL="${1:-models/default.safetensors}"
OUT=docs/images/portrait-hints.jpg
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && apt-get download python-matplotlib-data >/dev/null 2>&1) ||
  { echo "portrait_showcase: apt-get download python-matplotlib-data failed" >&2; exit 1; }
dpkg-deb -x "$TMP"/python-matplotlib-data_*.deb "$TMP/pkg"
SRC="$TMP/pkg/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
convert "$SRC" -colorspace Gray -type TrueColor "$TMP/gray.png"
# Colours as a user would pick them: a skin tone, the sky-blue backdrop, flag red and blue, navy.
HINTS_SPEC=("250,230,#d98a6d" "300,280,#d98a6d" "470,230,#6a8dca" "70,345,#b22234" "30,300,#1c2a5a"
  "256,500,#1c2440")
DOT_RADIUS=8
source "$ROOT/docs/hint_args.sh"
colorize() { deno run --allow-read --allow-write --allow-env=INIT_CWD cli/colorize.ts "$TMP/gray.png" --model "$MODEL" -q "$@" >/dev/null; }
colorize -o "$TMP/auto.png"
colorize -o "$TMP/hints.png" "${HINTS[@]}"
convert "$TMP/hints.png" "${DOTS[@]}" "$TMP/hints-dots.png"
convert "$TMP/auto.png" "$TMP/hints-dots.png" "$SRC" -resize x400 -bordercolor white -border 4 +append -quality 85 "$OUT"
echo "wrote $OUT (hints: ${HINTS[*]})"
