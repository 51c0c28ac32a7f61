// The shoppers' app: plain JavaScript over /api/v1/app/. Views are chosen by the address's
// hash (#card, #offers...). The card and the last offers are kept in localStorage with the
// time they were fetched, so both show without a network; an activation made offline is
// kept as pending and sent when the network is back. The DOM is built with createElement
// and textContent only: nothing the server or the shopper types is parsed as HTML.
"use strict";

const KEY = {
  token: "unico.token", me: "unico.me", offers: "unico.offers", pending: "unico.pending",
  basket: "unico.basket", orderKey: "unico.order-key",
};

// ---- small helpers ----

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function money(cents) {
  if (cents === null || cents === undefined) return "";
  return "€" + (cents / 100).toFixed(2);
}

function when(stamp) {
  if (!stamp) return "never";
  const d = new Date(stamp);
  return d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function load(key) {
  try { return JSON.parse(localStorage.getItem(key)); } catch { return null; }
}

function save(key, value) {
  localStorage.setItem(key, JSON.stringify(value));
}

function status(text) {
  document.getElementById("status").textContent = text || "";
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// A request to the API; a network failure is an ApiError with status 0.
async function api(method, path, body, extra) {
  return (await apiTimed(method, path, body, extra)).data;
}

// The same, with when the answer was fetched: now, or, when the service worker answered
// from its copy because there is no network, when that copy was fetched.
async function apiTimed(method, path, body, extra) {
  const headers = Object.assign({ "Accept": "application/json" }, extra || {});
  const token = localStorage.getItem(KEY.token);
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    offline(true);
    throw new ApiError(0, "offline", "No connection: showing what was last saved on this phone.");
  }
  if (r.status === 204 || r.status === 202) return { data: null, at: new Date().toISOString() };
  const cached = r.headers.get("x-unico-from-cache") === "1";
  const at = (cached && r.headers.get("x-unico-fetched-at")) || new Date().toISOString();
  if (cached) offline(true);
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) {
    const err = (data && data.error) || {};
    if (r.status === 401 && token && !path.endsWith("/login")) {
      forget();
      location.hash = "#login";
    }
    throw new ApiError(r.status, err.code || "error", err.message || ("The server answered " + r.status));
  }
  return { data, at, cached };
}

let isOffline = false;
function offline(yes) {
  isOffline = yes;
  status(yes ? "Offline: showing what was last saved on this phone." : "");
}

function forget() {
  for (const k of Object.values(KEY)) localStorage.removeItem(k);
  if (window.caches) caches.delete("unico-data-v1").catch(() => {});
}

function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e.message || String(e));
}

function setTitle(text) {
  document.getElementById("title").textContent = text;
  document.title = text + " · My card and offers";
}

// ---- data kept on the phone ----

async function refreshMe() {
  const r = await apiTimed("GET", "/api/v1/app/me");
  save(KEY.me, { at: r.at, me: r.data });
  return r.data;
}

async function refreshOffers() {
  const r = await apiTimed("GET", "/api/v1/app/offers");
  save(KEY.offers, { at: r.at, offers: r.data.offers });
  return r.data.offers;
}

function pending() { return load(KEY.pending) || []; }

async function flushPending() {
  const codes = pending();
  if (!codes.length || !localStorage.getItem(KEY.token)) return;
  const left = [];
  for (const code of codes) {
    try {
      await api("POST", "/api/v1/app/offers/" + encodeURIComponent(code) + "/activate");
    } catch (e) {
      if (e.status === 0) left.push(code);
    }
  }
  save(KEY.pending, left);
  if (left.length < codes.length) {
    try { await refreshOffers(); } catch { /* shown from the copy */ }
    route();
  }
}

// ---- views ----

const views = {};

views.login = (root) => {
  setTitle("Log in");
  const email = h("input", { type: "email", id: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", id: "password", name: "password", autocomplete: "current-password", required: true });
  const out = h("div");
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    try {
      await login(email.value, password.value);
      location.hash = "#card";
    } catch (e) { out.append(errorBox(e)); }
  } },
    h("label", { for: "email" }, "E-mail"), email,
    h("label", { for: "password" }, "Password"), password,
    h("button", { type: "submit" }, "Log in"), out);
  root.append(form, h("p", {}, "New here? ", h("a", { href: "#register" }, "Get your card in the app")));
};

async function login(email, password) {
  const s = await api("POST", "/api/v1/app/login", { email, password });
  localStorage.setItem(KEY.token, s.token);
  await refreshMe();
  try { await refreshOffers(); } catch { /* the offers view will say */ }
}

