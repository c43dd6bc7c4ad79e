/**
 * Drives Chromium for tests/browser_test.ts and prints what it saw as one JSON
 * object on stdout; the test makes the judgements. A separate process because
 * playwright-core reads os.homedir() and /proc/sys at load time, which needs
 * `deno run -A` rather than the test task's narrower permissions.
 *
 * Usage: deno run -A tests/browser/driver.ts '<DriverConfig as JSON>'
 *
 * Scenarios, all in one browser (a fresh profile directory, removed after):
 * 1. engine: tests/browser/engine.html runs workload.js on the bundle; its window.__result.
 * 2. pages: the colorizing page at each given URL (e.g. with different `?model=`) with a photo set
 *    on the file input: the state, texts, the downloaded PNG, the models it fetched, optionally a
 *    screenshot. With `hints`, colour hints are then edited as a user would (see {@link editHints}).
 * 3. nogpu: web/ with navigator.gpu hidden; what the page then shows.
 *
 * playwright-core only drives the given executable; it never downloads a browser.
 */

import { chromium, type Page } from "playwright-core";
import { dirname } from "node:path";
import { photoToBox, type Point } from "../../web/hints_ui.ts";

/** What the test passes in. */
export interface DriverConfig {
  /** The served repository, e.g. http://127.0.0.1:1234 */
  base: string;
  chromium: string;
  args: string[];
  /** The photo to colorize. */
  photo: string;
  /** Page runs: a name for the report, the page's path (with query), where to save the download. */
  pages: {
    name: string;
    path: string;
    download: string;
    screenshot?: string;
    hints?: HintsScenario;
  }[];
  /** Per-wait limit (ms). */
  timeout: number;
}

/** The hint edits made on the page, after its first (hint-free) result. */
export interface HintsScenario {
  /** The photo pixel clicked to place a hint. */
  point: Point;
  /** The colour then picked ("#rrggbb"). */
  color: string;
  /** Where to save the PNG and the hints file downloaded after that. */
  download: string;
  json: string;
  /** A hints file that must be refused (the hints stay as they are). */
  badFile: string;
  /** The photo pixel the hint's marker is then dragged to; the hints file is saved again to `movedJson`. */
  dragTo: Point;
  movedJson: string;
  /** Where to save a screenshot of the page with the hint's marker, after the pick. */
  screenshot?: string;
  /** Where to save the PNG after the moved hints are loaded again and "Clear hints" is clicked. */
  clearedDownload: string;
}

/** What the driver prints; every scenario reports its own error instead of throwing. */
export interface DriverReport {
  engine: { result?: unknown; error?: string; log: string[] };
  pages: Record<string, PageReport>;
  nogpu: {
    state?: string;
    errorText?: string;
    errorVisible?: boolean;
    fileDisabled?: boolean;
    error?: string;
    log: string[];
  };
}

/** What one run of the colorizing page showed. */
export interface PageReport {
  /** document.body.dataset.state at the end. */
  state?: string;
  status?: string;
  note?: string;
  noteVisible?: boolean;
  /** naturalWidth of the "after" image. */
  afterWidth?: number;
  downloadName?: string;
  /** Whether the hint tools are shown, and the text of the "hints need a hint model" note if it is. */
  hintToolsVisible?: boolean;
  hintsUnavailable?: string;
  /** The models the page fetched, in order: "PATH STATUS" for each .safetensors response. */
  models: string[];
  hints?: HintsReport;
  error?: string;
  log: string[];
}

/** What the hint edits showed; each step's fields are set as far as the run got. */
export interface HintsReport {
  /** The status line before the first hint. */
  statusBefore?: string;
  /** After the click: markers, the colour input's value (the predicted colour), the selected marker's label. */
  markersAfterClick?: number;
  pickerAfterClick?: string;
  markerLabel?: string;
  /** After picking the colour and waiting: the state, status, the marker's colour (CSS rgb()). */
  stateAfterPick?: string;
  statusAfterPick?: string;
  markerColor?: string;
  downloadName?: string;
  jsonName?: string;
  /** Loading the bad file: the message shown, whether it is visible, markers after. */
  badLoadMessage?: string;
  badLoadVisible?: boolean;
  markersAfterBadLoad?: number;
  /** After dragging the marker and waiting. */
  stateAfterDrag?: string;
  /** After the Delete key on the selected marker. */
  markersAfterDelete?: number;
  stateAfterDelete?: string;
  /** After loading the moved hints file back, then right-clicking its marker. */
  markersAfterLoad?: number;
  stateAfterLoad?: string;
  markersAfterRightClick?: number;
  stateAfterRightClick?: string;
  hintCountText?: string;
  /** After loading the moved hints again and clicking "Clear hints". */
  stateAfterClear?: string;
  markersAfterClear?: number;
  statusAfterClear?: string;
}

