/**
 * Losses with mean reduction (PyTorch's defaults), returning 0-d tensors (shape []).
 * Each forward is one fused reduction; each backward one elementwise kernel.
 * Expressions: shaders/loss.ts. References and gradient checks: tests/loss_test.ts.
 */

import { fmtShape, type Tensor } from "../tensor.ts";
import { record } from "../autograd.ts";
import { runMap } from "./buffers.ts";
import { runReduce, runScalarGrad } from "./reduce.ts";
import { LOSS_FNS, LOSS_GRADS, LOSS_TERMS, withTarget } from "../../shaders/loss.ts";

type Kind = keyof typeof LOSS_TERMS;

function checkTarget(op: string, pred: Tensor, target: Tensor | number) {
  if (typeof target === "number") {
    if (!Number.isFinite(target)) throw new Error(`${op}: target ${target} is not a finite number`);
    return;
  }
  if (pred.shape.length !== target.shape.length || pred.shape.some((d, i) => d !== target.shape[i])) {
    throw new Error(`${op}: prediction ${fmtShape(pred.shape)} and target ${fmtShape(target.shape)} differ`);
  }
}

/** The mean of a fused elementwise term; the gradient goes to `x`, and to `target` when `targetGrad`. */
function meanLoss(op: string, kind: Kind, x: Tensor, target: Tensor | number, targetGrad: boolean): Tensor {
  checkTarget(op, x, target);
  const tt = typeof target !== "number";
  const inputs = tt ? [x, target] : [x];
  const a = tt ? 0 : target;
  const s = 1 / x.size;
  const y = runReduce(op, inputs, withTarget(LOSS_TERMS[kind], tt), s, a, [], LOSS_FNS);
  const gradExpr = withTarget(LOSS_GRADS[kind], tt);
  return record(op, [x, tt && targetGrad ? target : null], y, (g, needs) => [
    needs[0] ? runScalarGrad(`${op}Backward`, g, inputs, gradExpr, x.shape, a, s) : null,
    // d/dt of |x − t| and (x − t)² is minus d/dx.
    needs[1] ? runScalarGrad(`${op}Backward`, g, inputs, `-(${gradExpr})`, x.shape, a, s) : null,
  ]);
}

/** Mean absolute error, F.l1_loss. A target tensor that requires grad receives a gradient. */
export function l1Loss(pred: Tensor, target: Tensor | number): Tensor {
  return meanLoss("l1Loss", "l1", pred, target, true);
}

/** Mean squared error, F.mse_loss; a number target is a constant label (LSGAN). */
export function mseLoss(pred: Tensor, target: Tensor | number): Tensor {
  return meanLoss("mseLoss", "mse", pred, target, true);
}

/**
 * F.binary_cross_entropy_with_logits, mean reduction, computed stably as
 * max(x, 0) − x·t + log(1 + e^−|x|). The target is a constant (no gradient).
 */
export function bceWithLogits(logits: Tensor, target: Tensor | number): Tensor {
  return meanLoss("bceWithLogits", "bce", logits, target, false);
}

/** Hinge loss of a discriminator: mean(relu(1 − real)) + mean(relu(1 + fake)). */
export function hingeLossD(realLogits: Tensor, fakeLogits: Tensor): Tensor {
  const sr = 1 / realLogits.size, sf = 1 / fakeLogits.size;
  const lr = runReduce("hingeLossD", [realLogits], LOSS_TERMS.hingeReal, sr);
  const lf = runReduce("hingeLossD", [fakeLogits], LOSS_TERMS.hingeFake, sf);
  const y = runMap("hingeLossD", [lr, lf], "x0 + x1");
  lr.dispose();
  lf.dispose();
  return record("hingeLossD", [realLogits, fakeLogits], y, (g, needs) => [
    needs[0]
      ? runScalarGrad("hingeLossDBackward", g, [realLogits], LOSS_GRADS.hingeReal, realLogits.shape, 0, sr)
      : null,
    needs[1]
      ? runScalarGrad("hingeLossDBackward", g, [fakeLogits], LOSS_GRADS.hingeFake, fakeLogits.shape, 0, sf)
      : null,
  ]);
}

/** Hinge loss of a generator: −mean(fake). */
export function hingeLossG(fakeLogits: Tensor): Tensor {
  const s = 1 / fakeLogits.size;
  const y = runReduce("hingeLossG", [fakeLogits], "x0", -s);
  return record("hingeLossG", [fakeLogits], y, (g) => [
    runScalarGrad("hingeLossGBackward", g, [], "-g0 * b", fakeLogits.shape, 0, s),
  ]);
}