views.register = async (root) => {
  setTitle("Get your card");
  let policy;
  try { policy = await api("GET", "/api/v1/app/privacy"); } catch (e) { root.append(errorBox(e)); return; }
  const field = (id, label, attrs) => [h("label", { for: id }, label), h("input", Object.assign({ id, name: id }, attrs))];
  const consent = (id, text) => h("label", { class: "check", for: "c-" + id },
    h("input", { type: "checkbox", id: "c-" + id, name: "c-" + id }), h("span", {}, text));
  const out = h("div");
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const f = new FormData(form);
    const card = (f.get("card") || "").trim();
    const body = {
      email: f.get("email"), password: f.get("password"), card: card || null, policy_version: policy.version,
      consents: Object.fromEntries(["marketing", "profiling", "email", "sms", "app"].map((k) => [k, f.get("c-" + k) === "on"])),
    };
    try {
      const r = await api("POST", "/api/v1/app/register", body);
      if (r.confirm_required) {
        sessionStorage.setItem("unico.confirm", JSON.stringify({ card: r.card, email: body.email }));
        confirmStep(root, r.card, body.email, body.password);
      } else {
        await login(body.email, body.password);
        location.hash = "#card";
      }
    } catch (e) { out.append(errorBox(e)); }
  } },
    field("email", "E-mail", { type: "email", autocomplete: "email", required: true }),
    field("password", "Password (at least 12 characters)", { type: "password", autocomplete: "new-password", minlength: "12", required: true }),
    field("card", "Your card number, if you already have a card (leave empty for a new digital card)", { type: "text", inputmode: "numeric", autocomplete: "off" }),
    h("h2", {}, "Privacy policy, version " + policy.version),
    h("div", { class: "policy", tabindex: "0", role: "region", "aria-label": "Privacy policy text" }, policy.text),
    h("fieldset", {}, h("legend", {}, "What you agree to (you can change each one later)"),
      consent("profiling", "Personal offers chosen from what I buy"),
      consent("marketing", "News and offers from the chain"),
      consent("email", "Messages by e-mail"),
      consent("sms", "Messages by SMS"),
      consent("app", "Notifications in the app")),
    h("button", { type: "submit" }, "Register"), out);
  root.append(form, h("p", {}, "Have an account? ", h("a", { href: "#login" }, "Log in")));
};

function confirmStep(root, card, email, password) {
  setTitle("Confirm your card");
  root.replaceChildren();
  const code = h("input", { id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", required: true });
  const out = h("div");
  root.append(h("p", {}, "We sent a code to the e-mail or phone on file for card " + card + ". Type it here to link the card."),
    h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      out.replaceChildren();
      try {
        await api("POST", "/api/v1/app/register/confirm", { card, code: code.value.trim() });
        sessionStorage.removeItem("unico.confirm");
        if (password) { await login(email, password); location.hash = "#card"; }
        else { location.hash = "#login"; }
      } catch (e) { out.append(errorBox(e)); }
    } }, h("label", { for: "code" }, "Code"), code, h("button", { type: "submit" }, "Link my card"), out));
}

views.confirm = (root) => {
  const c = JSON.parse(sessionStorage.getItem("unico.confirm") || "null");
  if (!c) { location.hash = "#register"; return; }
  confirmStep(root, c.card, c.email, null);
};

function updated(at) {
  const p = document.getElementById("updated");
  if (p) p.replaceWith(saved(at));
}

function saved(at) {
  return h("p", { class: "meta", id: "updated" }, "Last updated: " + when(at) + (isOffline ? " (offline)" : ""));
}

// The card shows at once from the copy on the phone (a shopper at the till does not wait
// for the network), then again from the server's answer when it comes.
views.card = async (root, _arg, gen) => {
  setTitle("My card");
  const kept = load(KEY.me);
  if (kept) drawCard(root, kept);
  try {
    await refreshMe();
    if (gen !== routeGen) return;
    const fresh = load(KEY.me);
    // Unchanged: only the time of the copy moves (a form being filled in stays as it is).
    if (kept && JSON.stringify(fresh.me) === JSON.stringify(kept.me)) { updated(fresh.at); return; }
    root.replaceChildren();
    drawCard(root, fresh);
  } catch (e) {
    if (!kept) root.append(errorBox(e));
  }
};

function drawCard(root, kept) {
  const me = kept.me;
  if (me.must_accept_policy) root.append(policyNotice(me));
  if (!me.card) { root.append(h("p", {}, "No card yet.")); return; }
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("id", "barcode");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Barcode of card " + me.card);
  const box = h("div", { class: "card-box" }, svg, h("p", { class: "number" }, me.card));
  root.append(h("p", {}, "Show this at the till."), box, saved(kept.at));
  const visit = me.visit_to_rate;
  if (visit && !isOffline) {
    root.append(h("h2", {}, "How was your visit to store " + visit.store_id + " on " + visit.day + "?"),
      survey("csat", null, visit.store_id, visit.visit_id));
  }
  const format = me.barcode === "ean13" && /^\d{13}$/.test(me.card) ? "EAN13" : "CODE128";
  // Wide bars and a quiet zone: a till's scanner reads it from a phone's screen.
  window.JsBarcode(svg, me.card, { format, width: 3, height: 110, margin: 24, displayValue: false, background: "#ffffff", lineColor: "#000000" });
}

