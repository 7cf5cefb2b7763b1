// Recommendation buttons of the planner panel: fill the form inputs named in data-fill, then fire "change"
// so htmx re-plans. Delegated on document because htmx replaces the panel on every change.
(function () {
  "use strict";
  function setField(form, name, value) {
    form.querySelectorAll('[name="' + name + '"]').forEach(function (el) {
      if (el.type === "checkbox") {
        el.checked = Boolean(value);
      } else if (el.type === "radio") {
        el.checked = String(el.value) === String(value);
      } else {
        el.value = value === null || value === undefined ? "" : String(value);
      }
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-fill]");
    if (!button) return;
    var form = button.closest("form") || document.getElementById("job-form");
    if (!form) return;
    var values;
    try {
      values = JSON.parse(button.getAttribute("data-fill"));
    } catch (err) {
      return;
    }
    Object.keys(values).forEach(function (name) { setField(form, name, values[name]); });
    form.dispatchEvent(new Event("change", { bubbles: true }));
  });
})();
