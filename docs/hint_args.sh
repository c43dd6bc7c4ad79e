# Sourced by the hint showcases (docs/hints_showcase.sh, docs/portrait_showcase.sh): for each
# "X,Y,#RRGGBB" of HINTS_SPEC, a --hint flag in HINTS and, in DOTS, ImageMagick drawing options for a dot
# of radius DOT_RADIUS (default 9) in the hint's colour that marks where it was placed.
HINTS=()
DOTS=()
for h in "${HINTS_SPEC[@]}"; do
  IFS=, read -r x y color <<<"$h"
  HINTS+=(--hint "$h")
  DOTS+=(-fill "$color" -stroke white -strokewidth 3 -draw "circle $x,$y $((x + ${DOT_RADIUS:-9})),$y")
done