function policyNotice(me) {
  const out = h("div");
  return h("div", { class: "note" },
    h("p", {}, "Our privacy policy changed (now version " + me.policy_version + "). Please read it under Privacy and accept it."),
    h("button", { type: "button", class: "secondary", onclick: () => { location.hash = "#privacy"; } }, "Read it"), out);
}

function offerItem(o, onActivate) {
  const isPending = pending().includes(o.code);
  const tags = [];
  if (o.used) tags.push(h("span", { class: "tag" }, "Used"));
  else if (o.activated) tags.push(h("span", { class: "tag" }, "Booked"));
  else if (isPending) tags.push(h("span", { class: "tag pending" }, "Booking pending: sent when you are online"));
  else if (!o.activation_required) tags.push(h("span", { class: "tag" }, "Applies at the till by itself"));
  const book = o.activation_required && !o.activated && !o.used && !isPending && onActivate
    ? h("button", { type: "button", onclick: () => onActivate(o), "aria-label": "Book: " + o.title }, "Book this offer")
    : null;
  return h("li", { "data-code": o.code, "data-activated": String(!!o.activated), "data-personal": String(!!o.personal) },
    h("p", { class: "offer-title" }, o.title),
    h("p", { class: "reason" }, o.reason),
    h("p", { class: "meta" }, "Worth " + money(o.value) + " · valid " + o.valid_from + " to " + o.valid_to),
    tags, book);
}

// Offers likewise: the copy at once, then the server's answer.
views.offers = async (root, _arg, gen) => {
  setTitle("My offers");
  const activate = async (o) => {
    try {
      await api("POST", "/api/v1/app/offers/" + encodeURIComponent(o.code) + "/activate");
      status("Booked: " + o.title);
      try { await refreshOffers(); } catch { /* keep the copy */ }
    } catch (e) {
      if (e.status !== 0) { status(e.message); return; }
      save(KEY.pending, [...new Set([...pending(), o.code])]);
      status("You are offline: the booking is kept and sent when you are back online.");
    }
    route();
  };
  const draw = (kept, problem) => {
    root.replaceChildren();
    if (problem) root.append(problem);
    if (!kept) return;
    root.append(saved(kept.at));
    if (!kept.offers.length) root.append(h("p", {}, "No offers for you today. New ones come with the next campaign."));
    root.append(h("ul", { class: "list", id: "offers" }, kept.offers.map((o) => offerItem(o, activate))));
  };
  const kept = load(KEY.offers);
  if (kept) draw(kept, null);
  try {
    await refreshOffers();
    if (gen !== routeGen) return;
    const fresh = load(KEY.offers);
    if (kept && JSON.stringify(fresh.offers) === JSON.stringify(kept.offers)) { updated(fresh.at); return; }
    draw(fresh, null);
  } catch (e) {
    if (gen === routeGen) draw(kept, errorBox(e));
  }
};

views.flyer = async (root) => {
  setTitle("This week's flyer");
  let flyer;
  try { flyer = await api("GET", "/api/v1/app/flyer"); } catch (e) { root.append(errorBox(e)); return; }
  renderFlyer(root, flyer);
  const out = h("div");
  const send = (channel) => async () => {
    out.replaceChildren();
    try { await api("POST", "/api/v1/app/flyer/send", { channel }); out.append(h("p", {}, "On its way.")); }
    catch (e) { out.append(errorBox(e)); }
  };
  root.append(h("h2", {}, "Get it as a link"),
    h("button", { type: "button", class: "secondary", onclick: send("email") }, "Send it by e-mail"),
    h("button", { type: "button", class: "secondary", onclick: send("sms") }, "Send it by SMS"), out);
};

function renderFlyer(root, flyer) {
  const mine = { due: "You are due to buy this again", usual: "From a category you buy" };
  root.append(h("p", { class: "meta" }, "Promotions valid on " + flyer.day + ", yours first."));
  if (!flyer.promotions.length) root.append(h("p", {}, "No promotions this week."));
  root.append(h("ul", { class: "list", id: "promotions" }, flyer.promotions.map((p) => h("li", {},
    h("p", { class: "offer-title" }, p.title),
    h("p", { class: "meta" }, money(p.price_cents) + (p.was_cents ? " instead of " + money(p.was_cents) : "") + " · until " + p.valid_to),
    mine[p.mine] ? h("span", { class: "tag" }, mine[p.mine]) : null))));
  if (flyer.offers.length) {
    root.append(h("h2", {}, "Your personal offers"),
      h("ul", { class: "list" }, flyer.offers.map((o) => offerItem(o, null))));
  }
}

