/**
 * The progress bar: duration/number formatting, EMA rate and ETA with an
 * injected clock, terminal redraws vs throttled plain lines.
 */
import assert from "node:assert/strict";
import { formatDuration, formatNumber, formatRate, ProgressBar } from "../cli/progress.ts";

function capture() {
  const chunks: string[] = [];
  const dec = new TextDecoder();
  return {
    chunks,
    stream: {
      writeSync(p: Uint8Array) {
        chunks.push(dec.decode(p));
        return p.length;
      },
    },
    get text() {
      return chunks.join("");
    },
  };
}

function clock(startMs = 1000) {
  let t = startMs;
  return { now: () => t, advance: (s: number) => (t += s * 1000) };
}

Deno.test("formatDuration: seconds, minutes, hours, days, unknown", () => {
  assert.equal(formatDuration(0), "0s");
  assert.equal(formatDuration(0.4), "0s");
  assert.equal(formatDuration(59.4), "59s");
  assert.equal(formatDuration(59.6), "1m00s");
  assert.equal(formatDuration(87), "1m27s");
  assert.equal(formatDuration(3599), "59m59s");
  assert.equal(formatDuration(3600), "1h00m");
  assert.equal(formatDuration(2 * 3600 + 5 * 60 + 59), "2h05m");
  assert.equal(formatDuration(3 * 86400 + 4 * 3600 + 1), "3d04h");
  assert.equal(formatDuration(NaN), "?");
  assert.equal(formatDuration(Infinity), "?");
  assert.equal(formatDuration(-1), "?");
});

Deno.test("formatNumber and formatRate", () => {
  assert.equal(formatNumber(0.6134), "0.613");
  assert.equal(formatNumber(3.2), "3.20");
  assert.equal(formatNumber(142.4), "142");
  assert.equal(formatNumber(0), "0.00");
  assert.equal(formatNumber(0.00012), "1.20e-4");
  assert.equal(formatNumber(123456), "1.23e+5");
  assert.equal(formatNumber(NaN), "NaN");
  assert.equal(formatNumber(-Infinity), "-Infinity");
  assert.equal(formatRate(3.24, "img"), "3.2 img/s");
  assert.equal(formatRate(250, "img"), "250 img/s");
  assert.equal(formatRate(0.05, "img"), "20.0 s/img");
  assert.equal(formatRate(NaN, "img"), "? img/s");
});

Deno.test("rate and ETA: constant speed is exact, a speed change is followed by the EMA", () => {
  const c = clock();
  const out = capture();
  const bar = new ProgressBar({ total: 400, label: "epoch 2/10", stream: out.stream, tty: true, now: c.now });
  assert.ok(Number.isNaN(bar.rate), "no rate before time passes");
  assert.equal(bar.render(), "epoch 2/10 [....................] 0/400  ? it/s  ETA ?");
  // 4 units every 0.5 s = 8 units/s.
  for (let i = 0; i < 10; i++) {
    c.advance(0.5);
    bar.tick(4);
  }
  assert.equal(bar.rate, 8);
  // 360 units left at 8/s.
  assert.equal(bar.eta, 45);
  // The speed halves (4 units/s): with smoothing 0.3 the EMA of dt moves 30% of the way per tick.
  c.advance(1);
  bar.tick(4);
  const emaDt = 0.3 * 1 + 0.7 * 0.5; // seconds per tick of 4 units
  assert.ok(Math.abs(bar.rate - 4 / emaDt) < 1e-9, `rate ${bar.rate}`);
  assert.ok(Math.abs(bar.eta - (400 - 44) / (4 / emaDt)) < 1e-9, `eta ${bar.eta}`);
  // Ticks at the same clock reading are folded into the next sample (no division by zero).
  bar.tick(2);
  bar.tick(2);
  assert.ok(Number.isFinite(bar.rate));
});

Deno.test("terminal mode redraws one line with \\r, fields formatted, done ends the line", () => {
  const c = clock();
  const out = capture();
  const bar = new ProgressBar({
    total: 400,
    label: "epoch 2/10",
    unit: "img",
    stream: out.stream,
    tty: true,
    now: c.now,
  });
  for (let i = 0; i < 30; i++) {
    c.advance(1.25); // 4 images per 1.25 s = 3.2 img/s
    bar.tick(4, { D: 0.613, G: 3.2 });
  }
  assert.equal(
    bar.render(),
    "epoch 2/10 [######..............] 120/400  3.2 img/s  ETA 1m28s  D 0.613  G 3.20",
  );
  assert.ok(out.text.startsWith("\r"), "redraws start with a carriage return");
  assert.ok(!out.text.includes("\n"), "no newline before done()");
  // Redraws are throttled to 10/s: of two ticks 0.2 s later only the first draws.
  const before = out.chunks.length;
  c.advance(0.2);
  bar.tick(1);
  bar.tick(1);
  assert.equal(out.chunks.length, before + 1);
  bar.done();
  assert.ok(out.text.endsWith("\n"));
  assert.match(out.chunks[out.chunks.length - 1], /in 38s/);
});

Deno.test("plain mode prints at most every interval or 10% step, and a final line", () => {
  const c = clock();
  const out = capture();
  const bar = new ProgressBar({ total: 1000, stream: out.stream, tty: false, now: c.now, plainInterval: 5 });
  // 1000 ticks of 1 unit, 10 ms apart: 10 s in all. Lines come from the 10% milestones (every 1 s),
  // never from the 5 s timer here; no carriage returns.
  for (let i = 0; i < 1000; i++) {
    c.advance(0.01);
    bar.tick(1);
  }
  bar.done();
  const lines = out.text.trimEnd().split("\n");
  assert.ok(!out.text.includes("\r"));
  // Milestones 10%..90% + the final line (100% is left to done(), so it is not printed twice).
  assert.equal(lines.length, 10, lines.join("\n"));
  assert.match(lines[0], /100\/1000/);
  assert.match(lines[9], /1000\/1000 {2}100 it\/s {2}in 10s/);

  // A slow run: 1 unit every 2 s out of 1000 prints about every 5 s (time-based), not per tick.
  const out2 = capture();
  const bar2 = new ProgressBar({
    total: 1000,
    stream: out2.stream,
    tty: false,
    now: c.now,
    plainInterval: 5,
  });
  for (let i = 0; i < 10; i++) {
    c.advance(2);
    bar2.tick(1);
  }
  // Ticks at 2,4,6,...,20 s: prints at 6 s, 12 s, 18 s.
  assert.equal(out2.text.trimEnd().split("\n").length, 3, out2.text);
});

Deno.test("log() prints a line above a terminal bar and redraws it; plain mode just prints", () => {
  const c = clock();
  const out = capture();
  const bar = new ProgressBar({
    total: 10,
    label: "e",
    stream: out.stream,
    tty: true,
    now: c.now,
    width: 10,
  });
  c.advance(1);
  bar.tick(5);
  out.chunks.length = 0;
  const elsewhere: string[] = [];
  bar.log("step 5: saved", (l) => elsewhere.push(l));
  // Erase the half-drawn bar, let the caller print, then redraw the bar where it was.
  assert.deepEqual(elsewhere, ["step 5: saved"]);
  assert.equal(out.text, "\r\x1b[K" + bar.render());
  out.chunks.length = 0;
  bar.log("on the bar's stream");
  assert.equal(out.text, "\r\x1b[Kon the bar's stream\n" + bar.render());

  const plain = capture();
  const pbar = new ProgressBar({ total: 10, stream: plain.stream, tty: false, now: c.now });
  pbar.log("hello");
  assert.equal(plain.text, "hello\n");
});
