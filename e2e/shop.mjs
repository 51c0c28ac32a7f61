// Click-and-collect end to end, in Debian's headless Chromium, against a real `unico serve`:
// on a phone-sized screen a shopper logs in, finds the product of their personal offer in the
// shop, sees the offer's discount in the basket, chooses the store and a pickup time and
// places the order; on a laptop-sized screen the store's manager opens the day's slots, the
// slot's orders and pick list, the order, marks it ready and then collected; the shopper
// sees it collected. axe-core on every page (no serious or critical violation), no script
// error, nothing loaded from another server, a screenshot of every page in UNICO_E2E_OUT.
//
// Run by crates/unico/tests/shop_e2e.rs, which prepares the retailer and passes UNICO_BASE,
// UNICO_SHOPPER, UNICO_SHOPPER_PASSWORD, UNICO_STAFF, UNICO_STAFF_PASSWORD, UNICO_SKU,
// UNICO_OFFER, UNICO_E2E_OUT and CHROMIUM.
import { auditor, launch } from "./browser.mjs";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("UNICO_BASE");
const sku = env("UNICO_SKU");
const offer = env("UNICO_OFFER");
const out = env("UNICO_E2E_OUT");
mkdirSync(out, { recursive: true });

const look = auditor(out);

async function show(page, hash) {
  await page.evaluate((h) => { document.getElementById("view").dataset.ready = ""; location.hash = h; }, hash);
  await page.waitForSelector("#view[data-ready=true]");
}

const browser = await launch();
const problems = [];
let phone;
let desk;
try {
  const phoneContext = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  const deskContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  for (const c of [phoneContext, deskContext]) {
    await c.route((url) => !url.href.startsWith(base), (route) => {
      problems.push("loaded from elsewhere: " + route.request().url());
      return route.abort();
    });
  }
  phone = await phoneContext.newPage();
  phone.on("pageerror", (e) => problems.push(String(e)));

  // The shopper logs in and opens the shop: their usual products first.
  await phone.goto(base + "/app/");
  await phone.waitForSelector("#view[data-ready=true]");
  await phone.getByLabel("E-mail").fill(env("UNICO_SHOPPER"));
  await phone.getByLabel("Password").fill(env("UNICO_SHOPPER_PASSWORD"));
  await phone.getByRole("button", { name: "Log in" }).click();
  await phone.waitForSelector("#view[data-view=card][data-ready=true]");
  await phone.getByRole("link", { name: "Shop" }).click();
  await phone.waitForSelector("#view[data-view=shop][data-ready=true]");
  await phone.waitForSelector("#catalogue li");
  await look(phone, "01-shop");

  // The product of the personal offer, marked as such; into the basket.
  await phone.getByLabel("Search products").fill(sku);
  await phone.getByRole("button", { name: "Search" }).click();
  const item = phone.locator(`#catalogue li[data-sku="${sku}"]`);
  await item.waitFor();
  assert.ok((await item.innerText()).includes("Your offer"), "the offer is shown on its product");
  await look(phone, "02-search");
  await item.getByRole("button", { name: /^Add .* to the basket$/ }).click();
  await phone.getByRole("link", { name: "Basket (1)" }).waitFor();

  // The basket: the personal discount, the store and a pickup time.
  await show(phone, "#basket");
  await phone.getByLabel("Store").selectOption("S001");
  await phone.waitForSelector(`#totals .discount[data-offer="${offer}"]`);
  await phone.waitForSelector("#pickup-slot option[value]:not([value=''])", { state: "attached" });
  assert.match(await phone.locator("#pickup-slot").innerText(), /10:00–11:00 \(3 left\)/, "in the store's clock");
  const total = await phone.locator("#totals .total").innerText();
  await look(phone, "03-basket");
  await phone.getByRole("button", { name: "Place my order" }).click();
  await phone.waitForSelector("#view[data-view=order][data-ready=true]");
  const orderId = (await phone.evaluate(() => location.hash)).split("/")[1];
  assert.equal(await phone.locator("#order-state").getAttribute("data-state"), "placed");
  await phone.waitForSelector(`#totals .discount[data-offer="${offer}"]`);
  assert.equal(await phone.locator("#totals .total").innerText(), total, "the order keeps the basket's total");
  await look(phone, "04-order");

  // The store's manager prepares it in the back office.
  desk = await deskContext.newPage();
  desk.on("pageerror", (e) => problems.push(String(e)));
  await desk.goto(base + "/office/login");
  await desk.fill("#email", env("UNICO_STAFF"));
  await desk.fill("#password", env("UNICO_STAFF_PASSWORD"));
  await Promise.all([desk.waitForURL(/\/office\/$/), desk.click("button[type=submit]")]);
  await desk.getByRole("link", { name: "Orders", exact: true }).click();
  await desk.waitForURL(/\/office\/orders/);
  await look(desk, "05-office-slots");
  // The first slot: the basket offered it first.
  await desk.locator("table a[href*='slot_id=']").first().click();
  await desk.getByRole("table", { name: /Pick list/ }).waitFor();
  assert.ok((await desk.getByRole("table", { name: /Pick list/ }).innerText()).includes(sku), "the pick list names the product");
  await look(desk, "06-office-slot");
  await desk.getByRole("link", { name: "#" + orderId, exact: true }).click();
  await desk.getByRole("heading", { name: `Order #${orderId}: to prepare` }).waitFor();
  await look(desk, "07-office-order");
  await desk.getByRole("button", { name: "Ready for collection" }).click();
  await desk.getByRole("heading", { name: `Order #${orderId}: ready` }).waitFor();
  await look(desk, "08-office-ready");
  await desk.getByRole("button", { name: "Collected", exact: true }).click();
  await desk.getByRole("heading", { name: `Order #${orderId}: collected` }).waitFor();

  // The shopper sees it collected.
  await show(phone, "#orders");
  assert.equal(await phone.locator("#orders li").first().getAttribute("data-state"), "collected");
  await show(phone, "#order/" + orderId);
  assert.equal(await phone.locator("#order-state").getAttribute("data-state"), "collected");
  await look(phone, "09-order-collected");

  assert.deepEqual(problems, [], "no script error, nothing loaded from another server");
  console.log(`e2e passed: ${look.checked.length} pages checked with axe-core, screenshots in ${out}`);
} catch (e) {
  for (const [p, n] of [[phone, "failure-phone"], [desk, "failure-office"]]) {
    if (p) await p.screenshot({ path: `${out}/${n}.png`, fullPage: true }).catch(() => {});
  }
  throw e;
} finally {
  await browser.close();
}