views.products = (root) => {
  setTitle("Products");
  const q = h("input", { type: "search", id: "q", name: "q", autocomplete: "off" });
  const results = h("div", { "aria-live": "polite" });
  const form = h("form", { role: "search", onsubmit: async (ev) => {
    ev.preventDefault();
    results.replaceChildren();
    try {
      const list = await api("GET", "/api/v1/app/products?q=" + encodeURIComponent(q.value) + "&limit=50");
      if (!list.length) { results.append(h("p", {}, "Nothing found.")); return; }
      results.append(h("ul", { class: "list", id: "products" }, list.map((p) => h("li", {},
        h("p", { class: "offer-title" }, p.name),
        h("p", { class: "meta" }, [p.brand, p.category].filter(Boolean).join(" · ")),
        h("p", {}, p.price_cents === null ? "Price at the store" : money(p.price_cents)),
        p.offers.length ? h("span", { class: "tag" }, "One of your offers covers it") : null))));
    } catch (e) { results.append(errorBox(e)); }
  } }, h("label", { for: "q" }, "Search by name, brand or category"), q, h("button", { type: "submit" }, "Search"));
  root.append(form, results);
};

// ---- shopping from home: catalogue, basket, orders for pickup ----

function basket() { return load(KEY.basket) || []; }

function setBasket(lines) {
  save(KEY.basket, lines.filter((l) => l.quantity > 0));
  // A changed basket is a new order: the next placing gets a new Idempotency-Key.
  localStorage.removeItem(KEY.orderKey);
}

function addToBasket(p) {
  const lines = basket();
  const line = lines.find((l) => l.sku === p.sku);
  if (line) line.quantity = Math.min(99, line.quantity + 1);
  else lines.push({ sku: p.sku, name: p.name, quantity: 1 });
  setBasket(lines);
  status(p.name + " is in your basket.");
}

function basketLink() {
  const n = basket().reduce((a, l) => a + l.quantity, 0);
  return h("p", { class: "links" }, h("a", { href: "#basket", class: "button" }, "Basket (" + n + ")"),
    h("a", { href: "#orders", class: "button secondary" }, "My orders"));
}

const STATES = {
  placed: "Confirmed: the store will prepare it",
  picking: "Being prepared",
  ready: "Ready to collect",
  collected: "Collected",
  not_collected: "Not collected",
  cancelled: "Cancelled",
};

const REASONS = {
  not_activated: "book it in Offers to get it",
  not_in_basket: "not in your basket",
  below_threshold: "spend a little more to get it",
  already_used: "already used",
  not_valid_today: "not valid today",
  other_store: "not at this store",
  budget_spent: "no longer available",
};

// A pickup time in the store's own clock (the times carry the store's offset).
function slotText(s) {
  const [y, m, d] = s.starts_at.slice(0, 10).split("-").map(Number);
  const day = new Date(y, m - 1, d).toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
  return day + " " + s.starts_at.slice(11, 16) + "–" + s.ends_at.slice(11, 16);
}

function totals(p) {
  const rows = [h("p", {}, "Subtotal: " + money(p.subtotal_cents))];
  for (const d of p.discounts) {
    rows.push(h("p", { class: "discount", "data-offer": d.offer_code }, "Your offer: " + d.description + " −" + money(d.amount_cents)));
  }
  rows.push(h("p", { class: "total" }, "Total: " + money(p.total_cents)));
  return h("div", { class: "totals", id: "totals" }, rows);
}

