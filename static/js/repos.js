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

    var hiddenNote = body.querySelector("#repo-hidden");
    var hiddenCount = body.querySelector("#repo-hidden-count");
    var hiddenNames = body.querySelector("#repo-hidden-names");
    var SHOWN_NAMES = 5;

    function number(n) {
      return n.toLocaleString("en-US");
    }

    function repositories(n) {
      return number(n) + (n === 1 ? " repository" : " repositories");
    }

    // What is chosen, including rows the filter or the archived toggle hides: those are
    // imported too, so the count, the note and the button all say so.
    function showCount() {
      var n = 0;
      var hidden = [];
      for (var i = 0; i < boxes.length; i++) {
        if (!boxes[i].checked || boxes[i].disabled) continue;
        n++;
        if (!shown(i)) hidden.push(i);
      }
      if (count) {
        count.textContent = number(n) + " selected" + (hidden.length ? ", " + number(hidden.length) + " of them hidden" : "");
      }
      if (hiddenNote) {
        hiddenNote.hidden = hidden.length === 0;
        if (hidden.length) {
          hiddenCount.textContent = number(hidden.length) + " hidden selected:";
          var names = hidden.slice(0, SHOWN_NAMES).map(function (i) { return rows[i].querySelector(".pick-name").textContent; });
          var more = hidden.length - names.length;
          hiddenNames.textContent = names.join(", ") + (more ? " and " + number(more) + " more" : "") + ". They will be imported too.";
        }
      }
      if (submit) {
        submit.disabled = n === 0;
        submit.textContent = n === 0 ? "Choose at least one repository"
          : "Import " + repositories(n) + (hidden.length ? ", including " + number(hidden.length) + " hidden" : "");
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
      showCount();
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

    body.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-select]") : null;
      if (!button) return;
      var which = button.getAttribute("data-select"); // all (shown), none, hidden-none
      for (var i = 0; i < boxes.length; i++) {
        if (boxes[i].disabled) continue; // already imported
        if (which === "all") {
          if (shown(i)) boxes[i].checked = true;
        } else if (which === "none" || !shown(i)) {
          boxes[i].checked = false;
        }
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
          submit.setAttribute("aria-busy", "true");
          submit.textContent = "Starting the import…";
        }, 0);
      });
    }
    // Back to this page from the progress page: the browser's page cache kept the busy button.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted || !submit) return;
      submit.removeAttribute("aria-busy");
      showCount();
    });
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
