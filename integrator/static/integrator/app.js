/* The integrator's small behaviours: keyboard shortcuts, charts from embedded JSON, htmx CSRF.
 * No inline scripts in templates: data arrives through Django's json_script elements. */
(function () {
  "use strict";

  // "/" focuses the global search from anywhere but a form field; Escape leaves it.
  document.addEventListener("keydown", function (event) {
    const tag = (event.target.tagName || "").toLowerCase();
    const typing = tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable;
    const search = document.getElementById("global-search");
    if (event.key === "/" && !typing && search) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === "Escape" && event.target === search) {
      search.blur();
    }
  });

  // Filter bars submit when a drop-down or date changes (the button stays for keyboard users).
  document.addEventListener("change", function (event) {
    const form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.matches("select, input[type=date]")) {
      form.requestSubmit ? form.requestSubmit() : form.submit();
    }
  });

  // Search boxes driven by htmx: pressing Enter must not reload the page (no inline handlers: CSP).
  document.addEventListener("submit", function (event) {
    if (event.target.matches("form[data-no-submit]")) { event.preventDefault(); }
  });

  // htmx requests carry the CSRF token from the page's <meta>.
  document.addEventListener("htmx:configRequest", function (event) {
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRFToken"] = meta.content; }
  });

  const palette = { brand: "#b4541c", brandSoft: "rgba(180, 84, 28, .18)", ok: "#17734a", okSoft: "rgba(23, 115, 74, .15)",
    muted: "#677384", grid: "#eef1f4",
    series: ["#b4541c", "#1d4ed8", "#17734a", "#a15c07", "#7c3aed", "#b42318", "#0e7490", "#4b5563"] };

  function readJSON(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function baseOptions(extra) {
    return Object.assign({
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false }, tooltip: { mode: "index", intersect: false } },
      scales: {
        x: { grid: { display: false }, ticks: { color: palette.muted, maxRotation: 0, autoSkipPadding: 12 } },
        y: { beginAtZero: true, grid: { color: palette.grid }, ticks: { color: palette.muted, maxTicksLimit: 5 } },
      },
    }, extra || {});
  }

  const builders = {
    // Sales (bars) against what is already in the ledger (line), one channel, one currency.
    salesPosted: function (canvas, data) {
      return new Chart(canvas, {
        type: "bar",
        data: { labels: data.labels, datasets: [
          { type: "bar", label: "Sales " + data.currency, data: data.sales, backgroundColor: palette.brandSoft,
            borderColor: palette.brand, borderWidth: 1, borderRadius: 3 },
          { type: "line", label: "Posted " + data.currency, data: data.posted, borderColor: palette.ok,
            backgroundColor: palette.ok, pointRadius: 0, borderWidth: 2, tension: .25 },
        ] },
        options: baseOptions(),
      });
    },
    // Hours between now and the oldest transaction not yet in the ledger, per channel.
    lag: function (canvas, data) {
      return new Chart(canvas, {
        type: "bar",
        data: { labels: data.labels, datasets: [{ label: "Hours behind", data: data.hours,
          backgroundColor: data.hours.map(function (h) { return h > 24 ? "#b42318" : h > 2 ? "#a15c07" : "#17734a"; }),
          borderRadius: 4 }] },
        options: baseOptions({ indexAxis: "y", scales: {
          x: { beginAtZero: true, grid: { color: palette.grid }, ticks: { color: palette.muted },
               title: { display: true, text: "hours behind", color: palette.muted } },
          y: { grid: { display: false }, ticks: { color: palette.muted } } } }),
      });
    },
    // Open exceptions by kind.
    exceptions: function (canvas, data) {
      return new Chart(canvas, {
        type: "doughnut",
        data: { labels: data.labels, datasets: [{ data: data.counts, backgroundColor: palette.series, borderWidth: 0 }] },
        options: { responsive: true, maintainAspectRatio: false, animation: false, cutout: "62%",
          plugins: { legend: { position: "right", labels: { boxWidth: 10, color: "#3d4856" } } } },
      });
    },
  };

  function drawCharts(root) {
    if (typeof Chart === "undefined") { return; }
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      const build = builders[canvas.dataset.chart];
      const data = readJSON(canvas.dataset.source);
      if (build && data) { build(canvas, data); canvas.dataset.drawn = "1"; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawCharts(event.target); });
})();
