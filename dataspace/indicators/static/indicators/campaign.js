/* A running campaign's page keeps itself up to date: every few seconds it reads itself again, swaps
   the progress section in place (announced politely to screen readers) and reloads the whole page
   once the campaign's state changes (the results appear). Without JavaScript, a meta refresh does it. */
(function () {
  "use strict";
  var page = document.querySelector("[data-refresh]");
  if (!page || !window.fetch || !window.DOMParser) {
    return;
  }
  var delay = (Number(page.getAttribute("data-refresh")) || 2) * 1000;
  var state = page.getAttribute("data-campaign-state");

  function later(wait) {
    window.setTimeout(tick, wait);
  }

  function tick() {
    window.fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var next = new window.DOMParser().parseFromString(html, "text/html");
        var nextPage = next.querySelector("[data-campaign-state]");
        if (!nextPage || nextPage.getAttribute("data-campaign-state") !== state) {
          window.location.reload();
          return;
        }
        var current = document.getElementById("progression");
        var fresh = next.getElementById("progression");
        if (current && fresh && current.innerHTML !== fresh.innerHTML) {
          current.innerHTML = fresh.innerHTML;
        }
        later(delay);
      })
      .catch(function () {
        later(delay * 2);
      });
  }

  later(delay);
})();
