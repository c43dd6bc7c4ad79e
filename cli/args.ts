/**
 * What every command does with its command line and its errors: node's parseArgs with the project's
 * usage error ("COMMAND: problem (see --help)", exit status 2), -h/--help, and an error's message
 * on one line (so each failure is one line of output, however the error was written).
 */

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** A mistake on the command line (the message says what, without the command's name): exit status 2. */
export class UsageError extends Error {}

/** Where a command prints: a line on stderr, a line on stdout. */
export interface CommandIo {
  error(line: string): void;
  info(line: string): void;
}

/** Lines through `console` (looked up at each call, so a test that replaces console.error sees them). */
export const consoleIo: CommandIo = {
  error: (line) => console.error(line),
  info: (line) => console.log(line),
};

/** An error's message on one line: line breaks and the spaces around them become one space. */
export function errorLine(e: unknown): string {
  const message = (e as { message?: unknown } | null)?.message;
  return (typeof message === "string" ? message : String(e)).replace(/\s*\n\s*/g, " ").trim();
}

/** The option every command has. */
const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

/** What {@link parseCommandLine} gives: the values (typed by the options, help included) and positionals. */
export type CommandLine<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O & typeof HELP_OPTION; allowPositionals: boolean }>
>;

/**
 * Parses `args` for `options` plus -h/--help (strict: an unknown option or a missing value is an
 * error); positional arguments are allowed only with `positionals: true`. Throws a
 * {@link UsageError} "problem (see --help)" with node's whole message on one line (its hints
 * included, e.g. to write `--epochs=-1`).
 */
export function parseCommandLine<O extends ParseArgsOptionsConfig>(
  args: string[],
  options: O,
  { positionals = false }: { positionals?: boolean } = {},
): CommandLine<O> {
  try {
    return parseArgs({
      args,
      options: { ...options, ...HELP_OPTION },
      allowPositionals: positionals,
      strict: true,
    });
  } catch (e) {
    // Only node's ERR_PARSE_ARGS_* errors are the user's; anything else is a bug in `options`.
    if (!String((e as { code?: unknown } | null)?.code).startsWith("ERR_PARSE_ARGS_")) throw e;
    throw new UsageError(`${errorLine(e)} (see --help)`);
  }
}

/**
 * {@link parseCommandLine} for a command's `main`: the parsed command line, or the exit status when
 * there is nothing more to do: 0 after printing `help` for -h/--help, 2 after printing the usage
 * error as the line "COMMAND: problem (see --help)".
 */
export function readCommandLine<O extends ParseArgsOptionsConfig>(
  command: string,
  args: string[],
  options: O,
  { positionals = false, help, io }: { positionals?: boolean; help: string; io: CommandIo },
): CommandLine<O> | number {
  let parsed;
  try {
    parsed = parseCommandLine(args, options, { positionals });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.error(`${command}: ${e.message}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.info(help);
    return 0;
  }
  return parsed;
}
