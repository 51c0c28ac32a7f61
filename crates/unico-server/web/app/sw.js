// The app's service worker: the shell (pages, script, style, icons) cached at install and
// served from the cache, refreshed in the background; the shopper's card and offers fetched
// from the network first, with the last copy as the fallback when there is none.
"use strict";

const SHELL = "unico-shell-v2";
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
        .then(async (r) => {
          if (r.ok) {
            // The copy says when it was fetched, so a page shown from it can say so.
            const headers = new Headers(r.headers);
            headers.set("x-unico-fetched-at", new Date().toISOString());
            const body = await r.clone().blob();
            await (await caches.open(DATA)).put(req, new Response(body, { status: r.status, headers }));
          }
          return r;
        })
        .catch(async () => {
          const cached = await (await caches.open(DATA)).match(req);
          if (!cached) return Response.error();
          const headers = new Headers(cached.headers);
          headers.set("x-unico-from-cache", "1");
          return new Response(await cached.blob(), { status: cached.status, headers });
        }),
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
