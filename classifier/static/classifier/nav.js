// The top bar's menu button on narrow screens: it shows and hides the menu (the CSS collapses
// the menu only once this script has marked the bar, so without scripts the menu stays open).
(function () {
  const bar = document.getElementById("topbar");
  const button = document.getElementById("menu-toggle");
  const menu = document.getElementById("site-menu");
  if (!bar || !button || !menu) return;
  function set(open) {
    bar.classList.toggle("menu-open", open);
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  bar.classList.add("collapsible");
  button.hidden = false;
  button.addEventListener("click", function () { set(!bar.classList.contains("menu-open")); });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && bar.classList.contains("menu-open")) {
      set(false);
      button.focus();
    }
  });
})();
