/* The team overview, live over its team socket (htmx's ws extension swaps the fragments by id;
 * static/js/sync-progress.js keeps data-version fragments in order and shows the connection).
 * This file orders the imports fragment, which carries its job and that job's version: a newer
 * job wins, and within a job a newer version. Nothing here polls. */
(function () {
  "use strict";

  // The connection indicator means something only where the socket runs: with this script.
  var liveState = document.getElementById("overview-live-state");
  if (liveState) liveState.hidden = false;

  function order(element) {
    if (!element || !element.hasAttribute("data-job-id")) return null;
    return [Number(element.getAttribute("data-job-id")), Number(element.getAttribute("data-job-version"))];
  }

  // Fragments pushed over the socket are rendered without a request, so their plain forms
  // carry no CSRF field: give them the page's token (htmx posts send it as a header).
  var token = null;
  try {
    token = JSON.parse(document.querySelector("[hx-headers]").getAttribute("hx-headers"))["X-CSRFToken"];
  } catch (error) {
    token = null;
  }
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (!token) return;
    document.querySelectorAll("form[method=post]").forEach(function (form) {
      if (form.querySelector("input[name=csrfmiddlewaretoken]")) return;
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = "csrfmiddlewaretoken";
      field.value = token;
      form.appendChild(field);
    });
  });

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var current = order(event.detail.target);
    var next = order(event.detail.fragment && event.detail.fragment.firstElementChild);
    if (current === null || next === null) return;
    if (next[0] < current[0] || (next[0] === current[0] && next[1] < current[1])) {
      event.detail.shouldSwap = false;
    }
  });
})();