function listen(page: Page, log: string[]) {
  page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => log.push(`page error: ${e.message}`));
}

const message = (e: unknown) => (e instanceof Error ? e.stack ?? e.message : String(e));

/** Waits until the page has colorized everything asked of it (state done or error); returns the state. */
async function settled(page: Page): Promise<string> {
  await page.waitForFunction("['done', 'error'].includes(document.body.dataset.state)");
  return await page.evaluate("document.body.dataset.state") as string;
}

/** Where photo pixel `p` is drawn on the screen (the result image may be scaled). */
async function onScreen(page: Page, p: Point): Promise<Point> {
  const box = await page.locator("#after").boundingBox();
  if (!box) throw new Error("the result image is not shown");
  const photo = await page.evaluate(
    "(() => { const i = document.getElementById('after'); return { width: i.naturalWidth, height: i.naturalHeight }; })()",
  ) as { width: number; height: number };
  const c = photoToBox(p, box, photo);
  return { x: box.x + c.x, y: box.y + c.y };
}

const markerCount = (page: Page) => page.locator(".hint-marker").count();

async function save(page: Page, selector: string, path: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
  await download.saveAs(path);
  return download.suggestedFilename();
}

/**
 * Colour hints as a user edits them: click a pixel of the result, pick a colour (filling the colour
 * input dispatches input and change, as a person's pick does), wait for the recolorized result and
 * download it and the hints file; load a bad hints file; drag the marker to another pixel, save the
 * hints again; click the marker and press Delete; load the saved file back; right-click its marker;
 * load it once more and click "Clear hints", then download the result.
 */
async function editHints(page: Page, s: HintsScenario, r: HintsReport) {
  r.statusBefore = await page.textContent("#status-text") ?? "";
  const at = await onScreen(page, s.point);
  await page.mouse.click(at.x, at.y);
  r.markersAfterClick = await markerCount(page);
  r.pickerAfterClick = await page.inputValue("#hint-color");
  r.markerLabel = await page.locator(".hint-marker").first().getAttribute("aria-label") ?? "";
  await page.locator("#hint-color").fill(s.color);
  r.stateAfterPick = await settled(page);
  r.statusAfterPick = await page.textContent("#status-text") ?? "";
  r.markerColor = await page.evaluate(
    "getComputedStyle(document.querySelector('.hint-marker')).backgroundColor",
  ) as string;
  r.downloadName = await save(page, "#download", s.download);
  r.jsonName = await save(page, "#save-hints", s.json);
  if (s.screenshot) await page.screenshot({ path: s.screenshot, fullPage: true });

  await page.setInputFiles("#load-hints", s.badFile);
  await page.locator("#hints-error").waitFor({ state: "visible" });
  r.badLoadMessage = await page.textContent("#hints-error") ?? "";
  r.badLoadVisible = await page.locator("#hints-error").isVisible();
  r.markersAfterBadLoad = await markerCount(page);

  const from = await onScreen(page, s.point), to = await onScreen(page, s.dragTo);
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 4 });
  await page.mouse.move(to.x, to.y, { steps: 4 });
  await page.mouse.up();
  r.stateAfterDrag = await settled(page);
  await save(page, "#save-hints", s.movedJson);

  // A click selects the marker; the Delete key removes its hint.
  await page.locator(".hint-marker").first().click();
  await page.keyboard.press("Delete");
  r.markersAfterDelete = await markerCount(page);
  r.stateAfterDelete = await settled(page);

  await page.setInputFiles("#load-hints", s.movedJson);
  await page.locator(".hint-marker").first().waitFor();
  r.markersAfterLoad = await markerCount(page);
  r.stateAfterLoad = await settled(page);
  await page.locator(".hint-marker").first().click({ button: "right" });
  r.markersAfterRightClick = await markerCount(page);
  r.stateAfterRightClick = await settled(page);
  r.hintCountText = await page.textContent("#hint-count") ?? "";

  await page.setInputFiles("#load-hints", s.movedJson);
  await page.locator(".hint-marker").first().waitFor();
  await settled(page);
  await page.click("#clear-hints");
  r.stateAfterClear = await settled(page);
  r.markersAfterClear = await markerCount(page);
  r.statusAfterClear = await page.textContent("#status-text") ?? "";
  await save(page, "#download", s.clearedDownload);
}

