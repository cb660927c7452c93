// A photo's page. Previous/next in the gallery view it was opened from: the links, or the keys
// left/right arrows and k/j (the page's links carry the view's filter and order).
(function () {
  document.addEventListener("keydown", function (event) {
    if (/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(event.target.tagName) || event.target.isContentEditable ||
        event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return;
    const id = { ArrowLeft: "photo-previous", k: "photo-previous", ArrowRight: "photo-next", j: "photo-next" }[event.key];
    const link = id && document.getElementById(id);
    if (!link) return;
    event.preventDefault();
    window.location.assign(link.href);
  });
})();

// A possibly mislabelled photo's page: one key settles it. c: the label is right (recorded as a
// confirmation in the history), s: it is the suspected class, 0-9: another class. Each is the
// same POST the buttons send; the page reloads from the server, so what you see was saved.
(function () {
  const box = document.getElementById("photo-suspicion");
  if (!box) return;
  const status = document.getElementById("suspect-status");
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const suspected = (box.querySelector("input[name=label]") || {}).value;
  let busy = false;

  async function send(url, fields) {
    if (busy) return;
    busy = true;
    const body = new FormData();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    status.textContent = "Saving…";
    try {
      const response = await fetch(url, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
      });
      let data = null;
      try { data = await response.json(); } catch (e) { /* an error page */ }
      if (!response.ok || !data || !data.ok) throw new Error((data && data.error) || ("The server answered " + response.status + "."));
      window.location.reload();
    } catch (err) {
      status.textContent = "Not saved: " + err.message;
      busy = false;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (/^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(event.target.tagName) || event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key === "c" || key === "C") {
      event.preventDefault();
      send(box.dataset.confirmUrl, { source: "photo page (confirm key)" });
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      send(box.dataset.labelUrl, { label: suspected, source: "photo page (possibly mislabelled, key)" });
    } else if (/^[0-9]$/.test(key)) {
      event.preventDefault();
      send(box.dataset.labelUrl, { label: key, source: "photo page (possibly mislabelled, key)" });
    }
  });
  box.dataset.keysReady = "true";
})();
