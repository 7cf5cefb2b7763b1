// Live job page: the job's server-sent events (/api/v1/jobs/{id}/events) feed the progress bar and the
// training dashboard (loss with EMA smoothing + eval loss, learning rate, grad norm, tokens/s). The stream
// replays every metric row first, so a finished job draws the same charts as a running one.
(function () {
  const summary = document.getElementById("job-summary");
  if (!summary) return;
  const jobId = summary.dataset.jobId;
  const board = document.getElementById("dashboard");
  const C = window.FTCharts;
  const rows = new Map(); // step -> {loss, eval, lr, grad, tps}
  let charts = null;

  function fmtSeconds(s) {
    if (s === null || s === undefined) return "–";
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function fmtBytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return i ? `${n.toFixed(2)} ${units[i]}` : `${n} B`;
  }

  function onMemory(peak) {
    const measured = document.getElementById("memory-measured");
    if (!measured || !peak) return;
    measured.textContent = fmtBytes(peak);
    const planned = Number(measured.dataset.planned || 0);
    const bar = document.getElementById("memory-bar");
    if (planned) {
      setText("memory-ratio", `${Math.round(100 * peak / planned)}%`);
      if (bar) { bar.max = Math.max(planned, peak); bar.value = peak; }
    }
  }

  function setText(id, text) { const el = document.getElementById(id); if (el) el.textContent = text; }

  function makeCharts() {
    if (!board || !C || !window.uPlot) return null;
    const d = board.dataset;
    return {
      loss: C.lineChart(document.getElementById("loss-chart"), [
        { label: d.labelLoss, stroke: "rgba(59,91,219,0.3)", width: 1 },
        { label: d.labelSmoothed, stroke: "#3b5bdb", width: 2 },
        { label: d.labelEval, stroke: "#e67700", width: 2, dash: [6, 4], points: true },
      ], { xLabel: d.labelStep }),
      lr: C.lineChart(document.getElementById("lr-chart"), [{ label: "lr", stroke: "#2b8a3e" }], { xLabel: d.labelStep }),
      grad: C.lineChart(document.getElementById("grad-chart"), [{ label: "grad norm", stroke: "#7048e8" }], { xLabel: d.labelStep }),
      tps: C.lineChart(document.getElementById("tps-chart"), [{ label: "tokens/s", stroke: "#0b7285" }], { xLabel: d.labelStep }),
    };
  }

  const smoothing = C ? C.smoothingControl(() => redraw()) : () => 0;

  function column(steps, key) { return steps.map(s => { const v = rows.get(s)[key]; return v === undefined ? null : v; }); }

  const redraw = C ? C.throttle(draw) : draw;
  function draw() {
    if (!charts) charts = makeCharts();
    if (!charts) return;
    const steps = Array.from(rows.keys()).sort((a, b) => a - b);
    const loss = column(steps, "loss");
    charts.loss.setData([steps, loss, C.ema(loss, smoothing()), column(steps, "eval")]);
    const trainSteps = steps.filter(s => rows.get(s).loss !== undefined);
    for (const [name, key] of [["lr", "lr"], ["grad", "grad"], ["tps", "tps"]]) {
      charts[name].setData([trainSteps, column(trainSteps, key)]);
      charts[name].root.parentElement.dataset.points = String(trainSteps.length);
    }
    const lossEl = document.getElementById("loss-chart");
    lossEl.dataset.points = String(loss.filter(v => v !== null).length);
    lossEl.dataset.evalPoints = String(steps.filter(s => rows.get(s).eval !== undefined).length);
  }

  function onMetric(m) {
    const row = rows.get(m.step) || {};
    if (m.kind === "train") {
      if (m.loss !== null) row.loss = m.loss;
      if (m.learning_rate !== null) row.lr = m.learning_rate;
      if (m.grad_norm !== null) row.grad = m.grad_norm;
      if (m.tokens_per_second !== null) row.tps = m.tokens_per_second;
    }
    if (m.eval_loss !== null) row.eval = m.eval_loss;
    rows.set(m.step, row);
    redraw();
  }

  function onProgress(job) {
    const p = job.progress;
    const bar = document.getElementById("job-progress-bar");
    if (bar && p.percent !== null) { bar.style.width = p.percent + "%"; bar.dataset.percent = p.percent; }
    setText("job-step", p.step);
    setText("job-total", p.total_steps ?? "?");
    setText("job-loss", p.loss === null ? "–" : p.loss.toFixed(4));
    setText("job-eta", fmtSeconds(p.eta_seconds));
    onMemory(job.peak_memory_bytes);
    const status = document.getElementById("job-status");
    if (status && status.dataset.raw !== job.status) {
      status.dataset.raw = job.status;
      document.getElementById("job-status-card").dataset.status = job.status;
    }
  }

  // Empty axes at once: a queued job or a model still loading shows where its curves will grow.
  charts = makeCharts();

  const source = new EventSource(`/api/v1/jobs/${jobId}/events`);
  source.addEventListener("metric", ev => onMetric(JSON.parse(ev.data)));
  source.addEventListener("progress", ev => onProgress(JSON.parse(ev.data)));
  source.addEventListener("end", () => {
    source.close();
    draw();
    if (board) board.dataset.ended = "true";
    // Swap in the final state (status text, checkpoints, error, events) rendered by the server.
    if (window.htmx) htmx.ajax("GET", `/ui/jobs/${jobId}/summary`, { target: "#job-summary", swap: "innerHTML" });
  });
})();
