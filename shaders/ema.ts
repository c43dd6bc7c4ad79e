/**
 * One step of an exponential moving average, in place: avg ← avg + (1 − decay)·(x − avg),
 * the form torch.optim.swa_utils.get_ema_multi_avg_fn uses (a lerp towards the live weights).
 */

import { FLAT_INDEX, WG } from "./common.ts";

export const EMA_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> avg: array<f32>;
struct P { n: u32, weight: f32 }
@group(0) @binding(2) var<uniform> p: P;
${FLAT_INDEX}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(gid, nwg);
  if (i >= p.n) { return; }
  avg[i] = avg[i] + p.weight * (x[i] - avg[i]);
}`;
