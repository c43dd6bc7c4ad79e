/** The module system: PyTorch-style names, state dicts, modes, freezing and default initialisation. */
import assert from "node:assert/strict";
import { gpu } from "./helpers.ts";
import { Module, Sequential } from "../engine/nn/module.ts";
import { BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, LeakyReLU, Tanh } from "../engine/nn/layers.ts";
import { manualSeed } from "../engine/random.ts";
import { type Tensor, tensor, tidyAsync } from "../engine/tensor.ts";

await gpu();

class Block extends Module {
  net: Sequential;
  constructor() {
    super();
    this.net = this.registerModule(
      "model",
      new Sequential(
        new Conv2d(1, 3, 4, { stride: 2, padding: 1, bias: false }),
        new BatchNorm2d(3),
        new LeakyReLU(0.2),
      ),
    );
  }
  forward(x: Tensor) {
    return this.net.forward(x);
  }
}

Deno.test("names follow a PyTorch state_dict: params then buffers per module, dotted children", () => {
  const m = new Sequential(new Block(), new ConvTranspose2d(3, 2, 4, { stride: 2, padding: 1 }), new Tanh());
  assert.deepEqual([...m.stateDict().keys()], [
    "0.model.0.weight",
    "0.model.1.weight",
    "0.model.1.bias",
    "0.model.1.running_mean",
    "0.model.1.running_var",
    "0.model.1.num_batches_tracked",
    "1.weight",
    "1.bias",
  ]);
  assert.deepEqual(m.namedParameters().map(([n]) => n), [
    "0.model.0.weight",
    "0.model.1.weight",
    "0.model.1.bias",
    "1.weight",
    "1.bias",
  ]);
  assert.deepEqual(m.stateDict().get("1.weight")!.shape, [3, 2, 4, 4]);
  assert.equal(m.parameterCount(), 1 * 3 * 16 + 3 + 3 + 3 * 2 * 16 + 2);
  m.dispose();
});

Deno.test("train()/eval() reach every child; requiresGrad(false) freezes all parameters", () => {
  const drop = new Dropout(0.5);
  const m = new Sequential(new Block(), drop);
  m.eval();
  assert.equal(drop.training, false);
  assert.equal((m.layers[0] as Block).net.layers[1].training, false);
  m.train();
  assert.equal(drop.training, true);
  m.requiresGrad(false);
  assert.ok(m.parameters().every((p) => !p.requiresGrad));
  m.dispose();
});

Deno.test("same seed gives the same initial weights; default init within PyTorch's ±1/√fanIn", async () => {
  manualSeed(7);
  const a = new Conv2d(3, 5, 3);
  manualSeed(7);
  const b = new Conv2d(3, 5, 3);
  const wa = await a.weight.data(), wb = await b.weight.data();
  assert.deepEqual(wa, wb);
  const bound = 1 / Math.sqrt(27);
  assert.ok(wa.every((v) => Math.abs(v) <= bound), "weights within bound");
  assert.ok(Math.max(...wa.map(Math.abs)) > bound * 0.8, "weights spread over the range");
  a.dispose();
  b.dispose();
});

Deno.test("loadStateDict copies values and rejects missing, unexpected and mis-sized tensors", async () => {
  const m = new Sequential(new Conv2d(2, 1, 1));
  m.loadStateDict({ "0.weight": new Float32Array([0.5, -1]), "0.bias": new Float32Array([2]) });
  await tidyAsync(async () => {
    const y = m.forward(tensor([1, 10], [1, 2, 1, 1]));
    assert.deepEqual([...await y.data()], [0.5 - 10 + 2]);
  });
  assert.throws(() => m.loadStateDict({ "0.weight": new Float32Array(2) }), /missing tensor "0.bias"/);
  assert.throws(
    () => m.loadStateDict({ "0.weight": new Float32Array(3), "0.bias": new Float32Array(1) }),
    /"0.weight" has 3 values, the module expects \[1, 2, 1, 1\]/,
  );
  assert.throws(
    () =>
      m.loadStateDict({
        "0.weight": new Float32Array(2),
        "0.bias": new Float32Array(1),
        x: new Float32Array(1),
      }),
    /unexpected tensors x/,
  );
  m.dispose();
});

Deno.test("BatchNorm2d counts batches in training mode only", async () => {
  const bn = new BatchNorm2d(2);
  await tidyAsync(async () => {
    const x = tensor(Float32Array.from({ length: 16 }, (_, i) => i), [2, 2, 2, 2]);
    bn.forward(x);
    bn.forward(x);
    bn.eval().forward(x);
    assert.equal(await bn.numBatchesTracked.item(), 2);
  });
  bn.dispose();
});
