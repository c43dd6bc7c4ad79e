/** WGSL snippets shared by the kernels. */

/** Workgroup size used by all 1-D (flat index) kernels. */
export const WG = 64;

/** Turns a 2-D dispatch from `grid()` back into a flat invocation index. */
export const FLAT_INDEX = /* wgsl */ `
fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * ${WG}u;
}`;
