// The list's "select all" checkbox and its "n of m selected" counter (Django's
// actions.js, without jQuery). The list works without it: each row has its own checkbox.
(function () {
  "use strict";
  const form = document.getElementById("changelist-form");
  if (!form) {
    return;
  }
  const toggle = document.getElementById("action-toggle");
  const boxes = Array.from(form.querySelectorAll("input.action-select"));
  const counter = form.querySelector(".action-counter");
  function update() {
    const checked = boxes.filter((box) => box.checked).length;
    if (counter) {
      counter.textContent = checked + " of " + boxes.length + " selected";
    }
    if (toggle) {
      toggle.checked = checked > 0 && checked === boxes.length;
    }
    boxes.forEach((box) => box.closest("tr").classList.toggle("selected", box.checked));
  }
  if (toggle) {
    toggle.addEventListener("change", () => {
      boxes.forEach((box) => {
        box.checked = toggle.checked;
      });
      update();
    });
  }
  boxes.forEach((box) => box.addEventListener("change", update));
  update();
})();
