// keywell console: refresh a key set's live part (timeline, keys, published JWKS) in place.
// The server answers 204 while the set's version is the one shown; every 30 s the part is
// fetched anyway so the "now" line moves. No inline script: the CSP allows this file only.
"use strict";
(function () {
  const POLL_MS = 1000;
  const REDRAW_MS = 30000;
  let lastDraw = Date.now();
  let stopped = false;

  async function poll() {
    const live = document.getElementById("live");
    if (!live || stopped) {
      return;
    }
    const force = Date.now() - lastDraw > REDRAW_MS;
    const version = force ? "-1" : live.dataset.version;
    const url = live.dataset.poll + "?version=" + encodeURIComponent(version);
    try {
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
        redirect: "error",
      });
      if (response.status === 401) {
        stopped = true; // the session ended: the next click goes to the login page
        return;
      }
      if (response.status === 200) {
        const text = await response.text();
        const parsed = new DOMParser().parseFromString(text, "text/html");
        const fresh = parsed.getElementById("live");
        if (fresh) {
          live.replaceWith(document.adoptNode(fresh));
          lastDraw = Date.now();
        }
      }
    } catch (error) {
      // a network hiccup: try again at the next tick
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.getElementById("live")) {
      window.setInterval(poll, POLL_MS);
    }
  });
})();
