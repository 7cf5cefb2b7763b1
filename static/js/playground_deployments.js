// Deployments page: create an API key (shown once) and undeploy, through the REST API.
(function () {
  document.querySelectorAll(".dep-key").forEach((button) => {
    button.addEventListener("click", async () => {
      const response = await fetch(`/api/v1/deployments/${button.dataset.id}/keys`, { method: "POST" });
      const data = await response.json();
      document.getElementById("dep-key-" + button.dataset.id).textContent = response.ok ? data.key : data.detail;
    });
  });
  document.querySelectorAll(".dep-stop").forEach((button) => {
    button.addEventListener("click", async () => {
      button.disabled = true;
      await fetch(`/api/v1/deployments/${button.dataset.id}`, { method: "DELETE" });
      setTimeout(() => window.location.reload(), 1500);
    });
  });
})();
