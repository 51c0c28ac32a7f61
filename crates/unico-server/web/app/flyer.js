// The flyer a signed link opens, without a login: the link's token is in the address's
// fragment, which browsers never send to a server or in a Referer header.
"use strict";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function money(cents) {
  return cents === null || cents === undefined ? "" : "€" + (cents / 100).toFixed(2);
}

async function show() {
  const view = document.getElementById("view");
  const token = location.hash.slice(1);
  let flyer;
  try {
    const r = await fetch("/api/v1/app/flyer/shared/" + encodeURIComponent(token), { headers: { Accept: "application/json" } });
    const data = await r.json();
    if (!r.ok) throw new Error((data.error && data.error.message) || "This link does not work.");
    flyer = data;
  } catch (e) {
    view.append(h("p", { class: "error", role: "alert" }, e.message));
    return;
  }
  const mine = { due: "You are due to buy this again", usual: "From a category you buy" };
  view.append(h("p", { class: "meta" }, "Promotions valid on " + flyer.day + "."));
  view.append(h("ul", { class: "list", id: "promotions" }, flyer.promotions.map((p) => h("li", {},
    h("p", { class: "offer-title" }, p.title),
    h("p", { class: "meta" }, money(p.price_cents) + (p.was_cents ? " instead of " + money(p.was_cents) : "") + " · until " + p.valid_to),
    mine[p.mine] ? h("span", { class: "tag" }, mine[p.mine]) : null))));
  if (flyer.offers.length) {
    view.append(h("h2", {}, "Your offers"), h("ul", { class: "list", id: "offers" }, flyer.offers.map((o) => h("li", {},
      h("p", { class: "offer-title" }, o.title),
      h("p", { class: "meta" }, "Worth " + money(o.value) + " · valid " + o.valid_from + " to " + o.valid_to)))));
  }
  view.dataset.ready = "true";
}

show();
