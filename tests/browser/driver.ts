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
 *    on the file input: the state, texts, the downloaded PNG, optionally a screenshot.
 * 3. nogpu: web/ with navigator.gpu hidden; what the page then shows.
 *
 * playwright-core only drives the given executable; it never downloads a browser.
 */

import { chromium, type Page } from "playwright-core";
import { dirname } from "node:path";

/** What the test passes in. */
export interface DriverConfig {
  /** The served repository, e.g. http://127.0.0.1:1234 */
  base: string;
  chromium: string;
  args: string[];
  /** The photo to colorize. */
  photo: string;
  /** Page runs: a name for the report, the page's path (with query), where to save the download. */
  pages: { name: string; path: string; download: string; screenshot?: string }[];
  /** Per-wait limit (ms). */
  timeout: number;
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
  error?: string;
  log: string[];
}

function listen(page: Page, log: string[]) {
  page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => log.push(`page error: ${e.message}`));
}

const message = (e: unknown) => (e instanceof Error ? e.stack ?? e.message : String(e));

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
      const r: PageReport = report.pages[run.name] = { log: [] };
      const page = await ctx.newPage();
      listen(page, r.log);
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