views.shop = async (root) => {
  setTitle("Shop for pickup");
  root.append(basketLink());
  const q = h("input", { type: "search", id: "shop-q", name: "q", autocomplete: "off" });
  const dept = h("select", { id: "shop-dept", name: "department" });
  const cat = h("select", { id: "shop-cat", name: "category" });
  const brand = h("select", { id: "shop-brand", name: "brand" });
  const max = h("input", { type: "number", id: "shop-max", name: "max", min: "0", step: "0.01", inputmode: "decimal" });
  const usual = h("input", { type: "checkbox", id: "shop-usual", name: "usual" });
  const results = h("div", { "aria-live": "polite" });
  // A select's choices, keeping what was chosen when it is still among them.
  const fill = (select, all, values) => {
    const keep = select.value;
    select.replaceChildren(h("option", { value: "" }, all), ...values.map((v) => h("option", { value: v, selected: v === keep }, v)));
  };
  fill(dept, "All departments", []);
  fill(cat, "All categories", []);
  fill(brand, "All brands", []);
  const search = async () => {
    results.replaceChildren();
    try {
      const params = new URLSearchParams({ q: q.value, department: dept.value, category: cat.value, brand: brand.value, limit: "60" });
      if (max.value) params.set("max_price_cents", String(Math.round(Number(max.value) * 100)));
      if (usual.checked) params.set("usual", "true");
      const c = await api("GET", "/api/v1/app/catalogue?" + params);
      fill(dept, "All departments", c.departments);
      fill(cat, "All categories", c.categories);
      fill(brand, "All brands", c.brands);
      if (!c.items.length) { results.append(h("p", {}, "Nothing found.")); return; }
      results.append(h("p", { class: "meta" }, c.total + " products" + (c.items.some((i) => i.usual) ? ", your usual ones first" : "")),
        h("ul", { class: "list", id: "catalogue" }, c.items.map((p) => h("li", { "data-sku": p.sku },
          h("p", { class: "offer-title" }, p.name),
          h("p", { class: "meta" }, [p.brand, p.category].filter(Boolean).join(" · ")),
          h("p", {}, money(p.price_cents)),
          p.due ? h("span", { class: "tag" }, "Due again") : p.usual ? h("span", { class: "tag" }, "You usually buy it") : null,
          p.offers.length ? h("span", { class: "tag" }, "Your offer") : null,
          h("button", { type: "button", "aria-label": "Add " + p.name + " to the basket", onclick: () => {
            addToBasket(p);
            root.firstChild.replaceWith(basketLink());
          } }, "Add")))));
    } catch (e) { results.append(errorBox(e)); }
  };
  // A department chosen narrows the categories, a category the brands.
  dept.addEventListener("change", () => { cat.value = ""; brand.value = ""; search(); });
  cat.addEventListener("change", () => { brand.value = ""; search(); });
  root.append(h("form", { role: "search", onsubmit: (ev) => { ev.preventDefault(); search(); } },
    h("label", { for: "shop-q" }, "Search products"), q,
    h("label", { for: "shop-dept" }, "Department"), dept,
    h("label", { for: "shop-cat" }, "Category"), cat,
    h("label", { for: "shop-brand" }, "Brand"), brand,
    h("label", { for: "shop-max" }, "Price at most (€)"), max,
    h("label", { class: "check", for: "shop-usual" }, usual, h("span", {}, "Only my usual products")),
    h("button", { type: "submit" }, "Search")), results);
  await search();
};

views.basket = async (root) => {
  setTitle("My basket");
  const lines = basket();
  if (!lines.length) {
    root.append(h("p", {}, "Your basket is empty."), h("p", {}, h("a", { href: "#shop" }, "Go shopping")));
    return;
  }
  let me, stores;
  try {
    [me, stores] = await Promise.all([refreshMe(), api("GET", "/api/v1/app/stores"), refreshOffers().catch(() => null)]);
  } catch (e) { root.append(errorBox(e)); return; }
  const store = h("select", { id: "pickup-store", name: "store", required: true },
    stores.map((s) => h("option", { value: s.store_id, selected: s.store_id === me.store_id }, s.name + " (" + s.store_id + ")")));
  const slot = h("select", { id: "pickup-slot", name: "slot", required: true });
  const priced = h("div", { "aria-live": "polite" });
  const out = h("div", { "aria-live": "polite" });
  const list = h("ul", { class: "list", id: "basket" });
  const draw = async () => {
    priced.replaceChildren();
    const now = basket();
    list.replaceChildren(...now.map((l) => h("li", { "data-sku": l.sku },
      h("p", { class: "offer-title" }, l.name),
      h("p", {}, "Quantity: " + l.quantity),
      h("button", { type: "button", class: "secondary", "aria-label": "One more " + l.name, onclick: () => change(l.sku, 1) }, "+"),
      h("button", { type: "button", class: "secondary", "aria-label": "One less " + l.name, onclick: () => change(l.sku, -1) }, "−"))));
    if (!now.length) { route(); return; }
    try {
      const p = await api("POST", "/api/v1/app/basket", { store_id: store.value, lines: now.map((l) => ({ sku: l.sku, quantity: l.quantity })) });
      priced.append(totals(p));
      // Offers on what is in the basket that do not apply, and why (booking, spending more).
      const mine = new Map((((load(KEY.offers) || {}).offers) || []).map((o) => [o.code, o]));
      const skus = new Set(now.map((l) => l.sku));
      const missed = p.offers_not_applied
        .filter((n) => n.reason !== "not_in_basket" && mine.has(n.offer_code) && skus.has(mine.get(n.offer_code).sku));
      if (missed.length) {
        priced.append(h("ul", { class: "meta", id: "offers-missed" }, missed.map((n) =>
          h("li", {}, mine.get(n.offer_code).title + ": " + (REASONS[n.reason] || n.reason) + "."))));
      }
    } catch (e) { priced.append(errorBox(e)); }
  };
  const change = (sku, by) => {
    setBasket(basket().map((l) => (l.sku === sku ? Object.assign(l, { quantity: Math.min(99, l.quantity + by) }) : l)));
    draw();
  };
  const slots = async () => {
    slot.replaceChildren();
    try {
      const open = (await api("GET", "/api/v1/app/stores/" + encodeURIComponent(store.value) + "/slots")).filter((s) => s.left > 0);
      if (!open.length) slot.append(h("option", { value: "" }, "No pickup time left at this store"));
      slot.append(...open.map((s) => h("option", { value: String(s.id) }, slotText(s) + " (" + s.left + " left)")));
    } catch (e) { out.append(errorBox(e)); }
  };
  store.addEventListener("change", () => { slots(); draw(); });
  root.append(list, priced, h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    if (!slot.value) { out.append(h("p", { class: "error" }, "Choose a pickup time.")); return; }
    // One key per basket: a double tap or a retry after a lost answer places one order.
    let key = localStorage.getItem(KEY.orderKey);
    if (!key) {
      key = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(KEY.orderKey, key);
    }
    try {
      const o = await api("POST", "/api/v1/app/orders", {
        store_id: store.value, slot_id: Number(slot.value), lines: basket().map((l) => ({ sku: l.sku, quantity: l.quantity })),
      }, { "Idempotency-Key": key });
      setBasket([]);
      location.hash = "#order/" + o.id;
    } catch (e) {
      out.append(errorBox(e));
      if (e.code === "slot.full") slots();
    }
  } }, h("h2", {}, "Pickup"), h("label", { for: "pickup-store" }, "Store"), store,
    h("label", { for: "pickup-slot" }, "Pickup time"), slot, h("button", { type: "submit" }, "Place my order"), out));
  await Promise.all([draw(), slots()]);
};

