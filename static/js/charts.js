// Shared chart helpers over the vendored uPlot (static/vendor/uPlot-*.iife.min.js): line charts that
// follow their container's width, and TensorBoard's debiased EMA smoothing. No inline script anywhere:
// pages pass labels through data-* attributes.
(function () {
  const PALETTE = ["#3b5bdb", "#e67700", "#2b8a3e", "#c92a2a", "#7048e8", "#0b7285", "#d6336c", "#5c940d", "#495057", "#f08c00"];

  // TensorBoard's smoothing: an exponential moving average, debiased so the first points are not pulled
  // towards zero. weight 0 returns the values unchanged; null (a missing point) stays null.
  function ema(values, weight) {
    let last = 0, n = 0;
    return values.map(v => {
      if (v === null || v === undefined || !Number.isFinite(v)) return null;
      if (weight <= 0) return v;
      n += 1;
      last = last * weight + (1 - weight) * v;
      return last / (1 - Math.pow(weight, n));
    });
  }

  // Steps are integers: ticks at 1, 2, 5, 10, 20, 50... never at 1.5.
  const STEP_INCRS = [];
  for (let k = 1; k <= 1e7; k *= 10) STEP_INCRS.push(k, 2 * k, 5 * k);

  function width(el) { return Math.max(240, el.clientWidth || 600); }

  // A line chart in `el`: series = [{label, stroke, width, dash, points, spanGaps}], x = step.
  function lineChart(el, series, opts) {
    opts = opts || {};
    const height = opts.height || (el.classList.contains("chart-small") ? 160 : 260);
    const config = {
      width: width(el),
      height: height,
      scales: { x: { time: false }, y: opts.log ? { distr: 3 } : {} },
      axes: [{ label: opts.xLabel || "step", size: 40, incrs: STEP_INCRS }, { size: 60 }],
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      series: [{ label: opts.xLabel || "step" }].concat(series.map((s, i) => ({
        label: s.label,
        stroke: s.stroke || PALETTE[i % PALETTE.length],
        width: s.width || 1.5,
        dash: s.dash,
        spanGaps: s.spanGaps !== false,
        points: { show: !!s.points, size: 5 },
      }))),
    };
    const empty = [[]].concat(series.map(() => []));
    const chart = new uPlot(config, empty, el);
    el.dataset.series = String(series.length);
    if (window.ResizeObserver) {
      new ResizeObserver(() => chart.setSize({ width: width(el), height: height })).observe(el);
    }
    return chart;
  }

  // Calls fn at most once per animation frame, however many events arrive (a replay of 10 000 rows).
  function throttle(fn) {
    let queued = false;
    return function () {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; fn(); });
    };
  }

  // Binds the smoothing slider (#smoothing, #smoothing-value) and returns a getter.
  function smoothingControl(onChange) {
    const input = document.getElementById("smoothing");
    const output = document.getElementById("smoothing-value");
    if (!input) return () => 0;
    const saved = localStorage.getItem("ftstudio.smoothing");
    if (saved !== null) input.value = saved;
    const show = () => { if (output) output.textContent = Number(input.value).toFixed(2); };
    show();
    input.addEventListener("input", () => {
      show();
      localStorage.setItem("ftstudio.smoothing", input.value);
      onChange();
    });
    return () => Number(input.value);
  }

  window.FTCharts = { PALETTE, ema, lineChart, throttle, smoothingControl };
})();
