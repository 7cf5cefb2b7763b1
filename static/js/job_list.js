// Job list: the table refreshes every 3 s (htmx), which would uncheck the compare boxes; the picked ids
// live here and are re-applied after each swap. The compare button needs two or more.
(function () {
  const form = document.getElementById("compare-form");
  if (!form) return;
  const picked = new Set(JSON.parse(sessionStorage.getItem("ftstudio.compare") || "[]"));
  const button = document.getElementById("compare-button");

  function sync() {
    form.querySelectorAll("input.compare-pick").forEach(box => { box.checked = picked.has(box.value); });
    if (button) button.disabled = picked.size < 2;
    sessionStorage.setItem("ftstudio.compare", JSON.stringify(Array.from(picked)));
  }

  form.addEventListener("change", ev => {
    const box = ev.target;
    if (!box.classList || !box.classList.contains("compare-pick")) return;
    if (box.checked) picked.add(box.value); else picked.delete(box.value);
    sync();
  });
  form.addEventListener("submit", ev => {
    // Picked jobs may sit on rows the list no longer shows: send the remembered ids, comma-separated.
    ev.preventDefault();
    if (picked.size >= 2) window.location.href = `/jobs/compare?ids=${Array.from(picked).join(",")}`;
  });
  document.body.addEventListener("htmx:afterSwap", sync);
  sync();
})();
