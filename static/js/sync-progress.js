/* The live progress page: versions, the connection indicator, announcements, countdowns.
 *
 * htmx and its ws extension do the socket and the swaps; this file only
 * - refuses a fragment older than the one on the page (messages may arrive out of order),
 * - shows whether the socket is connected, reconnecting, or closed for good,
 * - tells screen readers when the job's status changes,
 * - counts down to a rate-limit reset or a retry, in the viewer's local time,
 * - keeps keyboard focus (and so the scroll position) on the control it was on when a live
 *   update replaces the fragment around it.
 * It never polls the server.
 */
(function () {
  "use strict";

  var RETRIED_CLOSE_CODES = [1006, 1011, 1012, 1013]; // what htmx-ext-ws reconnects on
  var RECONNECT_NOW = 4012; // the server's "reconnect now" (a day-old socket, a lost feed)
  var REFUSED = 4403;
  var SIGNED_OUT = 4401; // signed out, or no longer in the organization on GitHub
  var TOO_MANY_SOCKETS = 4409; // this browser holds too many live pages of this site
  var reconnects = 0;
  var wasOpen = false;
  var live = false; // this connection has delivered its snapshot
  var lastAnnouncement = null;

  // Reconnect with full jitter, capped at 30 s (the extension's default grows to 64 s).
  function reconnectDelay(retryCount) {
    return 250 + Math.random() * Math.min(30000, 500 * Math.pow(2, retryCount));
  }
  htmx.config.wsReconnectDelay = reconnectDelay;

  function versionOf(element) {
    var value = element && element.getAttribute("data-version");
    return value === null || value === undefined ? null : Number(value);
  }

  var refocus = null; // the id of the focused control inside a fragment being replaced

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var incoming = event.detail.fragment && event.detail.fragment.firstElementChild;
    var current = versionOf(event.detail.target);
    var next = versionOf(incoming);
    if (current !== null && next !== null && next < current) {
      event.detail.shouldSwap = false;
      return;
    }
    var focused = document.activeElement;
    if (focused && focused.id && event.detail.target.contains(focused)) {
      refocus = focused.id;
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    if (refocus === null) return;
    var again = document.getElementById(refocus);
    refocus = null;
    if (again) again.focus({ preventScroll: true });
  });

  function setConnection(state, text) {
    var indicator = document.getElementById("sync-connection");
    if (!indicator) return;
    indicator.setAttribute("data-state", state);
    indicator.querySelector(".connection-text").textContent = text;
  }

  document.addEventListener("htmx:wsConnecting", function () {
    setConnection(wasOpen ? "reconnecting" : "connecting", wasOpen ? "Reconnecting…" : "Connecting…");
  });
  document.addEventListener("htmx:wsOpen", function () {
    wasOpen = true;
  });
  // Live once the snapshot arrived: a socket the server accepts and closes at once (its Redis
  // is restarting) is not a connection, and must not reset the reconnect backoff.
  document.addEventListener("htmx:wsAfterMessage", function () {
    if (live) return;
    live = true;
    reconnects = 0;
    setConnection("connected", "Live");
  });
  document.addEventListener("htmx:wsClose", function (event) {
    var code = event.detail.event.code;
    live = false;
    if (RETRIED_CLOSE_CODES.indexOf(code) >= 0) {
      setConnection("reconnecting", "Reconnecting…");
    } else if (code === RECONNECT_NOW) {
      setConnection("reconnecting", "Reconnecting…");
      setTimeout(event.detail.socketWrapper.reconnect, reconnectDelay(reconnects++));
    } else if (code === SIGNED_OUT) {
      setConnection("closed", "You were signed out, or no longer have access to this team. Sign in again.");
    } else if (code === TOO_MANY_SOCKETS) {
      setConnection("closed", "Too many live pages of this site are open. Close some, then refresh this one.");
    } else if (code === REFUSED) {
      setConnection("closed", "You no longer have access to this import. Refresh the page.");
    } else {
      setConnection("closed", "Live updates stopped. Refresh the page to see the latest state.");
    }
  });

  function announce() {
    var status = document.getElementById("sync-status");
    var region = document.getElementById("sync-announcer");
    if (!status || !region) return;
    var text = status.getAttribute("data-announce");
    if (lastAnnouncement !== null && text !== lastAnnouncement) {
      region.textContent = text;
    }
    lastAnnouncement = text;
  }

  function pad(number) {
    return number < 10 ? "0" + number : String(number);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (element) {
      var left = Math.max(0, Math.round((Date.parse(element.getAttribute("data-countdown")) - now) / 1000));
      // At zero the next try is under way: the row changes as soon as it has an outcome.
      element.textContent = left <= 0 ? "now" : left >= 60 ? "in " + Math.floor(left / 60) + ":" + pad(left % 60) + " min" : "in " + left + " s";
    });
  }

  function localizeTimes() {
    document.querySelectorAll("time[data-local-time]").forEach(function (element) {
      var moment = new Date(element.getAttribute("datetime"));
      element.textContent = moment.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    });
  }

  function refresh() {
    announce();
    localizeTimes();
    tick();
  }

  document.addEventListener("htmx:wsAfterMessage", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
  setInterval(tick, 1000);
})();
