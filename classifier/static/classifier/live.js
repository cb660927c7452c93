// Refreshes the live part of a page (a run's status, progress, epochs, curves; a gallery while
// its photos are predicted) by fetching its server-rendered fragment every few seconds, until
// the fragment says it is finished. Any element with data-live-url is such a part. A page's
// own script may set data-live-hold="1" on it to skip a refresh (say, while it saves a
// change), and hears "live:refreshed" after each one. A message about the page's job that
// no longer holds ("queued", "cancel requested") goes once the job has moved on.
(function () {
  function dropStaleMessages() {
    const live = document.querySelector("[data-live-url] .live[data-status]");
    if (!live) return;
    const status = live.dataset.status;
    if (status !== "queued") document.querySelectorAll(".message.while-queued").forEach((m) => m.remove());
    if (status !== "queued" && status !== "running") {
      document.querySelectorAll(".message.while-active").forEach((m) => m.remove());
    }
  }
  dropStaleMessages();
  document.addEventListener("live:refreshed", dropStaleMessages);

  document.querySelectorAll("[data-live-url]").forEach(function (box) {
    const url = box.dataset.liveUrl;
    const pollMs = parseInt(box.dataset.pollMs || "2000", 10);

    function isActive() {
      const live = box.querySelector(".live");
      return live && live.dataset.active === "1";
    }

    async function refresh() {
      try {
        const response = await fetch(url, { headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" });
        if (response.ok && box.dataset.liveHold !== "1") {
          box.innerHTML = await response.text();
          box.dispatchEvent(new CustomEvent("live:refreshed", { bubbles: true }));
        }
      } catch (err) {
        // Network hiccup: keep the last view and try again at the next tick.
      }
      if (isActive() || box.dataset.liveHold === "1") setTimeout(refresh, pollMs);
    }

    if (isActive()) setTimeout(refresh, pollMs);
  });
})();
