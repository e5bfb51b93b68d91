/* Setup screens: copy buttons and "select all" boxes. No inline scripts or handlers in templates
 * (a strict Content-Security-Policy forbids them): behaviour hangs off data- attributes.
 *   <button type="button" data-copy="ID">Copy</button> copies the value (or text) of #ID;
 *   <input type="checkbox" data-select-all="NAME"> ticks every checkbox named NAME in its form. */
(function () {
  "use strict";

  function flash(button) {
    const label = button.textContent;
    button.textContent = "Copied";
    button.setAttribute("data-copied", "1");
    window.setTimeout(function () { button.textContent = label; button.removeAttribute("data-copied"); }, 1500);
  }

  function copyFallback(source) {
    // Clipboard API needs a secure context (https or localhost); select and copy otherwise.
    if (typeof source.select === "function") { source.focus(); source.select(); }
    try { return document.execCommand("copy"); } catch (error) { return false; }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) { return; }
    const source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    const text = "value" in source ? source.value : source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { flash(button); },
        function () { if (copyFallback(source)) { flash(button); } });
    } else if (copyFallback(source)) {
      flash(button);
    }
  });

  document.addEventListener("change", function (event) {
    const all = event.target.closest("[data-select-all]");
    if (!all || !all.form) { return; }
    all.form.querySelectorAll('input[type=checkbox][name="' + all.getAttribute("data-select-all") + '"]')
      .forEach(function (box) { box.checked = all.checked; });
  });
})();
