// New fine-tune form: show only the fields the chosen method uses. Each such field carries
// data-methods="lora qlora ..." (app/jobs/form.py METHOD_FIELDS); for other methods it is hidden AND
// disabled, so the browser (and htmx's hx-include for the planner) does not send it.
// Also keeps the lora_target_modules preset select and its text box in step.
(function () {
  "use strict";
  var form = document.getElementById("job-form");
  var method = document.getElementById("job-method");
  if (!form || !method) return;

  function applyMethod() {
    // "auto" shows LoRA's fields: they apply when auto picks LoRA, and a full fine-tune ignores them.
    var chosen = method.value === "auto" ? "lora" : method.value;
    form.querySelectorAll("[data-methods]").forEach(function (box) {
      var show = box.getAttribute("data-methods").split(/\s+/).indexOf(chosen) !== -1;
      box.hidden = !show;
      // Inline style too: a stylesheet rule like `.fields label { display: grid }` beats [hidden].
      box.style.display = show ? "" : "none";
      box.classList.toggle("method-hidden", !show);
      box.querySelectorAll("input, select, textarea, button").forEach(function (el) { el.disabled = !show; });
    });
  }

  var preset = document.getElementById("lora-target-preset");
  var targets = document.getElementById("hp-lora_target_modules");
  function syncPresetFromText() {
    if (!preset || !targets) return;
    var known = Array.prototype.some.call(preset.options, function (o) { return o.value && o.value === targets.value.trim(); });
    preset.value = known ? targets.value.trim() : "";
  }
  if (preset && targets) {
    preset.addEventListener("change", function () {
      if (preset.value) {
        targets.value = preset.value;
      } else {
        targets.focus();
      }
      targets.dispatchEvent(new Event("change", { bubbles: true }));
    });
    targets.addEventListener("input", syncPresetFromText);
    syncPresetFromText();
  }

  method.addEventListener("change", applyMethod);
  applyMethod();
})();
