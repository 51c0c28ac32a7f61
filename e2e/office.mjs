// The back office end to end, in Debian's headless Chromium on a laptop-sized screen,
// against a real `unico serve` on the demo chain: marketing logs in, reads the daily review
// (goals with their trajectory charts, the programme's tiles), plans a campaign from a policy
// that first has an error (shown at its line), previews and publishes it, opens a customer's
// view; a store manager sees only their store and answers a ticket; an admin adds a user.
// axe-core on every page (no serious or critical violation), no console error, a screenshot
// of every page in UNICO_E2E_OUT.
//
// Run by crates/unico/tests/office_e2e.rs, which prepares the demo and the server and passes:
// UNICO_BASE, UNICO_LOGINS (JSON: role -> [email, password, store]), UNICO_POLICY, UNICO_CARD,
// UNICO_E2E_OUT, CHROMIUM.
import { auditor, launch } from "./browser.mjs";
import { mkdirSync, readFileSync } from "node:fs";
import assert from "node:assert/strict";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env("UNICO_BASE");
const logins = JSON.parse(env("UNICO_LOGINS"));
const policy = readFileSync(env("UNICO_POLICY"), "utf8");
const card = env("UNICO_CARD");
const out = env("UNICO_E2E_OUT");
mkdirSync(out, { recursive: true });

const errors = [];
const look = auditor(out);
const shots = look.checked;

async function login(page, role) {
  const [email, password] = logins[role];
  await page.goto(base + "/office/");
  // Without a session, the page sends the browser to the login page.
  assert.match(page.url(), /\/office\/login/);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(/\/office\/$/), page.click("button[type=submit]")]);
  await page.waitForSelector(`[data-testid=who]:has-text("${email}")`);
}

