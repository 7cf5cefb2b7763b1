// Deployments page: deploy, create an API key (shown once) and undeploy, through the REST API.
(function () {
  // Session-cookie requests that change something carry the page's CSRF token (base.html puts it in
  // <body hx-headers> for htmx; these fetch calls send it the same way).
  function csrf(headers) {
    let token = {};
    try { token = JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (e) { token = {}; }
    return Object.assign({}, token, headers || {});
  }
  const form = document.getElementById("deploy-form");
  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = JSON.parse(document.getElementById("deploy-source").value);
      const system = document.getElementById("deploy-system").value.trim();
      const notice = document.getElementById("deploy-notice").value.trim();
      const faq = document.getElementById("deploy-faq").value;
      if (system) body.system_prompt = system;
      if (notice) body.safety_notice = notice;
      if (faq) body.faq_dataset_id = Number(faq);
      body.faq_threshold = Number(document.getElementById("deploy-threshold").value || 0.6);
      const response = await fetch("/api/v1/deployments", {
        method: "POST", headers: csrf({ "content-type": "application/json" }), body: JSON.stringify(body),
      });
      const data = await response.json();
      document.getElementById("deploy-result").textContent =
        response.ok ? `#${data.id} ${data.served_model_name}: ${data.status}` : "⚠ " + data.detail;
      if (response.ok) setTimeout(() => window.location.reload(), 1500);
    });
  }
  document.querySelectorAll(".dep-key").forEach((button) => {
    button.addEventListener("click", async () => {
      const response = await fetch(`/api/v1/deployments/${button.dataset.id}/keys`, { method: "POST", headers: csrf() });
      const data = await response.json();
      document.getElementById("dep-key-" + button.dataset.id).textContent = response.ok ? data.key : data.detail;
    });
  });
  // A deployment still loading becomes ready (or fails) by itself: follow it and show the page as it is
  // then, unless an API key is on screen (it is shown once; a reload would lose it).
  const loading = Array.from(document.querySelectorAll("#deployments-table .status-loading"))
    .map((el) => el.closest("tr").dataset.deploymentId);
  if (loading.length) {
    const timer = setInterval(async () => {
      for (const id of loading) {
        const response = await fetch(`/api/v1/deployments/${id}`);
        if (!response.ok || (await response.json()).status === "loading") continue;
        clearInterval(timer);
        if (!document.querySelector(".dep-key-out:not(:empty)")) window.location.reload();
        return;
      }
    }, 1500);
  }
  document.querySelectorAll(".dep-stop").forEach((button) => {
    button.addEventListener("click", async () => {
      button.disabled = true;
      await fetch(`/api/v1/deployments/${button.dataset.id}`, { method: "DELETE", headers: csrf() });
      setTimeout(() => window.location.reload(), 1500);
    });
  });
})();
