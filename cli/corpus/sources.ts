/**
 * Sources of the debian command: which packages ship photos, and where.
 * Decided by looking at every candidate image (contact sheets); the reasons
 * are in data/README.md.
 */

import { basename } from "node:path";

/** One package and the files of it that hold photographs. */
export interface Source {
  /** Debian binary package name. */
  pkg: string;
  /** "photo": a full photograph; "cutout": an object with a transparent background (composited). */
  kind: "photo" | "cutout";
  /**
   * Matched against the path inside the package (no leading slash), or for
   * files inside .rcc archives against "<rcc path>:<entry path>".
   */
  include: RegExp;
  exclude?: RegExp;
  /** Look inside the package's .rcc files instead of at plain files. */
  rcc?: boolean;
  /** Where the copyright file is silent about a file's own license, what upstream documents. */
  note?: (path: string) => string | undefined;
  /** Key under which sizes of one picture are grouped (the largest is kept); default {@link groupKey}. */
  group?: (path: string) => string;
}

const SKIMAGE_NOTES: Record<string, string> = {
  "astronaut.png": "NASA, public domain (skimage.data.astronaut docstring)",
  "chelsea.png": "CC0 by the photographer, Stefan van der Walt (skimage.data.chelsea docstring)",
  "coffee.png": "CC0 by the photographer, Rachel Michetti (skimage.data.coffee docstring)",
  "rocket.jpg": "SpaceX, public domain (skimage.data.rocket docstring)",
};

/** The packages and paths the `debian` command reads; see data/README.md for what each holds. */
export const DEBIAN_SOURCES: Source[] = [
  {
    pkg: "lomiri-wallpapers-16.04",
    kind: "photo",
    include: /^usr\/share\/backgrounds\/[^/]+\.jpg$/,
    // Abstract art, not photographs.
    exclude: /(analogpattern|umang)_by_/,
  },
  {
    pkg: "lomiri-wallpapers-20.04",
    kind: "photo",
    // The other three are digital art.
    include: /^usr\/share\/backgrounds\/Kleiber_by_Lukas_Baubkus\.jpg$/,
  },
  { pkg: "mate-backgrounds", kind: "photo", include: /^usr\/share\/backgrounds\/mate\/nature\/[^/]+\.jpg$/ },
  {
    pkg: "plasma-workspace-wallpapers",
    kind: "photo",
    // The rest of the 30 wallpapers are illustrations and renders.
    include:
      /^usr\/share\/wallpapers\/(BytheWater|ColdRipple|ColorfulCups|DarkestHour|EveningGlow|FallenLeaf|Kite|OneStandsOut|Path|summer_1am)\/contents\/images\/[^/]+\.(jpg|png)$/,
    group: (p) => p.split("/")[3],
  },
  { pkg: "tuxpaint-data", kind: "photo", include: /^usr\/share\/tuxpaint\/templates\/[^/]+\.jpg$/ },
  { pkg: "palapeli-data", kind: "photo", include: /^usr\/share\/palapeli\/collection\/[^/]+\.jpg$/ },
  {
    pkg: "python3-skimage",
    kind: "photo",
    // The stereo motorcycle has no license statement upstream; the rest are CC0 or public domain.
    include: /\/skimage\/data\/(astronaut\.png|chelsea\.png|coffee\.png|rocket\.jpg)$/,
    note: (p) => SKIMAGE_NOTES[basename(p)],
  },
  {
    pkg: "gcompris-qt-data",
    kind: "photo",
    rcc: true,
    // Photo folders; the language, painting, puzzle-detail, planet and fish-sprite images are drawings,
    // paintings or pieces of other pictures.
    include:
      /:gcompris\/src\/activities\/(categorization\/resource\/images\/[^/]+|explore_monuments\/resource\/[^/]+|explore_farm_animals\/resource\/animals|explore_world_animals\/resource\/animals|explore_world_music\/resource\/music|erase\/resource|clickgame\/resource\/sea\d)[^:]*\.(webp|jpe?g|png)$/,
  },
  {
    pkg: "tuxpaint-stamps-default",
    kind: "cutout",
    include: /^usr\/share\/tuxpaint\/stamps\/.+\.png$/,
    // Mostly drawings, symbols or pictures on black (planets).
    exclude: /\/(cartoon|symbols|seasonal|clothes|town|space|naturalforces)\//,
    // A mirrored copy of a stamp is the same picture.
    group: (p) => groupKey(p.replace(/_mirror(?=\.png$)/, "")),
  },
];

/**
 * Groups the sizes of one picture: the folder plus the file name without its
 * extension and a trailing size such as "_3840x2160" (mate-backgrounds ships
 * "Elephants.jpg", "Elephants_3840x2160.jpg", ...).
 */
export function groupKey(path: string): string {
  return path.replace(/(_\d+x\d+)?\.[^./]+$/, "");
}
