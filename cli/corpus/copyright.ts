/**
 * Licenses from Debian copyright files (machine-readable format, DEP-5): every
 * image of the corpus names the license its package's copyright file gives for it.
 */

/** One "Files:" paragraph of a DEP-5 copyright file. */
export interface CopyrightStanza {
  files: string[];
  license: string;
}

/** Reads the Files/License paragraphs of a DEP-5 copyright file (others are ignored). */
export function parseCopyright(text: string): CopyrightStanza[] {
  const out: CopyrightStanza[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let key = "";
    for (const line of para.split("\n")) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) {
        key = m[1].toLowerCase();
        fields.set(key, m[2]);
      } else if (/^\s/.test(line) && key) {
        // Continuation lines; only Files continues over several lines in practice.
        if (key === "files") fields.set(key, `${fields.get(key)} ${line.trim()}`);
      }
    }
    const files = fields.get("files"), license = fields.get("license");
    if (files !== undefined && license) {
      out.push({ files: files.split(/\s+/).filter((f) => f), license: license.trim() });
    }
  }
  return out;
}

function globRegex(pattern: string, anyExtension: boolean): RegExp {
  let p = pattern.replace(/^\.?\//, "");
  let tail = "";
  // Packaging sometimes converts formats (GCompris ships sea1.jpg as sea1.webp): match the stem.
  const ext = /\.[A-Za-z0-9]+$/.exec(p);
  if (anyExtension && ext) {
    p = p.slice(0, -ext[0].length);
    tail = "\\.[^/.]+";
  }
  const body = p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}${tail}$`);
}

/**
 * The license the copyright file gives for a file. Patterns name paths in the
 * source tree, which differ from installed paths, so a pattern matches when it
 * matches a trailing part of the path (whole components); as DEP-5 says, the
 * last matching paragraph wins. Failing that, an explicit file name matches
 * with any extension (packaging converts formats: GCompris lists sea1.jpg and
 * ships sea1.webp), first with its folders, then by name alone; then "Files: *".
 */
export function licenseFor(stanzas: CopyrightStanza[], path: string): string {
  const parts = path.split("/");
  const suffixes = parts.map((_, i) => parts.slice(i).join("/"));
  const find = (test: (f: string) => boolean) => {
    let found: string | null = null;
    for (const s of stanzas) if (s.files.some(test)) found = s.license;
    return found;
  };
  // Explicit names also match with another extension; a wildcard pattern only claims its own
  // ("images/*.png" must not claim a .webp).
  const direct = find((f) =>
    f !== "*" &&
    suffixes.some((s) =>
      globRegex(f, false).test(s) || (!/[*?]/.test(f.split("/").pop()!) && globRegex(f, true).test(s))
    )
  );
  if (direct) return direct;
  const byName = find((f) => {
    const last = f.split("/").pop()!;
    return !/[*?]/.test(last) && globRegex(last, true).test(parts[parts.length - 1]);
  });
  return byName ?? find((f) => f === "*") ?? "unknown (see the package's copyright file)";
}
