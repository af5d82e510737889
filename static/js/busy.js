/* Loading states for anything that waits on GitHub behind a full page load.
 *
 * A form with data-busy="Choosing acme…" shows a spinner and those words on the button that
 * sent it, and refuses a second press; a link with data-busy does the same for itself. The
 * server is safe against a double submit; this only tells the user something is happening.
 * Going Back to the page (the browser's page cache) puts the controls back as they were.
 */
(function () {
  "use strict";

  var busy = [];

  function markBusy(control, words) {
    if (!control || control.getAttribute("aria-busy") === "true") return;
    busy.push({ control: control, text: control.textContent });
    control.setAttribute("aria-busy", "true");
    if (words) control.textContent = words;
    if (control.tagName === "A") control.setAttribute("aria-disabled", "true");
    // After the submit has read the button's name and value: a disabled one sends neither.
    else window.setTimeout(function () { control.disabled = true; }, 0);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.hasAttribute || !form.hasAttribute("data-busy")) return;
    var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
    markBusy(button, form.getAttribute("data-busy"));
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a[data-busy]") : null;
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    if (link.getAttribute("aria-busy") === "true") {
      event.preventDefault();
      return;
    }
    markBusy(link, link.getAttribute("data-busy"));
  });

  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    busy.forEach(function (each) {
      each.control.removeAttribute("aria-busy");
      each.control.removeAttribute("aria-disabled");
      each.control.disabled = false;
      each.control.textContent = each.text;
    });
    busy = [];
  });
})();
