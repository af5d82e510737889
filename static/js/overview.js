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

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var current = order(event.detail.target);
    var next = order(event.detail.fragment && event.detail.fragment.firstElementChild);
    if (current === null || next === null) return;
    if (next[0] < current[0] || (next[0] === current[0] && next[1] < current[1])) {
      event.detail.shouldSwap = false;
    }
  });
})();