async function main(config: DriverConfig): Promise<DriverReport> {
  const report: DriverReport = { engine: { log: [] }, pages: {}, nogpu: { log: [] } };
  const profile = await Deno.makeTempDir({ prefix: "browser_profile_" });
  // launchPersistentContext is Playwright's way to pass --user-data-dir (a fresh profile).
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: config.chromium,
    headless: true,
    args: config.args,
    viewport: { width: 1100, height: 760 },
    acceptDownloads: true,
  });
  ctx.setDefaultTimeout(config.timeout);
  try {
    // 1. The engine bundle on fixed computations.
    {
      const page = await ctx.newPage();
      listen(page, report.engine.log);
      try {
        await page.goto(`${config.base}/tests/browser/engine.html`);
        await page.waitForFunction("window.__result !== undefined");
        report.engine.result = await page.evaluate("window.__result");
      } catch (e) {
        report.engine.error = message(e);
      }
      await page.close();
    }

    // 2. The colorizing page, as a user would use it.
    for (const run of config.pages) {
      const r: PageReport = report.pages[run.name] = { log: [], models: [] };
      const page = await ctx.newPage();
      listen(page, r.log);
      page.on("response", (res) => {
        const path = new URL(res.url()).pathname;
        if (path.endsWith(".safetensors")) r.models.push(`${path} ${res.status()}`);
      });
      const state = async () => (r.state = await page.evaluate("document.body.dataset.state") as string);
      try {
        await page.goto(`${config.base}${run.path}`);
        await page.waitForFunction("document.body.dataset.state !== 'loading'");
        r.note = await page.textContent("#model-note") ?? "";
        r.noteVisible = await page.locator("#model-note").isVisible();
        if (await state() === "ready") {
          await page.setInputFiles("#file", config.photo);
          await page.waitForFunction("['done', 'error'].includes(document.body.dataset.state)");
          if (await state() === "done") {
            r.afterWidth = await page.evaluate("document.getElementById('after').naturalWidth") as number;
            const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
            r.downloadName = download.suggestedFilename();
            await download.saveAs(run.download);
            r.hintToolsVisible = await page.locator("#hint-tools").isVisible();
            if (await page.locator("#hints-unavailable").isVisible()) {
              r.hintsUnavailable = (await page.textContent("#hints-unavailable") ?? "").replace(/\s+/g, " ")
                .trim();
            }
            if (run.hints) await editHints(page, run.hints, r.hints = {});
          }
        }
        r.status = await page.textContent("#status-text") ?? "";
        if (run.screenshot) {
          await Deno.mkdir(dirname(run.screenshot), { recursive: true });
          await page.screenshot({ path: run.screenshot, fullPage: true });
        }
      } catch (e) {
        r.error = message(e);
      }
      await page.close();
    }

    // 3. The page in a browser without WebGPU.
    {
      const r = report.nogpu;
      const page = await ctx.newPage();
      listen(page, r.log);
      try {
        await page.addInitScript(
          "Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined })",
        );
        await page.goto(`${config.base}/web/`);
        await page.waitForFunction("document.body.dataset.state !== 'loading'");
        r.state = await page.evaluate("document.body.dataset.state") as string;
        r.errorText = await page.textContent("#gpu-error") ?? "";
        r.errorVisible = await page.locator("#gpu-error").isVisible();
        r.fileDisabled = await page.locator("#file").isDisabled();
      } catch (e) {
        r.error = message(e);
      }
      await page.close();
    }
  } finally {
    await ctx.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
  return report;
}

if (import.meta.main) {
  const report = await main(JSON.parse(Deno.args[0]) as DriverConfig);
  console.log(JSON.stringify(report));
}
