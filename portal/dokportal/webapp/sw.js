/* Dokportal's service worker. It caches the static files (styles, scripts, icons) and one
 * offline page, and nothing else: documents, receipts, notices and every signed-in page always
 * come from the network, so nothing personal is ever kept on the device.
 *
 * The server fills in VERSION (a hash of the static files) and ASSETS when it serves this
 * file, so a new release replaces the old cache.
 */
"use strict";

var VERSION = "__VERSION__";
var ASSETS = __ASSETS__;
var CACHE = "dokportal-static-" + VERSION;
var OFFLINE = "/offline";

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      return cache.addAll(ASSETS.concat([OFFLINE]));
    }).then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("dokportal-static-") === 0 && name !== CACHE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (url.pathname.indexOf("/static/") === 0) {
    // Static files: from the cache when there, else the network (not stored afterwards:
    // only the listed files are ever cached).
    event.respondWith(caches.match(request, { ignoreSearch: true }).then(function (hit) {
      return hit || fetch(request);
    }));
    return;
  }
  if (request.mode === "navigate") {
    // Pages: always the network; the offline page only when there is none.
    event.respondWith(fetch(request).catch(function () {
      return caches.match(OFFLINE);
    }));
  }
});
