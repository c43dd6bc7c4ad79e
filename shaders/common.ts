/** WGSL snippets shared by the kernels. */

/** Workgroup size used by all 1-D (flat index) kernels. */
export const WG = 64;

/** Turns a 2-D dispatch from `grid()` back into a flat invocation index. */
export const FLAT_INDEX = /* wgsl */ `
fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * ${WG}u;
}`;

/**
 * The opening of a flat kernel's `main` (the caller closes it with `}`): `index` is the invocation's
 * flat index, and invocations at or past `count` (a WGSL u32 expression) return at once.
 */
export function flatMain(index: string, count: string): string {
  return /* wgsl */ `${FLAT_INDEX}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let ${index} = flatIndex(gid, nwg);
  if (${index} >= ${count}) { return; }`;
}
