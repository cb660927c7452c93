// Refreshes the live parts of a page (a run's status, progress, epochs and curves; a report
// being made) by fetching each one's server-rendered fragment every few seconds, until the
// fragment says it is finished. A live part is any element with data-live-url.
(function () {
  function follow(box) {
    const url = box.dataset.liveUrl;
    const pollMs = parseInt(box.dataset.pollMs || "2000", 10);

    function isActive() {
      const live = box.querySelector(".live");
      return live && live.dataset.active === "1";
    }

    async function refresh() {
      try {
        const response = await fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
        if (response.ok) {
          box.innerHTML = await response.text();
        }
      } catch (err) {
        // Network hiccup: keep the last view and try again at the next tick.
      }
      if (isActive()) setTimeout(refresh, pollMs);
    }

    if (isActive()) setTimeout(refresh, pollMs);
  }

  document.querySelectorAll("[data-live-url]").forEach(follow);
})();
