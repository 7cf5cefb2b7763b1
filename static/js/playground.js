// Playground: chat with one model, or two side by side, streaming tokens as they are generated.
// Each column holds a deployment and a server-side conversation; a turn is POST /api/v1/playground/chat,
// read as server-sent events (OpenAI chunks). No inline script: everything is wired here.
(function () {
  // Session-cookie requests that change something carry the page's CSRF token (base.html puts it in
  // <body hx-headers> for htmx; these fetch calls send it the same way).
  function csrf(headers) {
    let token = {};
    try { token = JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { token = {}; }
    return Object.assign({}, token, headers || {});
  }
  const root = document.getElementById("playground");
  if (!root) return;
  const T = root.dataset;
  const presets = JSON.parse(root.dataset.presets || "{}");
  const $ = (id) => document.getElementById(id);
  const columns = {
    a: { deployment: null, conversation: null, controller: null },
    b: { deployment: null, conversation: null, controller: null },
  };

  // --- settings ------------------------------------------------------------------------------
  const fieldInputs = Array.from(document.querySelectorAll("[data-field]"));
  function applyPreset(name) {
    const values = presets[name];
    if (!values) return;
    const defaults = { num_beams: 1, do_sample: false, num_return_sequences: 1, no_repeat_ngram_size: 0,
      min_new_tokens: 0, early_stopping: false };
    const merged = Object.assign({}, defaults, values);
    for (const input of fieldInputs) {
      const v = merged[input.dataset.field];
      if (v === undefined) continue;
      if (input.dataset.kind === "bool") input.checked = !!v; else input.value = v;
    }
  }
  function generation() {
    const out = {};
    for (const input of fieldInputs) {
      if (input.dataset.kind === "bool") out[input.dataset.field] = input.checked;
      else if (input.value !== "") out[input.dataset.field] = Number(input.value);
    }
    return out;
  }
  $("pg-preset").addEventListener("change", (e) => applyPreset(e.target.value));
  fieldInputs.forEach((i) => i.addEventListener("change", () => { $("pg-preset").value = ""; }));
  applyPreset($("pg-preset").value);

  // --- columns -------------------------------------------------------------------------------
  function sideBySide() { return $("pg-side-by-side").checked; }
  function layout() {
    $("pg-column-b").hidden = !sideBySide();
    $("pg-columns").classList.toggle("two", sideBySide());
  }
  $("pg-side-by-side").addEventListener("change", layout);
  layout();
  function activeColumns() { return sideBySide() ? ["a", "b"] : ["a"]; }

  function setStatus(col, text, cls) {
    const el = $("pg-status-" + col);
    el.textContent = text;
    el.className = "pg-status status " + (cls ? "status-" + cls : "muted");
  }

  // A column's model loads in the background; a message sent meanwhile waits for it (turn, below).
  function openSource(col, value) {
    columns[col].opening = loadSource(col, value);
    return columns[col].opening;
  }
  async function loadSource(col, value) {
    const state = columns[col];
    state.deployment = null;
    state.conversation = null;
    $("pg-log-" + col).innerHTML = "";
    if (!value) { setStatus(col, ""); return; }
    setStatus(col, T.tLoading, "running");
    const response = await fetch("/api/v1/playground/open", {
      method: "POST", headers: csrf({ "content-type": "application/json" }), body: value,
    });
    let dep = await response.json();
    if (!response.ok) { setStatus(col, dep.detail || T.tFailed, "failed"); return; }
    while (dep.status === "loading") {
      await new Promise((r) => setTimeout(r, 700));
      dep = await (await fetch("/api/v1/deployments/" + dep.id)).json();
    }
    const notice = $("pg-notice-" + col);
    notice.hidden = !dep.safety_notice;
    notice.className = "pg-notice alert alert-error";
    notice.textContent = dep.safety_notice || "";
    if (dep.status !== "ready") { setStatus(col, T.tFailed + ": " + (dep.error || dep.status), "failed"); return; }
    state.deployment = dep;
    setStatus(col, T.tReady + " · " + dep.served_model_name, "succeeded");
  }
  for (const col of ["a", "b"]) {
    const select = $("pg-source-" + col);
    select.addEventListener("change", () => openSource(col, select.value));
    const pre = root.dataset["preselect" + col.toUpperCase()];
    if (pre) {
      const option = Array.from(select.options).find((o) => o.value === pre);
      if (option) { select.value = pre; openSource(col, pre); }
    }
  }

  // --- messages ------------------------------------------------------------------------------
  function bubble(col, role, text) {
    const div = document.createElement("div");
    div.className = "pg-msg " + role;
    const body = document.createElement("div");
    body.className = "pg-text";
    body.textContent = text || "";
    div.appendChild(body);
    if (role === "assistant") {
      const tools = document.createElement("div");
      tools.className = "pg-tools";
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "small pg-copy";
      copy.textContent = T.tCopy;
      copy.addEventListener("click", async () => {
        try { await navigator.clipboard.writeText(body.textContent); copy.textContent = T.tCopied; }
        catch (e) { copy.textContent = "✗"; }
      });
      tools.appendChild(copy);
      div.appendChild(tools);
    }
    $("pg-log-" + col).appendChild(div);
    div.scrollIntoView({ block: "end" });
    return div;
  }

  function renderChoices(div, texts) {
    const indices = Object.keys(texts).map(Number).sort((x, y) => x - y);
    div.querySelector(".pg-text").textContent = texts[indices[0]] || "";
    div.querySelectorAll(".pg-alt").forEach((n) => n.remove());
    for (const i of indices.slice(1)) {
      const alt = document.createElement("div");
      alt.className = "pg-alt";
      alt.textContent = T.tAlternative + " " + (i + 1) + ": " + texts[i];
      div.insertBefore(alt, div.querySelector(".pg-tools"));
    }
  }

  async function turn(col, content, regenerate) {
    const state = columns[col];
    if (!state.deployment && state.opening) {
      // Sent while the model loads: wait for it rather than answer "pick a model" (Send stays disabled).
      const waiting = new AbortController();
      state.controller = waiting;
      refreshBusy();
      await state.opening;
      state.controller = null;
      refreshBusy();
      if (waiting.signal.aborted) return;  // Stop was clicked while it waited
    }
    if (!state.deployment) {
      // A failed load already says why in the column's status; an empty picker gets the hint.
      if (!$("pg-source-" + col).value) setStatus(col, T.tPick, "failed");
      return;
    }
    if (regenerate) {
      const log = $("pg-log-" + col);
      if (log.lastElementChild && log.lastElementChild.classList.contains("assistant")) log.lastElementChild.remove();
    } else {
      bubble(col, "user", content);
    }
    const div = bubble(col, "assistant", "");
    div.classList.add("streaming");
    const body = {
      deployment_id: state.deployment.id, conversation_id: state.conversation, content: content || "",
      regenerate: !!regenerate, system_prompt: $("pg-system").value, generation: generation(),
    };
    if ($("pg-preset").value) body.preset = $("pg-preset").value;
    state.controller = new AbortController();
    const texts = {};
    try {
      const response = await fetch("/api/v1/playground/chat", {
        method: "POST", headers: csrf({ "content-type": "application/json" }), body: JSON.stringify(body),
        signal: state.controller.signal,
      });
      if (!response.ok) {
        const err = await response.json().catch(() => ({}));
        div.querySelector(".pg-text").textContent = "⚠ " + (err.detail || response.statusText);
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const line = buffer.slice(0, cut).trim();
          buffer = buffer.slice(cut + 2);
          if (!line.startsWith("data: ")) continue;
          const event = JSON.parse(line.slice(6));
          if (event.conversation_id) state.conversation = event.conversation_id;
          if (event.error) { div.querySelector(".pg-text").textContent = "⚠ " + event.error; continue; }
          for (const choice of event.choices || []) {
            const piece = (choice.delta && choice.delta.content) || "";
            texts[choice.index] = (texts[choice.index] || "") + piece;
          }
          if (event.choices) renderChoices(div, texts);
          const marker = event.ftstudio;
          if (marker && marker.source === "faq" && !div.querySelector(".pg-faq")) {
            const tag = document.createElement("div");
            tag.className = "pg-faq";
            tag.textContent = `${T.tFaq} · ${T.tSimilarity} ${marker.similarity} ≥ ${T.tThreshold} ${marker.threshold}`;
            div.insertBefore(tag, div.firstChild);
          }
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") div.querySelector(".pg-text").textContent += " ⚠ " + e.message;
    } finally {
      div.classList.remove("streaming");
      div.classList.add("done");
      state.controller = null;
      refreshBusy();
      loadConversations();
    }
  }

  function refreshBusy() {
    const busy = Object.values(columns).some((c) => c.controller);
    $("pg-stop").disabled = !busy;
    $("pg-send").disabled = busy;
  }

  function send(regenerate) {
    const content = $("pg-input").value;
    if (!regenerate && !content.trim()) return;
    const cols = activeColumns();
    cols.forEach((col) => turn(col, content, regenerate));
    if (!regenerate) $("pg-input").value = "";
    setTimeout(refreshBusy, 0);
  }
  $("pg-send").addEventListener("click", () => send(false));
  $("pg-regenerate").addEventListener("click", () => send(true));
  $("pg-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(false); }
  });
  $("pg-stop").addEventListener("click", () => {
    Object.values(columns).forEach((c) => c.controller && c.controller.abort());
  });
  $("pg-clear").addEventListener("click", () => {
    for (const col of ["a", "b"]) { columns[col].conversation = null; $("pg-log-" + col).innerHTML = ""; }
  });

  // --- conversations -------------------------------------------------------------------------
  async function loadConversations() {
    const list = $("pg-conversations");
    const response = await fetch("/api/v1/conversations");
    if (!response.ok) return;
    list.innerHTML = "";
    for (const conv of (await response.json()).slice(0, 20)) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#";
      a.textContent = `#${conv.id} ${conv.title || ""} (${conv.turns})`;
      a.addEventListener("click", (e) => { e.preventDefault(); reopen(conv.id); });
      li.appendChild(a);
      list.appendChild(li);
    }
  }
  async function reopen(id) {
    const conv = await (await fetch("/api/v1/conversations/" + id)).json();
    const log = $("pg-log-a");
    log.innerHTML = "";
    columns.a.conversation = conv.id;
    if (conv.deployment_id) {
      const value = JSON.stringify({ deployment_id: conv.deployment_id });
      const dep = await (await fetch("/api/v1/deployments/" + conv.deployment_id)).json();
      if (dep.status === "ready") { columns.a.deployment = dep; setStatus("a", T.tReady + " · " + dep.served_model_name, "succeeded"); }
      else { columns.a.deployment = null; setStatus("a", value, "failed"); }
    }
    $("pg-system").value = conv.system_prompt || "";
    for (const m of conv.messages) {
      const div = bubble("a", m.role, m.content);
      if (m.alternatives) renderChoices(div, Object.assign({ 0: m.content }, ...m.alternatives.map((t, i) => ({ [i + 1]: t }))));
    }
  }
  $("pg-save").addEventListener("click", async () => {
    const out = $("pg-save-result");
    if (!columns.a.conversation) { out.textContent = T.tPick; return; }
    const datasetId = $("pg-save-dataset").value;
    const response = await fetch(`/api/v1/conversations/${columns.a.conversation}/dataset`, {
      method: "POST", headers: csrf({ "content-type": "application/json" }),
      body: JSON.stringify(datasetId ? { dataset_id: Number(datasetId) } : {}),
    });
    const data = await response.json();
    out.textContent = response.ok ? `${T.tSaved}: #${data.dataset_id} v${data.version}` : "⚠ " + data.detail;
  });
  loadConversations();
})();
