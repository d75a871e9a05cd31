/* Small enhancements for every page; every page works without them.
 * - Move focus to an error message after a form was sent back, so screen readers read it
 *   and keyboard users start next to it (WCAG 3.3.1).
 * - Register the service worker that keeps static files and an offline page (never
 *   documents or signed-in pages: see /sw.js).
 */
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var message = document.querySelector("[data-focus-on-load]");
    if (message) { message.focus(); }
  });

  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () {
        /* Without a worker the portal works as before, just not offline. */
      });
    });
  }
})();
