/* The repository picker: filter box, select all / none, the archived toggle, a live count.
 *
 * The list arrives from the server (htmx swaps it in, or the page already holds it without
 * JavaScript); this file only makes 2,000 rows pleasant to work with. It reads every row once,
 * then filters on cached lower-case names, touching only rows whose visibility changes.
 */
(function () {
  "use strict";

  function setUp(root) {
    var list = root.querySelector ? root.querySelector("#repo-rows") : null;
    if (!list && root.id === "repo-rows") list = root;
    if (!list || list.getAttribute("data-ready")) return;
    list.setAttribute("data-ready", "1");
    var body = document.getElementById("repo-list") || document;
    var rows = Array.prototype.slice.call(list.children);
    var boxes = rows.map(function (row) { return row.querySelector("input[type=checkbox]"); });
    var names = rows.map(function (row) {
      return row.querySelector(".pick-name").textContent.toLowerCase();
    });
    var archived = rows.map(function (row) { return row.classList.contains("pick-archived"); });
    var matches = rows.map(function () { return true; });
    var filter = body.querySelector("#repo-filter");
    var toggle = body.querySelector("#show-archived");
    var count = body.querySelector("#repo-count");
    var submit = body.querySelector("#repo-submit");
    var noMatch = body.querySelector("#repo-no-match");
    var tools = body.querySelector(".picker-js");
    if (tools) tools.hidden = false;

    function selected() {
      var n = 0;
      for (var i = 0; i < boxes.length; i++) if (boxes[i].checked && !boxes[i].disabled) n++;
      return n;
    }

    function showCount() {
      var n = selected();
      if (count) count.textContent = n + " selected";
      if (submit) {
        submit.disabled = n === 0;
        submit.textContent = n === 0 ? "Choose at least one repository"
          : "Import " + n + (n === 1 ? " repository" : " repositories");
      }
    }

    function shown(i) {
      return matches[i] && (!archived[i] || (toggle && toggle.checked));
    }

    var pending = false;
    function applyFilter() {
      pending = false;
      var query = filter.value.trim().toLowerCase();
      var any = false;
      for (var i = 0; i < rows.length; i++) {
        var match = query === "" || names[i].indexOf(query) !== -1;
        if (match !== matches[i]) {
          matches[i] = match;
          rows[i].hidden = !match;
        }
        if (shown(i)) any = true;
      }
      if (noMatch) noMatch.hidden = any || rows.length === 0;
    }

    if (filter) {
      filter.addEventListener("input", function () {
        if (!pending) {
          pending = true;
          window.requestAnimationFrame(applyFilter);
        }
      });
    }
    if (toggle) toggle.addEventListener("change", applyFilter);

    (tools || body).addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-select]") : null;
      if (!button) return;
      var all = button.getAttribute("data-select") === "all";
      for (var i = 0; i < boxes.length; i++) {
        if (boxes[i].disabled) continue; // already imported
        if (!all) boxes[i].checked = false;
        else if (shown(i)) boxes[i].checked = true;
      }
      showCount();
    });
    list.addEventListener("change", showCount);

    var form = document.getElementById("repo-form");
    if (form && submit) {
      form.addEventListener("submit", function () {
        // The server is safe against a double submit; this only spares the wait.
        window.setTimeout(function () {
          submit.disabled = true;
          submit.textContent = "Starting the import…";
        }, 0);
      });
    }
    showCount();
  }

  // A list request that was redirected (the session expired: the sign-in page came back)
  // must not be swapped into the list: show that page instead.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var asked = event.detail.requestConfig && event.detail.requestConfig.path;
    if (xhr && asked && xhr.responseURL && xhr.responseURL.indexOf(asked) === -1) {
      event.detail.shouldSwap = false;
      window.location.assign(xhr.responseURL);
    }
  });

  if (window.htmx) {
    htmx.onLoad(setUp);
  } else {
    document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  }
})();
