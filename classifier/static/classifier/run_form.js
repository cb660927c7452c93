// The New run and fine-tune forms: blank fields show what they stand for with the chosen
// preset, and the estimated duration on the worker follows the fields as they change.
(function () {
  const form = document.getElementById("run-form");
  if (!form) return;
  const placeholders = document.getElementById("preset-placeholders");
  const perPreset = placeholders ? JSON.parse(placeholders.textContent) : null;

  function showPlaceholders() {
    if (!perPreset) return;
    const picked = form.querySelector('input[name="preset"]:checked');
    const values = picked && perPreset[picked.value];
    if (!values) return;
    Object.entries(values).forEach(function ([name, text]) {
      const field = form.elements[name];
      if (!field) return;
      if (field.tagName === "SELECT") {
        const blank = field.querySelector('option[value=""]');
        if (blank) blank.textContent = text;
      } else {
        field.placeholder = text;
      }
    });
  }

  let timer = null;
  let asked = 0;
  async function estimate() {
    const query = new URLSearchParams(new FormData(form));
    query.delete("csrfmiddlewaretoken");
    const mine = ++asked;
    try {
      const response = await fetch(form.dataset.estimateUrl + "?" + query, { credentials: "same-origin" });
      if (response.ok && mine === asked) document.getElementById("estimate").innerHTML = await response.text();
    } catch (err) {
      // Keep the last estimate; the next change asks again.
    }
  }

  form.addEventListener("input", function () {
    showPlaceholders();
    clearTimeout(timer);
    timer = setTimeout(estimate, 300);
  });
  form.addEventListener("change", function () {
    showPlaceholders();
    clearTimeout(timer);
    timer = setTimeout(estimate, 100);
  });
  showPlaceholders();
})();
