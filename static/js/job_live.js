// Live job page: listens to the job's server-sent events and grows the loss chart and progress bar.
// No chart library: an SVG polyline is all a loss curve needs, and nothing comes from a CDN.
(function () {
  const summary = document.getElementById("job-summary");
  const chart = document.getElementById("loss-chart");
  if (!summary || !chart) return;
  const jobId = summary.dataset.jobId;
  const train = [], evals = [];
  const W = 640, H = 240, PAD = 30;

  function fmtSeconds(s) {
    if (s === null || s === undefined) return "–";
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function draw() {
    const points = train.concat(evals);
    if (!points.length) return;
    const maxStep = Math.max(...points.map(p => p.step), 1);
    const ys = points.map(p => p.value);
    let lo = Math.min(...ys), hi = Math.max(...ys);
    if (hi === lo) { hi += 1; lo -= 1; }
    const x = s => PAD + (W - 2 * PAD) * s / maxStep;
    const y = v => H - PAD - (H - 2 * PAD) * (v - lo) / (hi - lo);
    const line = (pts, cls) => pts.length ? `<polyline class="${cls}" fill="none" points="${pts.map(p => `${x(p.step).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ")}"/>` : "";
    chart.innerHTML =
      `<line class="axis" x1="${PAD}" y1="${H - PAD}" x2="${W - PAD}" y2="${H - PAD}"/>` +
      `<line class="axis" x1="${PAD}" y1="${PAD}" x2="${PAD}" y2="${H - PAD}"/>` +
      `<text x="2" y="${PAD}" class="tick">${hi.toFixed(3)}</text>` +
      `<text x="2" y="${H - PAD}" class="tick">${lo.toFixed(3)}</text>` +
      `<text x="${W - PAD}" y="${H - 8}" class="tick" text-anchor="end">${maxStep}</text>` +
      line(train, "loss-line") + line(evals, "eval-line");
    chart.dataset.points = String(train.length);
    const legend = document.getElementById("loss-chart-legend");
    if (legend) legend.textContent = `train loss: ${train.length} points` + (evals.length ? `, eval loss: ${evals.length}` : "");
  }

  function setText(id, text) { const el = document.getElementById(id); if (el) el.textContent = text; }

  function onProgress(job) {
    const p = job.progress;
    const bar = document.getElementById("job-progress-bar");
    if (bar && p.percent !== null) { bar.style.width = p.percent + "%"; bar.dataset.percent = p.percent; }
    setText("job-step", p.step);
    setText("job-total", p.total_steps ?? "?");
    setText("job-loss", p.loss === null ? "–" : p.loss.toFixed(4));
    setText("job-eta", fmtSeconds(p.eta_seconds));
    const status = document.getElementById("job-status");
    if (status && status.dataset.raw !== job.status) {
      status.dataset.raw = job.status;
      document.getElementById("job-status-card").dataset.status = job.status;
    }
  }

  const source = new EventSource(`/api/v1/jobs/${jobId}/events`);
  source.addEventListener("metric", ev => {
    const m = JSON.parse(ev.data);
    if (m.loss !== null && m.kind === "train") train.push({ step: m.step, value: m.loss });
    if (m.eval_loss !== null) evals.push({ step: m.step, value: m.eval_loss });
    draw();
  });
  source.addEventListener("progress", ev => onProgress(JSON.parse(ev.data)));
  source.addEventListener("end", () => {
    source.close();
    // Swap in the final state (status text, checkpoints, error) rendered by the server.
    if (window.htmx) htmx.ajax("GET", `/ui/jobs/${jobId}/summary`, { target: "#job-summary", swap: "innerHTML" });
  });
})();
