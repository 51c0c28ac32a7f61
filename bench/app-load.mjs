// The app's first load and a load from the service worker's cache, on an emulated slow
// mobile network (Chrome DevTools' "Slow 3G": 400 ms round trip, 400 kbit/s down and up),
// in headless Chromium at a 360-px phone screen: time from navigation to the card's barcode
// drawn, and bytes that crossed the network. Run by bench/app.sh.
import { readFileSync } from "node:fs";

// playwright-core as the e2e test installs it (`npm ci` in e2e/).
const { chromium } = await import(new URL("../e2e/node_modules/playwright-core/index.mjs", import.meta.url));

const base = process.env.UNICO_BASE;
const { token } = JSON.parse(readFileSync(process.env.UNICO_BROWSER, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"],
});
const context = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true });
await context.addInitScript((t) => { if (!localStorage.getItem("unico.token")) localStorage.setItem("unico.token", t); }, token);
const page = await context.newPage();
const cdp = await context.newCDPSession(page);
await cdp.send("Network.enable");
await cdp.send("Network.emulateNetworkConditions", {
  offline: false, latency: 400, downloadThroughput: 400 * 1024 / 8, uploadThroughput: 400 * 1024 / 8,
});
let bytes = 0;
cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; });

async function load(label, go) {
  bytes = 0;
  const t0 = Date.now();
  await go();
  await page.waitForSelector("#barcode rect");
  const ms = Date.now() - t0;
  console.log(`${label.padEnd(46)} ${String(ms).padStart(6)} ms to the barcode   ${String(Math.round(bytes / 1024)).padStart(5)} KiB over the network`);
  return ms;
}
const cold = await load("first visit (nothing cached), Slow 3G", () => page.goto(base + "/app/#card"));
await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
const warm = await load("next visit (service worker's cache), Slow 3G", () => page.reload());
console.log(`next / first visit time: ${(warm / cold).toFixed(2)}`);
await browser.close();
