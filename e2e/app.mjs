// The shoppers' app end to end, in Debian's headless Chromium on a phone-sized screen,
// against a real `unico serve`: register with an existing card and its code, see offers with
// reasons, book one and have a till's confirm apply it, go offline and still see the card's
// barcode (decoded back to the card number) and the booked offer, book one offline (pending
// until back online), the flyer and its signed link, products, a ticket to the store,
// withdraw profiling and see personal offers go, export, delete the account. axe-core on
// every page: no serious or critical violation. Screenshots of each page in UNICO_E2E_OUT.
//
// Run by crates/unico/tests/app_e2e.rs, which prepares the data and the server and passes:
// UNICO_BASE, UNICO_CARD, UNICO_SKU, UNICO_PRICE, UNICO_OFFER, UNICO_TILL, UNICO_ADMIN,
// UNICO_E2E_OUT, CHROMIUM.
import { auditor, launch } from "./browser.mjs";
import { createRequire } from "node:module";
import { mkdirSync, readFileSync } from "node:fs";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
const zxing = require("@zxing/library");
const { PNG } = require("pngjs");

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("UNICO_BASE");
const card = env("UNICO_CARD");
const sku = env("UNICO_SKU");
const price = Number(env("UNICO_PRICE"));
const offer = env("UNICO_OFFER");
const till = env("UNICO_TILL");
const admin = env("UNICO_ADMIN");
const out = env("UNICO_E2E_OUT");
mkdirSync(out, { recursive: true });

const email = "e2e-shopper@example.com";
const password = "a long enough password";

