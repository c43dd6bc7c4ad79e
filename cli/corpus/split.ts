/**
 * The train/validation split of the debian command, by picture and per
 * package, and the order-independent seeds its random choices derive from.
 */

import { Rng, shuffle } from "../../engine/random.ts";

/**
 * Chooses the validation pictures: within each group (package), a seeded
 * shuffle of the ids in sorted order and the first round(n·valFraction) of
 * them (at least one when the group has two or more), so every package is
 * represented on both sides and the choice does not depend on listing order.
 */
export function splitByGroup(
  items: { id: string; group: string }[],
  valFraction: number,
  seed: number,
): Set<string> {
  const groups = new Map<string, string[]>();
  for (const it of items) groups.set(it.group, [...(groups.get(it.group) ?? []), it.id]);
  const val = new Set<string>();
  for (const [g, ids] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let n = Math.round(ids.length * valFraction);
    if (valFraction > 0 && ids.length >= 2) n = Math.max(1, n);
    const rng = new Rng(hashString(`${seed}:${g}`));
    for (const id of shuffle(ids, rng).slice(0, n)) val.add(id);
  }
  return val;
}

/** FNV-1a of a string, to derive per-item seeds that do not depend on processing order. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
