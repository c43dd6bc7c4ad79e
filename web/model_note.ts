/**
 * What the page says when it falls back to a random generator, as a function of the case that
 * led there (no DOM, so tests/colorize_test.ts checks the wording without a browser).
 */

/** How the page came to use the random generator. */
export interface FallbackCase {
  /**
   * "random": `?model=random` asked for it; "param": the model at the `?model=` URL could not be
   * used; "default": models/default.safetensors could not be used.
   */
  source: "random" | "param" | "default";
  /** Why the model could not be used (a clause), for "param" and "default". */
  why?: string;
  /** The model's file was not there (HTTP 404). */
  missing?: boolean;
  /** Whether models/default.safetensors is there (known for "random" and "param"). */
  defaultExists?: boolean;
  /** Parameters of the random generator. */
  parameters: number;
}

/** The note shown above the drop box when the page uses the random generator. */
export function fallbackNote(c: FallbackCase): string {
  const save = 'Train one with "deno task train" and save it as models/default.safetensors for real colours.';
  let advice: string;
  if (c.source === "default") {
    advice = c.missing
      ? save
      : 'Replace models/default.safetensors with a model from "deno task train" or "deno task import" ' +
        "for real colours.";
  } else if (c.source === "param") {
    // The shipped model was not tried: point at the address, and at the shipped model only if it is there.
    advice = 'Check ?model= (it must name a model from "deno task train" or "deno task import"), or ' +
      (c.defaultExists
        ? "remove it to use models/default.safetensors."
        : "save such a model as models/default.safetensors and remove it.");
  } else {
    advice = c.defaultExists
      ? "Remove ?model=random from the address to use models/default.safetensors."
      : save;
  }
  const why = c.source === "random" ? "?model=random" : c.why ?? "";
  const lead = why
    ? `${why[0].toUpperCase() + why.slice(1)}${c.source === "random" ? ":" : ", so"} this`
    : "This";
  return `${lead} page uses a small U-Net with random weights (${c.parameters.toLocaleString("en")} ` +
    `parameters): the colours are arbitrary. ${advice}`;
}
