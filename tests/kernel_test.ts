/**
 * The kernel layer (shaders/kernel.ts, Runtime.dispatch): the WGSL preamble, uniform packing by
 * name, cache keys that cover the whole variant, and the errors a launcher gets for a wrong buffer
 * or uniform name.
 */
import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { defineKernel, read, variantKey, write } from "../shaders/kernel.ts";
import { gpu } from "./helpers.ts";
import { Tensor, tensor } from "../engine/tensor.ts";

const ADD_A = defineKernel({
  name: "test.addA",
  bindings: (v: { vec: boolean }) => [read("x", v.vec ? "vec4<f32>" : "f32"), write("y")],
  uniforms: { n: "u32", a: "f32", shift: "i32" },
  body: () => /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= p.n) { return; }
  y[gid.x + u32(p.shift)] = x[gid.x] + p.a;
}`,
});

Deno.test("kernel: preamble declares bindings in order and a padded uniform struct after them", () => {
  const { wgsl, bindings, key } = ADD_A.program({ vec: false });
  assertEquals(bindings, ["x", "y"]);
  assertEquals(key, "test.addA|{vec:false}");
  const lines = wgsl.split("\n");
  assertEquals(lines[0], "@group(0) @binding(0) var<storage, read> x: array<f32>;");
  assertEquals(lines[1], "@group(0) @binding(1) var<storage, read_write> y: array<f32>;");
  assertEquals(lines[2], "struct P { n: u32, a: f32, shift: i32, pad0_: u32 }");
  assertEquals(lines[3], "@group(0) @binding(2) var<uniform> p: P;");
  assertEquals(ADD_A.uniformBytes, 16);
  assertEquals(ADD_A.program({ vec: true }).wgsl.split("\n")[0].endsWith("array<vec4<f32>>;"), true);
});

Deno.test("kernel: sources are memoised per variant; keys cover every field, in any key order", () => {
  assertEquals(ADD_A.program({ vec: true }) === ADD_A.program({ vec: true }), true);
  assertEquals(variantKey({ b: 1, a: [true, "s"] }), variantKey({ a: [true, "s"], b: 1 }));
  assertEquals(variantKey({ a: 1, b: 2 }) === variantKey({ a: 1, b: 3 }), false);
  assertEquals(variantKey(undefined), "");
});

Deno.test("kernel: uniforms are packed by name and type; a missing or unknown one is an error", () => {
  const view = new DataView(new ArrayBuffer(16));
  ADD_A.packUniforms({ shift: -2, n: 7, a: 0.5 }, view, 0);
  assertEquals(view.getUint32(0, true), 7);
  assertEquals(view.getFloat32(4, true), 0.5);
  assertEquals(view.getInt32(8, true), -2);
  assertThrows(
    () => ADD_A.packUniforms({ n: 7, a: 0.5 } as never, view, 0),
    /kernel test\.addA: uniforms\s+missing: shift/,
  );
  assertThrows(
    () => ADD_A.packUniforms({ n: 7, a: 0.5, shift: 0, extra: 1 } as never, view, 0),
    /unknown: extra/,
  );
});

Deno.test("kernel: two kernels may not share a name (their pipelines would share a cache key)", () => {
  assertThrows(
    () => defineKernel({ name: "test.addA", bindings: [], uniforms: {}, body: () => "" }),
    /already exists/,
  );
});

Deno.test("kernel: dispatch binds by name, runs, and names a missing or unknown buffer", async () => {
  const rt = await gpu();
  const x = tensor([1, 2, 3], [3]);
  const y = Tensor.empty([4]);
  rt.dispatch(ADD_A, { vec: false }, {
    buffers: { x: x.buffer, y: y.buffer },
    uniforms: { n: 3, a: 10, shift: 1 },
    workgroups: [1],
  });
  assertEquals(Array.from(await y.data()).slice(1), [11, 12, 13]);
  assertThrows(
    () =>
      rt.dispatch(ADD_A, { vec: false }, {
        buffers: { x: x.buffer },
        uniforms: { n: 3, a: 10, shift: 0 },
        workgroups: [1],
      }),
    /kernel test\.addA: no buffer given for binding "y"/,
  );
  assertThrows(
    () =>
      rt.dispatch(ADD_A, { vec: false }, {
        buffers: { x: x.buffer, y: y.buffer, z: y.buffer },
        uniforms: { n: 3, a: 10, shift: 0 },
        workgroups: [1],
      }),
    /buffers given that it does not bind: z/,
  );
  x.dispose();
  y.dispose();
});