views.orders = async (root) => {
  setTitle("My orders");
  let list;
  try { list = await api("GET", "/api/v1/app/orders"); } catch (e) { root.append(errorBox(e)); return; }
  if (!list.length) root.append(h("p", {}, "No orders yet."));
  root.append(h("ul", { class: "list", id: "orders" }, list.map((o) => h("li", { "data-state": o.state },
    h("p", { class: "offer-title" }, h("a", { href: "#order/" + o.id }, "Order " + o.id + " · " + money(o.total_cents))),
    h("p", { class: "meta" }, STATES[o.state] + " · store " + o.store_id + " · " + slotText(o.slot))))),
  h("p", {}, h("a", { href: "#shop" }, "Back to the shop")));
};

views.order = async (root, id) => {
  setTitle("Order");
  let o;
  try { o = await api("GET", "/api/v1/app/orders/" + encodeURIComponent(id)); } catch (e) { root.append(errorBox(e)); return; }
  setTitle("Order " + o.id);
  root.append(h("p", { class: "note", id: "order-state", "data-state": o.state }, STATES[o.state]),
    h("p", {}, "Pickup at store " + o.store_id + ", " + slotText(o.slot) + "."),
    h("ul", { class: "list", id: "order-lines" }, o.lines.map((l) => h("li", { "data-status": l.status },
      h("p", { class: "offer-title" }, l.quantity + " × " + l.name),
      h("p", {}, money(l.unit_price_cents) + " each"),
      l.status === "missing" ? h("p", { class: "error" }, "Not available: not charged") : null,
      l.substitute ? h("p", { class: "note" }, "Replaced by " + l.substitute.quantity + " × " + l.substitute.name + " at " + money(l.substitute.unit_price_cents) + " each") : null))),
    totals(o));
  if (o.total_cents !== o.placed_total_cents) {
    root.append(h("p", { class: "meta" }, "When you ordered: " + money(o.placed_total_cents) + "."));
  }
  if (o.can_cancel) {
    const out = h("div");
    root.append(h("button", { type: "button", class: "danger", onclick: async () => {
      try { await api("POST", "/api/v1/app/orders/" + o.id + "/cancel"); route(); } catch (e) { out.append(errorBox(e)); }
    } }, "Cancel this order"), out);
  }
  root.append(h("p", {}, h("a", { href: "#orders" }, "All my orders")));
};

