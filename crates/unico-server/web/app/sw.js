// The app's service worker: the shell (pages, script, style, icons) cached at install and
// served from the cache, refreshed in the background; the shopper's card and offers fetched
// from the network first, with the last copy as the fallback when there is none.
"use strict";

const SHELL = "unico-shell-v1";
const DATA = "unico-data-v1";
const FILES = [
  "/app/",
  "/app/app.js",
  "/app/app.css",
  "/app/jsbarcode.min.js",
  "/app/manifest.webmanifest",
  "/app/icon-192.png",
  "/app/icon-512.png",
  "/app/flyer.html",
  "/app/flyer.js",
];
const NETWORK_FIRST = ["/api/v1/app/me", "/api/v1/app/offers"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== SHELL && k !== DATA).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (NETWORK_FIRST.includes(url.pathname)) {
    event.respondWith(
      fetch(req)
        .then((r) => {
          if (r.ok) {
            const copy = r.clone();
            caches.open(DATA).then((c) => c.put(req, copy));
          }
          return r;
        })
        .catch(() => caches.open(DATA).then((c) => c.match(req)).then((r) => r || Response.error())),
    );
    return;
  }
  if (url.pathname.startsWith("/app/") || url.pathname === "/app") {
    const key = url.pathname === "/app" ? "/app/" : url.pathname;
    event.respondWith(
      caches.open(SHELL).then((c) =>
        c.match(key).then((cached) => {
          const fresh = fetch(req)
            .then((r) => {
              if (r.ok) c.put(key, r.clone());
              return r;
            })
            .catch(() => cached || Response.error());
          return cached || fresh;
        }),
      ),
    );
  }
});
