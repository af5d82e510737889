/* The team overview: when the import shown live there finishes, load the overview again so
 * its repository counts and "last sync" include what was just imported. The socket said so;
 * nothing here polls. */
(function () {
  "use strict";
  var FINISHED = ["succeeded", "partial", "failed", "cancelled"];
  var section = document.querySelector("[data-testid=current-job]");
  if (!section || !window.MutationObserver) return;
  new MutationObserver(function () {
    var status = section.querySelector("#sync-status");
    var value = status ? (status.getAttribute("data-status") || "").split(" ")[0] : "";
    if (FINISHED.indexOf(value) !== -1) window.location.reload();
  }).observe(section, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
})();
