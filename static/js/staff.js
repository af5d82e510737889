/* The staff pages' live parts, on top of sync-progress.js (versions, connection, countdowns).
 *
 * - A job the page has no row for yet (it just started) joins the top of the imports list.
 * - A team's "latest import" cell shows the newest job's newest state: an update for an older
 *   job, or an older version of the same job, never replaces it (data-job, data-job-version).
 * It never polls the server.
 */
(function () {
  "use strict";

  var JOB_ROW = /^staff-sync-job-\d+$/;
  var MAX_ROWS = 300; // a page left open for days keeps a bounded list

  function order(element) {
    if (!element || !element.hasAttribute || !element.hasAttribute("data-job")) return null;
    return [Number(element.getAttribute("data-job")), Number(element.getAttribute("data-job-version"))];
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var current = order(event.detail.target);
    var incoming = order(event.detail.fragment && event.detail.fragment.firstElementChild);
    if (!current || !incoming) return;
    if (incoming[0] < current[0] || (incoming[0] === current[0] && incoming[1] < current[1])) {
      event.detail.shouldSwap = false;
    }
  });

  document.addEventListener("htmx:oobErrorNoTarget", function (event) {
    var row = event.detail.content;
    var list = document.getElementById("staff-sync-jobs");
    if (!list || !row || !JOB_ROW.test(row.id || "")) return;
    list.insertBefore(row, list.firstElementChild);
    while (list.children.length > MAX_ROWS) list.removeChild(list.lastElementChild);
  });
})();
