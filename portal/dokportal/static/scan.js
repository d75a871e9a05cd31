/* Multi-page scan on the upload page: add pages from the camera one at a time, see them,
 * reorder or remove them, and send them as the form's "pages" part, which the server
 * combines into one PDF. Without this script (or without DataTransfer) the plain form stays.
 *
 * Each photo is redrawn on a canvas before it leaves the phone: smaller (long side
 * MAX_SIDE px) and without EXIF (position, camera), since a canvas carries pixels only. The
 * server re-encodes again; this just saves the customer's data volume.
 */
(function () {
  "use strict";

  var MAX_SIDE = 2000;
  var QUALITY = 0.85;

  function supported() {
    try {
      return typeof createImageBitmap === "function" && new DataTransfer().items !== undefined;
    } catch (error) {
      return false;
    }
  }

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, name) { return String(values[name]); });
  }

  function shrink(file) {
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      var context = canvas.getContext("2d");
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      return new Promise(function (resolve, reject) {
        canvas.toBlob(function (blob) {
          if (blob) { resolve(blob); } else { reject(new Error("encode")); }
        }, "image/jpeg", QUALITY);
      });
    });
  }

  function start(section) {
    var form = section.closest("form");
    var camera = document.getElementById("scan-camera");
    var pagesInput = document.getElementById("scan-pages");
    var addButton = document.getElementById("scan-add");
    var list = document.getElementById("scan-list");
    var status = document.getElementById("scan-status");
    var template = document.getElementById("scan-page-template");
    var text = section.dataset;
    var maxPages = parseInt(text.maxPages, 10) || 30;
    var pages = [];   // {blob, url, id}
    var pending = []; // photos still being shrunk
    var nextId = 1;

    function say(message) {
      status.textContent = message;
    }

    function render(focus) {
      var urls = {};
      list.textContent = "";
      pages.forEach(function (page, index) {
        var number = index + 1;
        var item = template.content.firstElementChild.cloneNode(true);
        var label = fill(text.page, { page: number });
        item.dataset.id = String(page.id);
        item.querySelector(".scan-label").textContent = label;
        var image = item.querySelector("img");
        image.src = page.url;
        image.alt = label;
        item.querySelectorAll("button").forEach(function (button) {
          button.setAttribute("aria-label", button.textContent.trim() + ": " + label);
          var action = button.dataset.action;
          if ((action === "up" && index === 0) || (action === "down" && index === pages.length - 1)) {
            button.disabled = true;
          }
        });
        urls[page.id] = item;
        list.appendChild(item);
      });
      var full = pages.length >= maxPages;
      addButton.disabled = full;
      if (focus) {
        var target = focus.id && urls[focus.id] && urls[focus.id].querySelector('[data-action="' + focus.action + '"]');
        if (target && target.disabled) {
          target = urls[focus.id].querySelector("button:not([disabled])");
        }
        (target || addButton).focus();
      }
      return full;
    }

    function add(file) {
      var job = shrink(file).then(function (blob) {
        var page = { blob: blob, url: URL.createObjectURL(blob), id: nextId++ };
        pages.push(page);
        var full = render(null);
        var message = fill(text.added, { page: pages.length }) + " " + fill(text.count, { count: pages.length });
        say(full ? message + " " + text.full : message);
      }, function () {
        say(text.unreadable);
      });
      pending.push(job);
      job.then(function () { pending.splice(pending.indexOf(job), 1); });
      return job;
    }

    function move(id, step, action) {
      var from = pages.findIndex(function (page) { return page.id === id; });
      var to = from + step;
      if (from < 0 || to < 0 || to >= pages.length) { return; }
      var page = pages.splice(from, 1)[0];
      pages.splice(to, 0, page);
      render({ id: id, action: action });
      say(fill(text.moved, { from: from + 1, page: to + 1 }));
    }

    function remove(id) {
      var index = pages.findIndex(function (page) { return page.id === id; });
      if (index < 0) { return; }
      URL.revokeObjectURL(pages[index].url);
      pages.splice(index, 1);
      var neighbour = pages[Math.min(index, pages.length - 1)];
      render(neighbour ? { id: neighbour.id, action: "remove" } : { id: null, action: "" });
      say(fill(text.removed, { page: index + 1 }) + " " + fill(text.count, { count: pages.length }));
    }

    addButton.addEventListener("click", function () {
      camera.value = "";
      camera.click();
    });
    camera.addEventListener("change", function () {
      Array.prototype.slice.call(camera.files || [], 0, maxPages - pages.length).forEach(add);
    });
    list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button) { return; }
      var id = parseInt(button.closest("li").dataset.id, 10);
      var action = button.dataset.action;
      if (action === "up") { move(id, -1, action); }
      else if (action === "down") { move(id, 1, action); }
      else if (action === "remove") { remove(id); }
    });
    form.addEventListener("submit", function (event) {
      if (pending.length) {
        event.preventDefault();
        Promise.all(pending).then(function () { form.requestSubmit(); });
        return;
      }
      if (!pages.length) {
        pagesInput.removeAttribute("name");
        return;
      }
      var transfer = new DataTransfer();
      pages.forEach(function (page, index) {
        transfer.items.add(new File([page.blob], "page-" + (index + 1) + ".jpg", { type: "image/jpeg" }));
      });
      pagesInput.files = transfer.files;
      pagesInput.name = "pages";
    });

    // The scan replaces the plain single-photo input; both would confuse.
    var plain = document.getElementById("camera-plain");
    if (plain) { plain.remove(); }
    section.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("scan");
    if (section && supported()) { start(section); }
  });
})();
