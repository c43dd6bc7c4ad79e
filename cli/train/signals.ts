/**
 * Ctrl-C and SIGTERM during training: the first asks the loop to finish the
 * current step, save and exit 130; a second exits at once (the checkpoint on
 * disk is always whole thanks to the atomic rename).
 */

/** Listens for SIGINT/SIGTERM from construction until {@link remove}. */
export class StopSignals {
  /** The first signal received, null while none came. */
  received: string | null = null;
  #handlers: [Deno.Signal, () => void][];

  constructor(err: (s: string) => void) {
    const onSignal = (name: string) => () => {
      if (this.received) Deno.exit(130);
      this.received = name;
      err(`\ntrain: ${name}: finishing the current step and saving a checkpoint (again to quit now)`);
    };
    this.#handlers = [["SIGINT", onSignal("SIGINT")], ["SIGTERM", onSignal("SIGTERM")]];
    for (const [s, h] of this.#handlers) {
      try {
        Deno.addSignalListener(s, h);
      } catch {
        // SIGTERM is not supported on Windows.
      }
    }
  }

  /** Stops listening. */
  remove() {
    for (const [s, h] of this.#handlers) {
      try {
        Deno.removeSignalListener(s, h);
      } catch {
        // not registered
      }
    }
  }
}
