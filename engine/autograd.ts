/**
 * Reverse-mode automatic differentiation, micrograd-style: each op's output
 * remembers its inputs and a backward function; {@link backward} walks the graph
 * in reverse topological order and accumulates gradients.
 */

import { type GradNode, keep, type Tensor } from "./tensor.ts";
import { accumulate, copy, fill } from "./ops/buffers.ts";

let gradEnabled = true;

/** Whether ops currently record a graph. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording a graph (inference, optimizer steps, backward itself). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Attaches a backward function to an op's output when grad mode is on and any
 * input requires a gradient. Ops call this last, with their finished output.
 */
export function record(
  op: string,
  inputs: (Tensor | null | undefined)[],
  output: Tensor,
  backward: GradNode["backward"],
): Tensor {
  if (!gradEnabled) return output;
  const real = inputs.map((t) => t ?? null);
  if (!real.some((t) => t?.requiresGrad)) return output;
  output.requiresGrad = true;
  // Null inputs (an absent bias) are kept as placeholders so indices line up.
  output.node = { op, inputs: real as Tensor[], backward };
  return output;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: a 16-level U-Net graph is deep enough to worry about recursion limits in browsers.
  const stack: [Tensor, boolean][] = [[root, false]];
  while (stack.length) {
    const [t, done] = stack.pop()!;
    if (done) {
      order.push(t);
      continue;
    }
    if (seen.has(t)) continue;
    seen.add(t);
    stack.push([t, true]);
    for (const i of t.node?.inputs ?? []) if (i?.requiresGrad && !seen.has(i)) stack.push([i, false]);
  }
  return order;
}

/**
 * Computes gradients of `loss` with respect to every leaf tensor that requires
 * them (parameters) and adds them to `leaf.grad`, as PyTorch does. `grad` is the
 * upstream gradient; it defaults to ones, so `loss` is normally a scalar.
 */
export function backward(loss: Tensor, grad?: Tensor): void {
  if (!loss.requiresGrad) {
    throw new Error(
      `backward: tensor of shape [${loss.shape}] does not require grad (no parameter reached it, or it was made under noGrad)`,
    );
  }
  if (grad && grad.size !== loss.size) {
    throw new Error(
      `backward: gradient of shape [${grad.shape}] does not match loss of shape [${loss.shape}]`,
    );
  }
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    grads.set(loss, grad ? copy(grad) : fill(loss.shape, 1));
    const order = topoOrder(loss);
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      if (!t.node) {
        if (t.grad) {
          accumulate(t.grad, g);
          g.dispose();
        } else {
          t.grad = keep(g);
        }
        continue;
      }
      const inputs = t.node.inputs;
      const needs = inputs.map((i) => !!i?.requiresGrad);
      const outs = t.node.backward(g, needs);
      const passed = new Set<Tensor>();
      for (let i = 0; i < inputs.length; i++) {
        let gi = outs[i];
        if (!gi || !needs[i]) {
          if (gi && gi !== g && !passed.has(gi)) gi.dispose();
          continue;
        }
        // A backward may hand the same tensor on twice (x + x) or return `g` itself: copy so each owner frees its own.
        if (passed.has(gi)) gi = copy(gi);
        passed.add(gi);
        const input = inputs[i];
        if (gi.size !== input.size) {
          throw new Error(
            `backward of ${t.node.op}: gradient of shape [${gi.shape}] for input of shape [${input.shape}]`,
          );
        }
        if (gi.shape.length !== input.shape.length || gi.shape.some((d, j) => d !== input.shape[j])) {
          const v = gi.view(input.shape);
          if (gi !== g) gi.dispose();
          passed.delete(gi);
          gi = v;
          passed.add(gi);
        }
        const prev = grads.get(input);
        if (prev) {
          accumulate(prev, gi);
          if (gi !== g) gi.dispose();
          passed.delete(gi);
        } else {
          grads.set(input, gi);
        }
      }
      if (!passed.has(g)) g.dispose();
    }
  });
}
