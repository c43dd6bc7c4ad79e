/**
 * Colour hints from the command line (`--hints FILE`, `--hint X,Y,#RRGGBB`) for hint models (Zhang et
 * al. 2017, "Real-Time User-Guided Image Colorization with Learned Deep Priors"): reading the file,
 * parsing the flags, and then, per photo, checking that each point lies inside it. What a hint is and
 * how it is checked is models/hints.ts's; this module only adds the file, the flag syntax and the words
 * that name each hint in an error.
 */

import { type Hint, hintFromSpec, type HintSpec, parseHexColor, parseHintSpecs } from "../models/hints.ts";
import { errorLine } from "./args.ts";

/** A hint as given, with what names it in an error: "hints.json: hint 3" or "--hint 12,8,#fff". */
export interface GivenHint {
  spec: HintSpec;
  where: string;
}

/** The syntax of --hint, for messages. */
const FLAG_SYNTAX = "expected X,Y,#RRGGBB (pixels from the top-left corner, then an sRGB colour)";

/** A decimal number as written on a command line: an optional sign, digits, an optional fraction. */
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * The hints of a hints file (a JSON array of `{"x", "y", "color"}`, as the web page saves them); throws
 * a one-line Error "FILE: problem" when it cannot be read, is not JSON or is not such an array. Whether
 * the points fit a photo is checked per photo ({@link hintsForPhoto}).
 */
export async function readHintsFile(path: string): Promise<GivenHint[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: ${readProblem(e)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not JSON: ${errorLine(e)}`);
  }
  let specs: HintSpec[];
  try {
    specs = parseHintSpecs(value);
  } catch (e) {
    throw new Error(`${path}: ${errorLine(e)}`);
  }
  return specs.map((spec, i) => ({ spec, where: `${path}: hint ${i + 1}` }));
}

/** One `--hint X,Y,#RRGGBB`; throws a one-line Error "--hint TEXT: problem" when it is malformed. */
export function parseHintFlag(text: string): GivenHint {
  const where = `--hint ${text}`;
  const parts = text.split(",");
  if (parts.length !== 3) throw new Error(`${where}: ${FLAG_SYNTAX}`);
  const [xs, ys, color] = parts.map((p) => p.trim());
  for (const [name, s] of [["X", xs], ["Y", ys]]) {
    if (!NUMBER.test(s)) {
      throw new Error(`${where}: ${name} ${JSON.stringify(s)} is not a number; ${FLAG_SYNTAX}`);
    }
  }
  if (!parseHexColor(color)) {
    throw new Error(`${where}: colour ${JSON.stringify(color)} is not #rrggbb or #rgb; ${FLAG_SYNTAX}`);
  }
  const spec = { x: Number(xs), y: Number(ys), color };
  return { spec, where };
}

/**
 * Every hint of the command line, in the order they are applied (later ones win where they overlap):
 * the files' hints, file by file, then the --hint ones in order. Throws the first problem as one line.
 */
export async function readGivenHints(
  files: readonly string[],
  flags: readonly string[],
): Promise<GivenHint[]> {
  const hints: GivenHint[] = [];
  for (const file of files) hints.push(...await readHintsFile(file));
  for (const flag of flags) hints.push(parseHintFlag(flag));
  return hints;
}

/**
 * The hints for one `width`×`height` photo; throws "WHERE: (x, y) is outside the W×H photo …" for the
 * first hint that lies outside it (the same hints can fit one photo and not another).
 */
export function hintsForPhoto(hints: readonly GivenHint[], width: number, height: number): Hint[] {
  return hints.map(({ spec, where }) => hintFromSpec(spec, width, height, where));
}

/** Why a file could not be read, in a few words. */
function readProblem(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a folder, not a hints file";
  return `cannot read (${errorLine(e)})`;
}
