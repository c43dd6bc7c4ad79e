#!/usr/bin/env bash
# Remakes docs/images/citrus-hints.jpg (README.md, "Colour hints"): the citrus photo colorized without hints
# and with eight hints (four limes, two oranges, two grapefruit), next to the original; the dots mark where
# the hints were placed, in their colours.
#
#   bash docs/hints_showcase.sh [MODEL]        # default: models/default.safetensors (the shipped model)
#
# Needs `deno task data debian` first (the photo is read from its unpacked packages; it is a validation
# picture, never trained on), ImageMagick and a WebGPU adapter.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODEL="${1:-models/default.safetensors}"
SRC=data/.work/unpacked/palapeli-data/usr/share/palapeli/collection/citrus-fruits.jpg
OUT=docs/images/citrus-hints.jpg
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
[ -f "$SRC" ] || { echo "hints_showcase: $SRC: missing (run: deno task data debian)" >&2; exit 1; }
convert "$SRC" -resize x480 -strip "$TMP/citrus.png"
# Colours as a user who knows the fruit would pick them: limes green, oranges orange, grapefruit pink-orange.
HINTS_SPEC=("430,205,#9ab83a" "160,100,#b5c24a" "600,100,#8fae3a" "100,410,#a8bc48"
  "50,170,#f59a2a" "395,330,#f5a623" "150,250,#e9743f" "620,230,#f0a050")
source "$ROOT/docs/hint_args.sh"
colorize() { deno run --allow-read --allow-write --allow-env=INIT_CWD cli/colorize.ts "$TMP/citrus.png" --model "$MODEL" "$@" >/dev/null; }
colorize -o "$TMP/auto.png"
colorize -o "$TMP/hints.png" "${HINTS[@]}"
convert "$TMP/hints.png" "${DOTS[@]}" "$TMP/hints-dots.png"
convert "$TMP/auto.png" "$TMP/hints-dots.png" "$TMP/citrus.png" -bordercolor white -border 4 +append -quality 85 "$OUT"
echo "wrote $OUT (hints: ${HINTS[*]})"
