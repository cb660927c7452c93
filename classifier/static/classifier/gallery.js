// The gallery's review: click a photo and pick its class, or use the keyboard on a focused
// photo: 0-9 label it and move on, Enter accepts the prediction, arrows move, x selects it,
// u undoes the last change made in this tab. Ticked photos (shift-click ticks a range) are
// labelled at once by "Label selected". Every change is a POST the server records as a
// correction; cards are redrawn from the server's answer, so what you see is what was saved.
// While something on the page may change (a job, a photo being prepared) it asks the server
// every few seconds for the cards changed since its last answer, and swaps only those.
(function () {
  const box = document.getElementById("photo-live");
  if (!box) return;
  const status = document.getElementById("review-status");
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const UNDO_KEY = "fmnist.photoUndo";
  const bulkForm = document.getElementById("bulk-label");
  const bulkCount = document.getElementById("bulk-count");
  const selected = new Set();  // photo ids, kept across redraws
  let lastPicked = null;  // the photo id last ticked (cards may be redrawn since)
  let pending = 0;
  let saves = 0;  // changes sent so far: a live answer asked for before the latest one may be stale

  function say(text, isError) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  function undoStack() {
    try { return JSON.parse(sessionStorage.getItem(UNDO_KEY) || "[]"); } catch (e) { return []; }
  }
  function saveUndo(stack) { sessionStorage.setItem(UNDO_KEY, JSON.stringify(stack.slice(-200))); }

  function cards() { return Array.from(box.querySelectorAll(".photo-card")); }
  function cardFor(photoId) { return box.querySelector('.photo-card[data-photo-id="' + photoId + '"]'); }

  async function post(url, fields) {  // fields: an object, or a FormData (repeated names)
    let body = fields;
    if (!(fields instanceof FormData)) {
      body = new FormData();
      Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    }
    pending += 1;  // no live update swaps cards while a change is being saved
    saves += 1;
    try {
      const response = await fetch(url, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
      });
      let data = null;
      try { data = await response.json(); } catch (e) { /* not JSON: an error page */ }
      if (!response.ok || !data || !data.ok) {
        throw new Error((data && data.error) || ("The server answered " + response.status + "."));
      }
      return data;
    } finally {
      pending -= 1;
    }
  }

  // Put the server's card for a photo in place of the one shown, keeping focus and selection.
  function swap(photoId, html) {
    const old = cardFor(photoId);
    if (!old) return null;
    const holder = document.createElement("ul");
    holder.innerHTML = html.trim();
    const fresh = holder.firstElementChild;
    const hadFocus = old.contains(document.activeElement);
    const pick = fresh.querySelector(".pick");
    if (pick) pick.checked = selected.has(String(photoId));
    else selected.delete(String(photoId));
    old.replaceWith(fresh);
    if (hadFocus) fresh.focus({ preventScroll: true });
    return fresh;
  }
  function redraw(data) { return swap(data.id, data.card); }

  // --- selection and "Label selected" ---------------------------------------------------
  function picks() { return Array.from(box.querySelectorAll(".pick")); }
  function showCount() {
    if (!bulkCount) return;
    bulkCount.textContent = selected.size ? selected.size + " selected" :
      "Select photos (tick them; shift-click ticks a range, x ticks the focused one)";
  }
  function pick(checkbox, on) {
    checkbox.checked = on;
    if (on) selected.add(checkbox.value); else selected.delete(checkbox.value);
  }
  // A tick (by click or by x) with shift held sets every photo between it and the last one
  // ticked to the same state, as in a mail client.
  function picked(checkbox, shift) {
    const all = picks();
    const here = all.indexOf(checkbox);
    const from = all.findIndex(function (c) { return c.value === lastPicked; });
    if (shift && from !== -1) {
      const [lo, hi] = from < here ? [from, here] : [here, from];
      for (let i = lo; i <= hi; i++) pick(all[i], checkbox.checked);
    } else {
      pick(checkbox, checkbox.checked);
    }
    lastPicked = checkbox.value;
    showCount();
  }
  function clearSelection() {
    selected.clear();
    picks().forEach(function (c) { c.checked = false; });
    lastPicked = null;
    showCount();
  }

  if (bulkForm) {
    bulkForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!selected.size) { say("No photos selected: tick the photos to label first.", true); return; }
      const fields = new FormData(bulkForm);  // the class, source and next; the ticks are ours
      fields.delete("photo");
      selected.forEach(function (id) { fields.append("photo", id); });
      say("Labelling " + selected.size + " photos…");
      try {
        const data = await post(bulkForm.action, fields);
        clearSelection();
        Object.keys(data.cards).forEach(function (id) { swap(id, data.cards[id]); });
        const stack = undoStack();
        data.corrections.forEach(function (c) { stack.push(c); });
        saveUndo(stack);
        say(data.message, Object.keys(data.refused).length > 0);
      } catch (err) {
        say("Not labelled: " + err.message, true);
      }
    });
    const clear = document.getElementById("bulk-clear");
    if (clear) clear.addEventListener("click", clearSelection);
  }

  function move(card, step) {
    const all = cards();
    const next = all[all.indexOf(card) + step];
    if (next) { next.focus(); next.scrollIntoView({ block: "nearest" }); }
  }

  function columns() {
    const all = cards();
    if (!all.length) return 1;
    const top = all[0].offsetTop;
    const n = all.filter(function (c) { return c.offsetTop === top; }).length;
    return Math.max(1, n);
  }

  async function setLabel(card, label, source) {
    const photoId = card.dataset.photoId;
    say("Saving photo #" + photoId + "…");
    try {
      const data = await post(card.dataset.labelUrl, { label: label, source: source });
      redraw(data);
      if (data.correction) {
        const stack = undoStack();
        stack.push(data.correction);
        saveUndo(stack);
        say("Photo #" + data.id + " labelled " + (data.label_name || "—") + ".");
      } else {
        say("Photo #" + data.id + " already had that label.");
      }
      return true;
    } catch (err) {
      say("Photo #" + photoId + " was not changed: " + err.message, true);
      return false;
    }
  }

  async function undo() {
    const stack = undoStack();
    const correctionId = stack.pop();
    if (correctionId === undefined) { say("Nothing to undo."); return; }
    saveUndo(stack);
    try {
      const url = box.dataset.revertUrl.replace("/0/", "/" + correctionId + "/");
      const data = await post(url, { source: "undo (keyboard)" });
      const card = redraw(data);
      if (card) card.focus();
      say("Undone: photo #" + data.id + " is " + (data.label_name || "unlabelled") + " again.");
    } catch (err) {
      say("Could not undo: " + err.message, true);
    }
  }

  box.addEventListener("keydown", function (event) {
    const card = event.target.closest && event.target.closest(".photo-card");
    if (!card || event.target !== card || event.altKey || event.ctrlKey || event.metaKey) return;
    const key = event.key;
    if (/^[0-9]$/.test(key)) {
      event.preventDefault();
      setLabel(card, key, "keyboard");
      move(card, 1);
    } else if (key === "Enter") {
      event.preventDefault();
      if (card.dataset.predicted === "") { say("Photo #" + card.dataset.photoId + " has no prediction yet.", true); return; }
      setLabel(card, "prediction", "keyboard (accept)");
      move(card, 1);
    } else if (key === "ArrowRight") { event.preventDefault(); move(card, 1); }
    else if (key === "ArrowLeft") { event.preventDefault(); move(card, -1); }
    else if (key === "ArrowDown") { event.preventDefault(); move(card, columns()); }
    else if (key === "ArrowUp") { event.preventDefault(); move(card, -columns()); }
    else if (key === "u" || key === "U") { event.preventDefault(); undo(); }
    else if (key === "x" || key === "X") {
      const checkbox = card.querySelector(".pick");
      if (!checkbox) { say("Photo #" + card.dataset.photoId + " is not ready to label yet.", true); return; }
      event.preventDefault();
      checkbox.checked = !checkbox.checked;
      picked(checkbox, event.shiftKey);
    }
  });

  // Outside the grid (and not typing in a field): u still undoes, and an arrow key starts the
  // review at the first photo.
  document.addEventListener("keydown", function (event) {
    if (box.contains(event.target) || /^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(event.target.tagName)
        || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "u" || event.key === "U") {
      undo();
    } else if (/^Arrow/.test(event.key) && cards().length) {
      event.preventDefault();
      cards()[0].focus();
    }
  });

  // Clicking a photo focuses its card and opens the class list; picking a class saves it.
  box.addEventListener("click", function (event) {
    if (event.target.matches(".pick")) { picked(event.target, event.shiftKey); return; }
    if (event.target.closest("a")) return;
    const card = event.target.closest(".photo-card");
    if (!card) return;
    if (event.target.matches("img")) {
      card.focus();
      const select = card.querySelector(".label-select");
      if (select) { select.focus(); if (select.showPicker) { try { select.showPicker(); } catch (e) { /* needs a user gesture */ } } }
    }
  });
  box.addEventListener("change", function (event) {
    if (!event.target.matches(".label-select")) return;
    const card = event.target.closest(".photo-card");
    setLabel(card, event.target.value, "gallery").then(function () {
      const fresh = cardFor(card.dataset.photoId);
      if (fresh) fresh.focus();
    });
  });
  box.addEventListener("submit", function (event) {
    if (event.target.matches(".label-form")) event.preventDefault();
  });

  // --- live updates: only the cards that changed ----------------------------------------
  const changesUrl = box.dataset.changesUrl;
  const pollMs = parseInt(box.dataset.pollMs || "2000", 10);
  let since = box.dataset.since;
  function jobsActive() {
    const jobs = document.getElementById("gallery-jobs");
    return jobs && jobs.dataset.active === "1";
  }
  async function poll() {
    let active = true;
    const asked = saves;
    if (pending === 0) {  // a change being saved answers with its own card; ask again next time
      try {
        const ids = cards().map(function (c) { return c.dataset.photoId; }).join(",");
        const response = await fetch(changesUrl + "&since=" + encodeURIComponent(since) + "&ids=" + ids,
                                     { credentials: "same-origin", headers: { "Accept": "application/json" } });
        // An answer made before a change of ours was saved would undo it on the screen: drop it,
        // keeping `since`, so the next answer brings those cards as they are now.
        if (response.ok && pending === 0 && asked === saves) {
          const data = await response.json();
          since = data.since;
          const jobs = document.getElementById("gallery-jobs");
          if (jobs) jobs.outerHTML = data.jobs;
          Object.keys(data.cards).forEach(function (id) { swap(id, data.cards[id]); });
          active = data.active;
          box.dispatchEvent(new CustomEvent("live:refreshed", { bubbles: true }));
        }
      } catch (err) {
        // Network hiccup: keep the last view and try again at the next tick.
      }
    }
    if (active) setTimeout(poll, pollMs);
  }
  if (changesUrl && jobsActive()) setTimeout(poll, pollMs);

  box.dataset.reviewReady = "true";  // the keys work from here on
})();