views.store = async (root) => {
  setTitle("My store");
  let me, stores, tickets;
  try {
    [me, stores, tickets] = await Promise.all([refreshMe(), api("GET", "/api/v1/app/stores"), api("GET", "/api/v1/app/tickets")]);
  } catch (e) { root.append(errorBox(e)); return; }
  const select = h("select", { id: "store", name: "store" },
    h("option", { value: "" }, "Choose a store"),
    stores.map((s) => h("option", { value: s.store_id, selected: s.store_id === me.store_id }, s.name + " (" + s.store_id + ")")));
  const saveOut = h("div", { "aria-live": "polite" });
  root.append(h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    saveOut.replaceChildren();
    try { await api("PUT", "/api/v1/app/store", { store_id: select.value || null }); saveOut.append(h("p", {}, "Saved.")); }
    catch (e) { saveOut.append(errorBox(e)); }
  } }, h("label", { for: "store" }, "Favourite store"), select, h("button", { type: "submit" }, "Save"), saveOut));

  root.append(h("h2", {}, "Questions and problems"));
  root.append(h("ul", { class: "list", id: "tickets" }, tickets.map((t) => h("li", {},
    h("p", { class: "offer-title" }, h("a", { href: "#ticket/" + t.id }, t.subject)),
    h("p", { class: "meta" }, ({ open: "Waiting for the store", answered: "The store answered", closed: "Closed" })[t.state] + " · " + when(t.updated_at))))));
  const subject = h("input", { type: "text", id: "subject", name: "subject", maxlength: "200", required: true });
  const body = h("textarea", { id: "body", name: "body", maxlength: "4000", required: true });
  const out = h("div");
  root.append(h("h2", {}, "Write to your store"), h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    try {
      const t = await api("POST", "/api/v1/app/tickets", { store_id: select.value || null, subject: subject.value, body: body.value });
      location.hash = "#ticket/" + t.id;
    } catch (e) { out.append(errorBox(e)); }
  } }, h("label", { for: "subject" }, "Subject"), subject, h("label", { for: "body" }, "Message"), body,
    h("button", { type: "submit" }, "Send"), out));
  root.append(h("h2", {}, "Would you recommend us?"), survey("nps", null, me.store_id));
};

function survey(question, ticketId, storeId, visitId) {
  const max = question === "nps" ? 10 : 5;
  const min = question === "nps" ? 0 : 1;
  const name = question + (ticketId ? "-" + ticketId : "") + (visitId ? "-visit" : "");
  const legend = question === "nps"
    ? "How likely are you to recommend us to a friend? (0 not at all, 10 very likely)"
    : visitId ? "How satisfied were you? (1 not at all, 5 very)"
      : "How satisfied are you with how this was handled? (1 not at all, 5 very)";
  const scores = [];
  for (let i = min; i <= max; i++) {
    scores.push(h("label", { for: name + "-" + i }, h("input", { type: "radio", name, id: name + "-" + i, value: String(i) }), String(i)));
  }
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const picked = form.querySelector("input[name='" + name + "']:checked");
    if (!picked) { out.append(h("p", { class: "error" }, "Choose a score first.")); return; }
    try {
      await api("POST", "/api/v1/app/surveys", {
        question, score: Number(picked.value), ticket_id: ticketId || null, visit_id: visitId || null,
        store_id: visitId || ticketId ? null : (storeId || null),
      });
      form.replaceChildren(h("p", {}, "Thank you!"));
    } catch (e) { out.append(errorBox(e)); }
  } }, h("fieldset", {}, h("legend", {}, legend), h("div", { class: "scores" }, scores)), h("button", { type: "submit" }, "Send my answer"), out);
  return form;
}

views.ticket = async (root, id) => {
  setTitle("Ticket");
  let t;
  try { t = await api("GET", "/api/v1/app/tickets/" + encodeURIComponent(id)); } catch (e) { root.append(errorBox(e)); return; }
  setTitle(t.subject);
  root.append(h("p", { class: "meta" }, "Store " + t.store_id + " · opened " + when(t.created_at)),
    ...t.messages.map((m) => h("div", { class: "message " + m.author },
      h("p", { class: "meta" }, (m.author === "store" ? "The store" : "You") + " · " + when(m.at)), h("p", {}, m.body))));
  if (t.state === "closed") {
    root.append(h("p", {}, "This ticket is closed."), survey("csat", t.id, t.store_id));
  } else {
    const body = h("textarea", { id: "reply", name: "reply", maxlength: "4000" });
    const out = h("div");
    const send = (close) => async () => {
      out.replaceChildren();
      try { await api("POST", "/api/v1/app/tickets/" + t.id + "/messages", { body: body.value, close }); route(); }
      catch (e) { out.append(errorBox(e)); }
    };
    root.append(h("label", { for: "reply" }, "Your reply"), body,
      h("button", { type: "button", onclick: send(false) }, "Send"),
      h("button", { type: "button", class: "secondary", onclick: send(true) }, "Close: my problem is solved"), out);
  }
  root.append(h("p", {}, h("a", { href: "#store" }, "Back to my store")));
};

