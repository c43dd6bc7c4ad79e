#!/usr/bin/env bash
# Remakes the before/after pictures of README.md and MODEL.md (docs/images/*.jpg) with a model.
#
#   bash docs/showcase.sh [MODEL]        # default: models/default.safetensors
#
# Needs `deno task data debian` first (the photos are read from its unpacked packages: all are
# validation pictures, never trained on), ImageMagick (`apt-get install imagemagick`) and a WebGPU
# adapter. Each strip is: the lightness alone (what the model sees) | colorized | the original;
# the last one is a genuine black-and-white photograph, shown as it is and colorized.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODEL="${1:-models/default.safetensors}"
SRC=data/.work/unpacked
OUT=docs/images
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# name | file in the unpacked packages
PHOTOS=(
  "aitzgorri|lomiri-wallpapers-16.04/usr/share/backgrounds/aitzgorri_by_Aitzol_Berasategi.jpg"
  "citrus|palapeli-data/usr/share/palapeli/collection/citrus-fruits.jpg"
  "coffee|python3-skimage/usr/lib/python3/dist-packages/skimage/data/coffee.png"
)

for entry in "${PHOTOS[@]}"; do
  name="${entry%%|*}"
  file="$SRC/${entry#*|}"
  [ -f "$file" ] || { echo "showcase: $file: missing (run: deno task data debian)" >&2; exit 1; }
  # Photos at 480 px high; the model sees only their lightness, at its own resolution.
  convert "$file" -resize x480 -strip "$TMP/$name.png"
  # The L channel alone (a = b = 0), as the model's input looks.
  convert "$TMP/$name.png" -colorspace Lab -channel 1,2 -evaluate set 50% +channel -colorspace sRGB \
    "$TMP/$name.gray.png"
  deno run --allow-read --allow-write --allow-env=INIT_CWD cli/colorize.ts "$TMP/$name.png" \
    -o "$TMP/$name.color.png" --model "$MODEL" >/dev/null
  convert "$TMP/$name.gray.png" "$TMP/$name.color.png" "$TMP/$name.png" -bordercolor white -border 4 +append \
    -quality 85 "$OUT/$name.jpg"
  echo "wrote $OUT/$name.jpg"
done

# The black-and-white photograph (docs/images/castle-clinton-bw.jpg, from gcompris-qt-data).
deno run --allow-read --allow-write --allow-env=INIT_CWD cli/colorize.ts "$OUT/castle-clinton-bw.jpg" \
  -o "$TMP/castle.color.png" --model "$MODEL" >/dev/null
convert "$OUT/castle-clinton-bw.jpg" "$TMP/castle.color.png" -resize x480 -bordercolor white -border 4 +append \
  -quality 85 "$OUT/castle-clinton.jpg"
echo "wrote $OUT/castle-clinton.jpg"
