/**
 * What both corpus commands share: where their messages go and the --out
 * folder they own and rewrite.
 */

import { join } from "node:path";
import { UsageError } from "../args.ts";

/** Messages of the commands; injectable so tests stay quiet. */
export interface Log {
  info(line: string): void;
}

/** Messages go to stderr, leaving stdout to the lines that report the result. */
export const consoleLog: Log = { info: (l) => console.error(l) };

/** Makes sure `out` is ours to rewrite: empty, absent, or holding a previous run's manifest. */
export async function prepareOut(out: string): Promise<void> {
  const ours = new Set(["train", "val", "manifest.jsonl", "summary.json", ".staging"]);
  try {
    const names = (await Array.fromAsync(Deno.readDir(out))).map((e) => e.name);
    const foreign = names.filter((n) => !ours.has(n));
    if (foreign.length > 0) {
      throw new UsageError(
        `--out ${out} holds other files (${foreign.slice(0, 3).join(", ")}${
          foreign.length > 3 ? ", ..." : ""
        }); ` +
          `choose an empty or new folder`,
      );
    }
    for (const n of names) await Deno.remove(join(out, n), { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  await Deno.mkdir(out, { recursive: true });
}