async function call(method, path, token, body) {
  const r = await fetch(base + path, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: "Bearer " + token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = text;
  try { data = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, body: data };
}

const audit = auditor(out);
const checked = audit.checked;

async function ready(page) {
  await page.waitForSelector("#view[data-ready=true]");
}

async function show(page, hash) {
  await page.evaluate((h) => { document.getElementById("view").dataset.ready = ""; location.hash = h; }, hash);
  await ready(page);
}

// The barcode as a picture, read back with ZXing: the text it encodes (and, with
// `withFormat`, the symbology).
async function decodeBarcode(page, withFormat) {
  const shot = await page.locator("#barcode").screenshot();
  const png = PNG.sync.read(shot);
  const lum = new Uint8ClampedArray(png.width * png.height);
  for (let i = 0; i < lum.length; i++) {
    const [r, g, b] = [png.data[4 * i], png.data[4 * i + 1], png.data[4 * i + 2]];
    lum[i] = (r * 299 + g * 587 + b * 114) / 1000;
  }
  const source = new zxing.RGBLuminanceSource(lum, png.width, png.height);
  const bitmap = new zxing.BinaryBitmap(new zxing.HybridBinarizer(source));
  const hints = new Map([[zxing.DecodeHintType.POSSIBLE_FORMATS, [zxing.BarcodeFormat.CODE_128, zxing.BarcodeFormat.EAN_13]]]);
  const reader = new zxing.MultiFormatReader();
  const result = reader.decode(bitmap, hints);
  return withFormat ? [result.getText(), zxing.BarcodeFormat[result.getBarcodeFormat()]] : result.getText();
}

const browser = await launch();
let page;
try {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, acceptDownloads: true,
  });
  page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("request", (r) => { if (!r.url().startsWith(base)) problems.push("loaded from elsewhere: " + r.url()); });

  // Logged out: the login page; then registration with the policy and unticked consents.
  await page.goto(base + "/app/");
  await ready(page);
  await audit(page, "01-login");
  await page.getByRole("link", { name: "Get your card in the app" }).click();
  await page.waitForSelector("#c-profiling");
  await ready(page);
  for (const id of ["marketing", "profiling", "email", "sms", "app"]) {
    assert.equal(await page.isChecked("#c-" + id), false, `${id} unticked by default`);
  }
  await audit(page, "02-register");
  await page.getByLabel("E-mail", { exact: true }).fill(email);
  await page.getByLabel("Password (at least 12 characters)").fill(password);
  await page.getByLabel(/Your card number/).fill(card);
  await page.getByLabel("Personal offers chosen from what I buy").check();
  await page.getByLabel("News and offers from the chain").check();
  await page.getByLabel("Notifications in the app").check();
  await page.getByRole("button", { name: "Register" }).click();

  // The code goes to the contact on file: an admin reads it in the outbox.
  await page.waitForSelector("#code");
  await audit(page, "03-confirm-code");
  const outbox = await call("GET", "/api/v1/outbox", admin);
  const text = JSON.stringify(outbox.body);
  const code = text.slice(text.lastIndexOf("Your code is ") + 13).slice(0, 6);
  assert.match(code, /^\d{6}$/);
  await page.getByLabel("Code").fill(code);
  await page.getByRole("button", { name: "Link my card" }).click();

  // My card: the barcode decodes back to the card number.
  await page.waitForSelector("#barcode rect");
  await ready(page);
  await audit(page, "04-card");
  assert.equal(await decodeBarcode(page), card, "the barcode is the card");

  // My offers, with reasons; book one; the till applies it.
  await show(page, "#offers");
  const item = page.locator(`li[data-code="${offer}"]`);
  await item.waitFor();
  assert.ok((await item.locator(".reason").innerText()).length > 10, "the offer says why");
  await audit(page, "05-offers");
  const tillBasket = (receipt) => ({
    card, store_id: "S001", till_id: "T1", receipt_no: receipt,
    lines: [{ line_no: 1, sku, quantity: "1", unit_price_cents: price }],
  });
  const before = await call("POST", "/api/v1/pos/evaluate", till, tillBasket(undefined));
  assert.ok(before.body.offers_not_applied.some((n) => n.offer_code === offer && n.reason === "not_activated"), JSON.stringify(before.body));
  await item.getByRole("button", { name: /^Book/ }).click();
  await page.waitForSelector(`li[data-code="${offer}"][data-activated=true]`);
  const confirmed = await call("POST", "/api/v1/pos/confirm", till, tillBasket("E2E-1"));
  assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
  assert.ok(confirmed.body.discounts.some((d) => d.offer_code === offer && d.amount_cents > 0), JSON.stringify(confirmed.body));

  // Offline: the card and the booked offer are still there, with the time of the last update.
  // Every request to the server fails (the service worker's too), and the page is reloaded:
  // the shell comes from the service worker's cache or not at all. Chromium forgets the
  // offline emulation at a navigation, so it is set again after the reload.
  const cut = (route) => route.abort("internetdisconnected");
  await context.setOffline(true);
  await context.route(`${base}/**`, cut);
  await page.reload();
  await context.setOffline(false);
  await context.setOffline(true);
  await ready(page);
  await show(page, "#card");
  await page.waitForSelector("#barcode rect");
  await audit(page, "06-offline-card");
  assert.equal(await decodeBarcode(page), card, "the barcode offline");
  await show(page, "#offers");
  await page.waitForSelector(`li[data-code="${offer}"][data-activated=true]`);
  assert.match(await page.locator("#updated").innerText(), /Last updated: .*\(offline\)/);
  assert.match(await page.locator("#status").innerText(), /Offline/);
  // A booking made offline is pending until the server confirms it.
  const other = page.locator("li[data-activated=false]").filter({ has: page.getByRole("button", { name: /^Book/ }) }).first();
  let pendingCode = null;
  if (await other.count()) {
    pendingCode = await other.getAttribute("data-code");
    await other.getByRole("button", { name: /^Book/ }).click();
    await page.waitForSelector(`li[data-code="${pendingCode}"] .tag.pending`);
  }
  await audit(page, "07-offline-offers");
  await context.unroute(`${base}/**`, cut);
  await context.setOffline(false);
  if (pendingCode) {
    await page.evaluate(() => window.dispatchEvent(new Event("online")));
    await page.waitForSelector(`li[data-code="${pendingCode}"][data-activated=true]`);
  }

  // The visit just made is there to rate on the card's page.
  await show(page, "#card");
  await page.getByText("How satisfied were you?").waitFor();
  await page.getByLabel("5", { exact: true }).check();
  await page.getByRole("button", { name: "Send my answer" }).click();
  await page.getByText("Thank you!").waitFor();

  // The flyer, its signed link (opened without a login), products, my store and a ticket.
  await show(page, "#flyer");
  await page.waitForSelector("#promotions li");
  await audit(page, "08-flyer");
  const token = await page.evaluate(() => localStorage.getItem("unico.token"));
  const link = await call("POST", "/api/v1/app/flyer/link", token);
  const shared = await context.newPage();
  await shared.goto(base + link.body.path);
  await shared.waitForSelector("#view[data-ready=true]");
  assert.ok(!(await shared.content()).includes(card), "the shared flyer shows no card");
  await audit(shared, "09-shared-flyer");
  await shared.close();

  await show(page, "#products");
  await page.getByLabel("Search by name, brand or category").fill(sku);
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForSelector("#products li");
  await audit(page, "10-products");

  await show(page, "#store");
  await page.getByLabel("Favourite store").selectOption("S001");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByLabel("Subject").fill("Where is the gluten-free pasta?");
  await page.getByLabel("Message").fill("I could not find it on Saturday.");
  await audit(page, "11-store");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.waitForSelector(".message.shopper");
  await ready(page);
  await audit(page, "12-ticket");

  // Withdrawing profiling takes the personal offers away.
  await show(page, "#offers");
  assert.ok(await page.locator("li[data-personal=true]").count() > 0, "personal offers before");
  await show(page, "#privacy");
  await audit(page, "13-privacy");
  await page.getByLabel("Personal offers chosen from what I buy").uncheck();
  await page.getByRole("button", { name: "Save my choices" }).click();
  await page.getByText("Saved.").waitFor();
  await show(page, "#offers");
  assert.equal(await page.locator("li[data-personal=true]").count(), 0, "no personal offer without profiling");

  // Export, then delete the account.
  await show(page, "#privacy");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download my data" }).click()]);
  const exported = readFileSync(await download.path(), "utf8");
  assert.ok(exported.includes(card) && exported.includes("Where is the gluten-free pasta?"), "the export holds my card and my ticket");
  await page.getByRole("button", { name: "Delete my account" }).click();
  await audit(page, "14-delete-confirm");
  await page.getByRole("button", { name: "Yes, delete everything" }).click();
  await page.getByText("Your account was deleted").waitFor();
  await audit(page, "15-deleted");
  const again = await call("POST", "/api/v1/app/login", null, { email, password });
  assert.equal(again.status, 401, "the account is gone");
  const lookup = await call("POST", "/api/v1/customers/lookup", admin, { reference: card });
  assert.match(JSON.stringify(lookup.body), /erased/);

  // A new digital card: 13 digits with the in-store prefix, drawn as EAN-13 (the server runs
  // with UNICO_APP_BARCODE=ean13; the linked 10-digit card above fell back to Code 128).
  const fresh = await (await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true })).newPage();
  fresh.on("pageerror", (e) => problems.push(String(e)));
  await fresh.goto(base + "/app/#register");
  await fresh.waitForSelector("#c-profiling");
  await fresh.getByLabel("E-mail", { exact: true }).fill("new-card@example.com");
  await fresh.getByLabel("Password (at least 12 characters)").fill(password);
  await fresh.getByRole("button", { name: "Register" }).click();
  await fresh.waitForSelector("#barcode rect");
  await fresh.waitForSelector("#view[data-view=card][data-ready=true]");
  const number = (await fresh.locator(".number").innerText()).trim();
  assert.match(number, /^29\d{11}$/, "a new digital card with the in-store prefix");
  assert.deepEqual(await decodeBarcode(fresh, true), [number, "EAN_13"]);
  await fresh.screenshot({ path: `${out}/16-new-digital-card.png`, fullPage: true });

  assert.deepEqual(problems, [], "no script error, nothing loaded from another server");
  console.log(`e2e passed: ${checked.length} pages checked with axe-core, screenshots in ${out}`);
} catch (e) {
  // What the page showed when it failed, for whoever reads the CI log.
  if (page) await page.screenshot({ path: `${out}/failure.png`, fullPage: true }).catch(() => {});
  throw e;
} finally {
  await browser.close();
}
