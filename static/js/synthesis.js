// The "generate data" page: picking a saved template fills the template fields from the API.
// No inline scripts (strict CSP); delegated so it keeps working when htmx swaps parts of the page.
(function () {
  "use strict";
  var FIELDS = { role: "synth-role", requirements: "synth-requirements", limits: "synth-limits",
    output_format: "synth-output-format", prompt: "synth-prompt", name: "synth-template-name" };
  // A studio deployment replaces the external endpoint: its fields are switched off (not sent).
  var ENDPOINT = ["synth-base-url", "synth-api-key", "synth-secret", "synth-model"];
  document.addEventListener("change", function (event) {
    var picked = event.target;
    if (!picked || picked.id !== "synth-deployment") return;
    var option = picked.options[picked.selectedIndex];
    ENDPOINT.forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) return;
      el.disabled = !!picked.value;
      if (el.hasAttribute("required") || el.hasAttribute("data-required")) {
        el.setAttribute("data-required", "1");
        if (picked.value) el.removeAttribute("required"); else el.setAttribute("required", "");
      }
    });
    var model = document.getElementById("synth-model");
    if (model && picked.value) model.value = option.getAttribute("data-model") || "";
  });
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!select || select.id !== "synth-template-select" || !select.value) return;
    fetch(select.getAttribute("data-templates-url") + encodeURIComponent(select.value), {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (template) {
      if (!template) return;
      Object.keys(FIELDS).forEach(function (key) {
        var el = document.getElementById(FIELDS[key]);
        if (el) el.value = template[key] || "";
      });
      var vars = document.getElementById("synth-variables");
      if (vars) {
        vars.value = Object.keys(template.variables || {}).map(function (k) {
          return k + " = " + template.variables[k];
        }).join("\n");
      }
    });
  });
})();
