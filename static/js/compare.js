// Compare runs: overlays the jobs' train loss (EMA-smoothed by the slider) and eval loss in one chart,
// from GET /api/v1/jobs/compare?ids=... (the configs and scores tables are rendered by the server).
(function () {
  const section = document.getElementById("compare");
  const C = window.FTCharts;
  if (!section || !C || !window.uPlot) return;
  const d = section.dataset;
  let data = null, chart = null;
  const smoothing = C.smoothingControl(() => draw());

  function draw() {
    if (!data) return;
    const steps = new Set();
    data.runs.forEach(r => { r.train_loss.forEach(p => steps.add(p[0])); r.eval_loss.forEach(p => steps.add(p[0])); });
    const xs = Array.from(steps).sort((a, b) => a - b);
    const index = new Map(xs.map((s, i) => [s, i]));
    const cols = [xs];
    const series = [];
    data.runs.forEach((r, i) => {
      const color = C.PALETTE[i % C.PALETTE.length];
      const name = `#${r.job.id}` + (r.job.name ? ` ${r.job.name}` : "");
      const train = new Array(xs.length).fill(null);
      r.train_loss.forEach(p => { train[index.get(p[0])] = p[1]; });
      // Smooth along this run's own points only, then put them back on the shared x axis.
      const own = r.train_loss.map(p => p[1]);
      const smoothed = C.ema(own, smoothing());
      const trainSmooth = new Array(xs.length).fill(null);
      r.train_loss.forEach((p, k) => { trainSmooth[index.get(p[0])] = smoothed[k]; });
      cols.push(trainSmooth);
      series.push({ label: `${name} ${d.labelLoss}`, stroke: color, width: 2 });
      const evals = new Array(xs.length).fill(null);
      r.eval_loss.forEach(p => { evals[index.get(p[0])] = p[1]; });
      cols.push(evals);
      series.push({ label: `${name} ${d.labelEval}`, stroke: color, width: 1.5, dash: [6, 4], points: true });
    });
    const el = document.getElementById("compare-chart");
    if (!chart) chart = C.lineChart(el, series, { xLabel: d.labelStep });
    chart.setData(cols);
    el.dataset.runs = String(data.runs.length);
  }

  // "Only differences": a config has dozens of hyperparameters; most are equal across runs.
  const only = document.getElementById("only-differences");
  if (only) {
    only.addEventListener("change", () => {
      document.querySelectorAll(".compare-table").forEach(t => t.classList.toggle("only-differences", only.checked));
    });
  }

  fetch(`/api/v1/jobs/compare?ids=${encodeURIComponent(d.ids)}`, { headers: { Accept: "application/json" } })
    .then(r => r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`)))
    .then(json => { data = json; draw(); })
    .catch(err => { document.getElementById("compare-chart").textContent = String(err); });
})();