views.privacy = async (root) => {
  setTitle("Privacy");
  let me, policy;
  try { [me, policy] = await Promise.all([refreshMe(), api("GET", "/api/v1/app/privacy")]); }
  catch (e) { root.append(errorBox(e)); return; }
  if (me.must_accept_policy) {
    const out = h("div");
    root.append(h("div", { class: "note" },
      h("p", {}, "The privacy policy is now version " + policy.version + " (you accepted " + me.accepted_policy_version + ")."),
      h("button", { type: "button", onclick: async () => {
        try { await api("POST", "/api/v1/app/privacy/accept", { version: policy.version }); route(); }
        catch (e) { out.append(errorBox(e)); }
      } }, "I accept version " + policy.version), out));
  }
  root.append(h("h2", {}, "Privacy policy, version " + policy.version),
    h("div", { class: "policy", tabindex: "0", role: "region", "aria-label": "Privacy policy text" }, policy.text));
  const names = {
    profiling: "Personal offers chosen from what I buy",
    marketing: "News and offers from the chain",
    email: "Messages by e-mail",
    sms: "Messages by SMS",
    app: "Notifications in the app",
  };
  const boxes = Object.entries(names).map(([k, text]) => h("label", { class: "check", for: "p-" + k },
    h("input", { type: "checkbox", id: "p-" + k, name: k, checked: !!me.consents[k] }), h("span", {}, text)));
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    out.replaceChildren();
    const consents = Object.fromEntries(Object.keys(names).map((k) => [k, form.querySelector("#p-" + k).checked]));
    try {
      await api("PUT", "/api/v1/app/consents", { consents, policy_version: me.accepted_policy_version });
      try { await refreshOffers(); } catch { /* shown next time */ }
      out.append(h("p", {}, "Saved."));
    } catch (e) { out.append(errorBox(e)); }
  } }, h("fieldset", {}, h("legend", {}, "What you agree to"), boxes), h("button", { type: "submit" }, "Save my choices"), out);
  root.append(h("h2", {}, "Your choices"), form);

  const dl = h("div");
  root.append(h("h2", {}, "Your data"),
    h("button", { type: "button", class: "secondary", id: "export", onclick: async () => {
      dl.replaceChildren();
      try {
        const data = await api("GET", "/api/v1/app/export");
        const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
        const a = h("a", { href: url, download: "my-data.json" }, "my-data.json");
        dl.append(h("p", {}, "Your data is ready: ", a));
        a.click();
      } catch (e) { dl.append(errorBox(e)); }
    } }, "Download my data"), dl);

  const confirmBox = h("div");
  root.append(h("h2", {}, "Delete my account"),
    h("p", {}, "This deletes your account and erases your card, your purchases' link to you, your offers and your tickets. It cannot be undone."),
    h("button", { type: "button", class: "danger", id: "delete", onclick: () => {
      confirmBox.replaceChildren(h("p", { role: "alert" }, "Are you sure? Everything about you will be erased."),
        h("button", { type: "button", class: "danger", id: "delete-confirm", onclick: async () => {
          try {
            await api("DELETE", "/api/v1/app/me");
            forget();
            sessionStorage.setItem("unico.bye", "1");
            location.hash = "#register";
          } catch (e) { confirmBox.append(errorBox(e)); }
        } }, "Yes, delete everything"),
        h("button", { type: "button", class: "secondary", onclick: () => confirmBox.replaceChildren() }, "No, keep my account"));
    } }, "Delete my account"), confirmBox);
  root.append(h("h2", {}, "Log out"), h("button", { type: "button", class: "secondary", onclick: async () => {
    try { await api("POST", "/api/v1/app/logout"); } catch { /* forgotten here anyway */ }
    forget();
    location.hash = "#login";
  } }, "Log out on this phone"));
};

// ---- routing ----

const NEEDS_LOGIN = new Set(["card", "offers", "flyer", "products", "shop", "basket", "orders", "order", "store", "ticket", "privacy"]);
// The menu entry a view belongs to.
const SECTION = { products: "shop", basket: "shop", orders: "shop", order: "shop", ticket: "store" };

// Each call of route() is a generation: a view drawing after an await checks it is still
// the one on screen.
let routeGen = 0;

async function route() {
  const gen = ++routeGen;
  const [name, arg] = (location.hash.slice(1) || "").split("/");
  const logged = !!localStorage.getItem(KEY.token);
  let view = name || (logged ? "card" : "login");
  if (!views[view]) view = logged ? "card" : "login";
  if (NEEDS_LOGIN.has(view) && !logged) view = "login";
  document.getElementById("nav").hidden = !logged;
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === (SECTION[view] || view)) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const root = document.getElementById("view");
  root.replaceChildren();
  root.dataset.view = view;
  root.dataset.ready = "";
  if (sessionStorage.getItem("unico.bye") && view === "register") {
    sessionStorage.removeItem("unico.bye");
    root.append(h("p", { class: "note", role: "status" }, "Your account was deleted and your data erased."));
  }
  offline(!navigator.onLine);
  await views[view](root, arg, gen);
  if (gen === routeGen) root.dataset.ready = "true";
}

window.addEventListener("hashchange", () => { route(); document.getElementById("main").focus(); });
window.addEventListener("online", () => { offline(false); flushPending(); });
window.addEventListener("offline", () => offline(true));
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch(() => {});
}
route().then(flushPending);
