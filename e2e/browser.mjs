// Debian's Chromium for the e2e scripts, driven by playwright-core with `executablePath`
// (never a browser of the test tool's own download).
import { chromium } from "playwright-core";

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
