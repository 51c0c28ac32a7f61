// Debian's Chromium for the e2e scripts, driven by playwright-core with `executablePath`
// (never a browser of the test tool's own download).
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import assert from "node:assert/strict";

// The start is retried twice: on a loaded machine Chromium has been seen to close during its
// launch; a page failing is never retried.
export async function launch() {
  for (let attempt = 1; ; attempt++) {
    try {
      return await chromium.launch({
        executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
        args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync"],
      });
    } catch (e) {
      if (attempt === 3) throw e;
      console.error(`Chromium did not start (attempt ${attempt}): ${e.message.split("\n")[0]}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

// A page's check: axe-core finds no serious or critical violation, then a full-page
// screenshot goes to `<out>/<name>.png`. The names checked are in `.checked`.
export function auditor(out) {
  const checked = [];
  const audit = async (page, name) => {
    const result = await new AxeBuilder({ page }).analyze();
    const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
    assert.deepEqual(
      bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`),
      [],
      `axe on ${name}`,
    );
    await page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
    checked.push(name);
  };
  audit.checked = checked;
  return audit;
}
