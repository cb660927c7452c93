// Drag-and-drop or pick photos; each file goes up in its own request, with its own progress
// bar and its own answer from the server (which alone decides what is a photo).
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const zone = document.getElementById("drop-zone");
  const input = document.getElementById("photo-input");
  const list = document.getElementById("upload-list");
  const note = document.getElementById("upload-note");
  const url = form.dataset.uploadUrl;
  const maxBytes = parseInt(form.dataset.maxBytes, 10);
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const PARALLEL = 2;
  const queue = [];
  let running = 0;

  function row(file) {
    const li = document.createElement("li");
    li.className = "upload-item waiting";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    const bar = document.createElement("div");
    bar.className = "bar small";
    bar.setAttribute("role", "progressbar");
    bar.appendChild(document.createElement("div"));
    bar.firstChild.style.width = "0%";
    const result = document.createElement("span");
    result.className = "result muted";
    result.textContent = "waiting";
    li.append(name, bar, result);
    list.appendChild(li);
    return { li: li, bar: bar, result: result };
  }

  function finish(item, ok, text, link) {
    item.li.className = "upload-item " + (ok ? "done" : "failed");
    item.bar.firstChild.style.width = "100%";
    item.result.className = "result" + (ok ? "" : " error");
    item.result.textContent = text;
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      item.result.append(" ", a);
    }
  }

  function send(job) {
    running += 1;
    const item = job.item;
    item.li.className = "upload-item sending";
    item.result.textContent = "uploading…";
    const body = new FormData();
    body.append("photo", job.file, job.file.name);
    // The batch key, source and tags go with every file: the photos of one visit share a batch.
    ["batch", "source", "tags"].forEach(function (field) {
      const input = form.querySelector("[name=" + field + "]");
      if (input) body.append(field, input.value);
    });
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) item.bar.firstChild.style.width = Math.round(100 * e.loaded / e.total) + "%";
    };
    xhr.onload = function () {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { /* an error page */ }
      if (data && data.ok) {
        finish(item, true, "stored as", { href: data.url, text: "photo #" + data.id });
        if (data.prediction) note.textContent = data.prediction;
      } else if (data && data.error) {
        finish(item, false, data.error.indexOf(job.file.name) === 0 ? data.error : job.file.name + " " + data.error,
               data.url ? { href: data.url, text: "see it" } : null);
      } else {
        finish(item, false, job.file.name + " was not stored: the server answered " + xhr.status + ".");
      }
      done();
    };
    xhr.onerror = function () { finish(item, false, job.file.name + " was not stored: the connection failed."); done(); };
    xhr.send(body);
  }

  function done() { running -= 1; pump(); }
  function pump() { while (running < PARALLEL && queue.length) send(queue.shift()); }

  function add(files) {
    Array.from(files).forEach(function (file) {
      const item = row(file);
      if (file.size > maxBytes) {
        finish(item, false, file.name + " is too large: " + (file.size / 1048576).toFixed(1) + " MB, the limit is " + Math.round(maxBytes / 1048576) + " MB");
        return;
      }
      queue.push({ file: file, item: item });
    });
    pump();
  }

  // The camera's input (capture="environment") feeds the same queue as the file picker.
  const inputs = [input, document.getElementById("camera-input")].filter(Boolean);
  inputs.forEach(function (each) {
    each.addEventListener("change", function () { add(each.files); each.value = ""; });
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (e) { if (e.dataTransfer && e.dataTransfer.files) add(e.dataTransfer.files); });
  zone.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  // On a slow connection someone may pick files before this script has loaded; their change
  // event is gone, but the files are still in the input.
  inputs.forEach(function (each) { if (each.files && each.files.length) { add(each.files); each.value = ""; } });
  form.dataset.ready = "true";
})();
