// The gallery's review: click a photo and pick its class, or use the keyboard on a focused
// photo: 0-9 label it and move on, Enter accepts the prediction, arrows move, u undoes the
// last change made in this tab. Every change is a POST the server records as a correction;
// the card is redrawn from the server's answer, so what you see is what was saved.
(function () {
  const box = document.getElementById("photo-live");
  if (!box) return;
  const status = document.getElementById("review-status");
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const UNDO_KEY = "fmnist.photoUndo";
  let pending = 0;

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

  async function post(url, fields) {
    const body = new FormData();
    Object.keys(fields).forEach(function (k) { body.append(k, fields[k]); });
    pending += 1;
    box.dataset.liveHold = "1";  // no live refresh may overwrite a card while it is being saved
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
      if (pending === 0) delete box.dataset.liveHold;
    }
  }

  function redraw(data) {
    const old = cardFor(data.id);
    if (!old) return null;
    const holder = document.createElement("ul");
    holder.innerHTML = data.card.trim();
    const fresh = holder.firstElementChild;
    const hadFocus = old.contains(document.activeElement);
    old.replaceWith(fresh);
    if (hadFocus) fresh.focus();
    return fresh;
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

  // A live refresh replaces the grid; keep the focus on the same photo.
  let focusedId = null;
  box.addEventListener("focusin", function (event) {
    const card = event.target.closest(".photo-card");
    focusedId = card ? card.dataset.photoId : null;
  });
  box.addEventListener("focusout", function (event) {
    if (event.relatedTarget && !box.contains(event.relatedTarget)) focusedId = null;
  });
  box.addEventListener("live:refreshed", function () {
    const card = focusedId && cardFor(focusedId);
    if (card) card.focus({ preventScroll: true });
  });
  box.dataset.reviewReady = "true";  // the keys work from here on
})();