async function logout(page) {
  await Promise.all([page.waitForURL(/\/office\/login/), page.click("text=Log out")]);
}

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  // No page may load anything from another host.
  await context.route((url) => !url.href.startsWith(base), (route) => {
    errors.push(`request to another host: ${route.request().url()}`);
    return route.abort();
  });
  const page = await context.newPage();
  // Chromium logs a page answered 4xx as a console error: the refusals this test provokes
  // (the policy with an error, 422; two pages the store manager may not open, 403) are
  // counted apart, anything else is an error.
  const refusals = [];
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (/Failed to load resource: the server responded with a status of (403|422)/.test(m.text())) refusals.push(m.text());
    else errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));

  // ---- marketing: the daily review ----
  await page.goto(base + "/office/login");
  await look(page, "01-login");
  await login(page, "marketing");
  await page.waitForSelector("h1:has-text('Daily review')");
  assert.ok(await page.locator("section.goal").count() >= 2, "the goals are on the home page");
  assert.ok(await page.locator("section.goal svg[role=img] polyline").count() >= 2, "each goal has its trajectory chart");
  const states = await page.locator("section.goal .state").allTextContents();
  assert.ok(states.every((s) => /on track|at risk|off track|met|missed|not enough data/.test(s)), states.join());
  assert.ok(await page.locator(".tile").count() >= 8, "the programme's tiles");
  assert.match(await page.locator(".tiles").textContent(), /Loyalty share of revenue[\s\S]*%[\s\S]*vs the 4 weeks before/);
  await look(page, "02-home");

  // The KPI explorer: a chart and a table, by store, and the CSV.
  await page.click("nav >> text=KPIs");
  await page.selectOption("#f-split", "store");
  await page.selectOption("#f-kpi", "revenue_cents");
  await Promise.all([page.waitForURL(/split=store/), page.click("button:has-text('Show')")]);
  assert.ok(await page.locator("figure.chart svg polyline").count() >= 2, "one line per store");
  assert.ok(await page.locator("table tbody tr").count() > 5);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download every KPI")]);
  const csv = readFileSync(await download.path(), "utf8");
  assert.match(csv.split("\n")[0], /^period,period_start,days,store,channel,segment,revenue_cents/);
  await look(page, "03-kpis");

  // ---- a campaign: an error at its line, then a plan, a preview, publish ----
  await page.click("nav >> text=Campaigns");
  await look(page, "04-campaigns");
  const broken = policy.replace(/^total_cents = .*$/m, 'total_cents = "lots"');
  assert.notEqual(broken, policy, "the policy has a total budget line to break");
  const badLine = broken.split("\n").findIndex((l) => l.startsWith('total_cents = "lots"')) + 1;
  await page.fill("#f-policy", broken);
  await page.click("button[value=plan]");
  await page.waitForSelector(".notice.error");
  const problem = page.locator(`#line-${badLine} .problem`);
  assert.ok(await problem.count() >= 1, `the problem is shown at line ${badLine}`);
  assert.match(await problem.first().textContent(), new RegExp(`line ${badLine}`));
  await look(page, "05-policy-error");
  await page.fill("#f-policy", policy);
  await page.click("button[value=plan]");
  await page.waitForURL(/\/office\/jobs\//);
  await page.waitForSelector("text=Preview campaign", { timeout: 60000 });
  await look(page, "06-plan-job");
  await page.click("text=Preview campaign");
  await page.waitForSelector("caption:has-text('Budgets')");
  assert.match(await page.locator("main").textContent(), /planned, not published/);
  assert.ok(await page.locator("caption:has-text('A sample of customers')").count() === 1);
  await look(page, "07-campaign-preview");
  await page.click("button:has-text('Publish')");
  await page.waitForSelector("button:has-text('Stop')");
  assert.match(await page.locator("main").textContent(), /published/);
  await look(page, "08-campaign-published");

  // ---- a customer's view (marketing: the profile, not the personal data) ----
  await page.click("nav >> text=Customers");
  await page.fill("#f-q", card);
  await Promise.all([page.waitForURL(/\/office\/customers\/%23\d+/), page.click("button:has-text('Find')")]);
  await page.waitForSelector("caption:has-text('Habits')");
  assert.match(await page.locator("main").textContent(), /not the personal data/);
  await look(page, "09-customer");
  await logout(page);

  // ---- a store manager: their store only, and a ticket answered ----
  const store = logins.store_manager[2];
  await login(page, "store_manager");
  assert.match(await page.locator("main").textContent(), new RegExp(`for store ${store}`));
  await look(page, "10-store-home");
  await page.click("nav >> text=KPIs");
  const options = await page.locator("#f-store option").allTextContents();
  assert.deepEqual(options, [`store ${store}`], "a store manager can only choose their store");
  const forbidden = await page.goto(base + "/office/kpis?store=NOT-MINE");
  assert.equal(forbidden.status(), 403);
  await page.click("nav >> text=Tickets");
  const stores = await page.locator("table tbody tr td:nth-child(2)").allTextContents();
  assert.ok(stores.length >= 1 && stores.every((s) => s === store), `only store ${store}'s tickets: ${stores}`);
  await look(page, "11-tickets");
  await page.locator("table tbody tr a").first().click();
  await page.fill("#f-body", "Thank you for writing: we checked the till and refunded the offer.");
  await page.check("#f-close");
  await page.click("button:has-text('Send')");
  await page.waitForSelector("td:has-text('we checked the till')");
  assert.match(await page.locator("main").textContent(), /closed/);
  await look(page, "12-ticket-answered");
  const admin = await page.goto(base + "/office/admin");
  assert.equal(admin.status(), 403, "a store manager may not open admin");
  await look(page, "13-not-allowed");
  await page.goto(base + "/office/");
  await logout(page);

  // ---- admin: a user added ----
  await login(page, "admin");
  await page.click("nav >> text=Admin");
  await look(page, "14-admin");
  await page.fill("#f-email", "new.analyst@demo.example");
  await page.selectOption("#f-role", "marketing");
  await page.click("button:has-text('Add the user')");
  await page.waitForSelector(".notice.ok:has-text('one-time password')");
  await look(page, "15-user-added");
  await page.click("text=Back to admin");
  const users = await page.locator("table:has(caption:text-is('Users')) tbody td:first-child").allTextContents();
  assert.ok(users.includes("new.analyst@demo.example"), `the user is listed: ${users}`);
  await page.click("nav >> text=Data");
  await page.waitForSelector("caption:has-text('By month')");
  await look(page, "16-data");
  await page.click("nav >> text=Customers");
  await page.fill("#f-q", card);
  await Promise.all([page.waitForURL(/\/office\/customers\/%23\d+/), page.click("button:has-text('Find')")]);
  await page.waitForSelector("caption:has-text('Consent history')");
  await look(page, "17-customer-personal");
  await page.click("text=Erase this customer");
  await look(page, "18-erase-confirm");
  await page.goto(base + "/office/duplicates");
  await look(page, "19-duplicates");

  assert.deepEqual(errors, [], "no console errors and nothing from another host");
  assert.equal(refusals.length, 3, `the refusals provoked: ${refusals}`);
  console.log(`e2e passed: ${shots.length} pages checked with axe and photographed (${shots.join(", ")})`);
} finally {
  await browser.close();
}
