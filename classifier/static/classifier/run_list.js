// The run list's table is replaced by each live refresh: keep the runs ticked for comparison ticked.
(function () {
  const box = document.getElementById("run-list-live");
  if (!box) return;
  const ticked = new Set();
  box.addEventListener("change", function (event) {
    const input = event.target;
    if (input.name !== "runs") return;
    if (input.checked) ticked.add(input.value); else ticked.delete(input.value);
  });
  box.addEventListener("live:refreshed", function () {
    box.querySelectorAll('input[name="runs"]').forEach(function (input) {
      input.checked = ticked.has(input.value);
    });
  });
})();
