/**
 * `deno task import` from the command line's side (the conversions themselves are tested in
 * tests/checkpoint_test.ts): its help, the output folder, and never overwriting the input.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { gpu } from "./helpers.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../models/checkpoint.ts";
import { Unet } from "../models/unet.ts";
import { main } from "../cli/import.ts";

await gpu();

const dir = await Deno.makeTempDir({ prefix: "import_cli_test_" });
const input = join(dir, "in.safetensors");
{
  const G = new Unet({ nDown: 5, ngf: 2 });
  await Deno.writeFile(input, await encodeCheckpoint({ G }));
  G.dispose();
}

function capture() {
  const errors: string[] = [], infos: string[] = [];
  return { errors, infos, error: (l: string) => errors.push(l), info: (l: string) => infos.push(l) };
}

Deno.test("import CLI: the usage line names every option", async () => {
  const io = capture();
  assert.equal(await main(["--help"], io), 0);
  const usage = io.infos[0].split("\n")[0];
  for (const option of ["--fp16", "--weights", "--size", "--verify", "--tolerance"]) {
    assert.ok(usage.includes(option), `${option} in "${usage}"`);
  }
});

Deno.test("import CLI: a missing output folder is created", async () => {
  const io = capture();
  const out = join(dir, "new", "sub", "model.safetensors");
  assert.equal(await main([input, out], io), 0, io.errors.join("\n"));
  assert.deepEqual(decodeCheckpoint(await Deno.readFile(out), out).generatorConfig, {
    inputChannels: 1,
    outputChannels: 2,
    nDown: 5,
    ngf: 2,
    norm: "batch",
  });
  // A file where the folder should be: one line naming it, exit 2 (before the model is read).
  const file = join(dir, "file");
  await Deno.writeTextFile(file, "");
  const io2 = capture();
  assert.equal(await main([input, join(file, "model.safetensors")], io2), 2);
  assert.deepEqual(io2.errors, [
    `import: ${join(file, "model.safetensors")}: ${file} is a file, not a folder`,
  ]);
});

Deno.test("import CLI: an output that is the input through a hard link is refused", async () => {
  const link = join(dir, "link.safetensors");
  await Deno.link(input, link);
  const io = capture();
  assert.equal(await main([input, link], io), 2);
  assert.deepEqual(io.errors, [`import: ${link}: is the input; refusing to overwrite it`]);
});

Deno.test("import CLI: clean up", async () => {
  await Deno.remove(dir, { recursive: true });
});
