#!/usr/bin/env bash
# Remakes docs/images/rooms-people.jpg (MODEL.md, "Failure cases"): rooms, people and food, the kinds of
# photo the training corpus hardly has, each as gray input | colorized | original. The photos come from
# Debian packages, which this script downloads with apt-get (no root needed):
#   - a living room: "Wine" by Jakub Mede, CC BY 4.0 (lomiri-wallpapers-16.04);
#   - a pool hall and a bar with people: KPhotoAlbum's demo photos, GPL-2+ (kphotoalbum);
#   - a dining room wall and table: a photo by Joao Eriberto Mota Filho, CC BY-SA 4.0
#     (forensics-samples-files), so the picture this script makes is CC BY-SA 4.0 too.
#
#   bash docs/rooms_showcase.sh [MODEL...]        # default: models/default.safetensors
#
# With several models, each gets a column between the gray input and the original.
# Needs apt-get, dpkg-deb, ImageMagick and a WebGPU adapter.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(models/default.safetensors)
OUT=docs/images/rooms-people.jpg
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
PACKAGES=(lomiri-wallpapers-16.04 kphotoalbum forensics-samples-files)
for pkg in "${PACKAGES[@]}"; do
  (cd "$TMP" && apt-get download "$pkg" >/dev/null 2>&1) ||
    { echo "rooms_showcase: apt-get download $pkg failed" >&2; exit 1; }
  dpkg-deb -x "$TMP/${pkg}"_*.deb "$TMP/pkg"
done
PHOTOS=(
  "$TMP/pkg/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg"
  "$TMP/pkg/usr/share/kphotoalbum/demo/pool.jpg"
  "$TMP/pkg/usr/share/forensics-samples/original-files/pic2/IMG_20191224_234846.jpg"
  "$TMP/pkg/usr/share/kphotoalbum/demo/bar55.jpg"
)
rows=()
for i in "${!PHOTOS[@]}"; do
  # At 600 px on the longer side, as a user's downscaled scan might be; colour is predicted at 128² anyway.
  convert "${PHOTOS[$i]}" -auto-orient -resize 600x600 "$TMP/orig-$i.png"
  convert "$TMP/orig-$i.png" -colorspace Gray -type TrueColor "$TMP/gray-$i.png"
  row=("$TMP/gray-$i.png")
  for m in "${!MODELS[@]}"; do
    deno run --allow-read --allow-write --allow-env=INIT_CWD cli/colorize.ts "$TMP/gray-$i.png" \
      --model "${MODELS[$m]}" -q -o "$TMP/color-$i-$m.png" >/dev/null
    row+=("$TMP/color-$i-$m.png")
  done
  row+=("$TMP/orig-$i.png")
  # -colorspace sRGB first: a gray input first in the row would otherwise make the whole row gray.
  convert "${row[@]}" -colorspace sRGB -resize x220 -bordercolor white -border 3 +append "$TMP/row-$i.png"
  rows+=("$TMP/row-$i.png")
done
convert "${rows[@]}" -append -quality 85 "$OUT"
echo "wrote $OUT (columns: gray, ${MODELS[*]}, original)"
