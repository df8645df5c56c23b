// Django's RelatedObjectLookups for the foreign keys of an admin form: the "Add another",
// "Change" and "View" links beside a field open the related form in a popup window
// (`_popup=1`); once saved there, the popup's answer (js/popup_response.js) calls back
// here with the row's id and name, which this form's field takes, and the popup closes.
// Without JavaScript the links are plain links that come back to this form.
"use strict";
(() => {
  // A popup is named after the field it fills (`id_address`): the only name it may set.
  const FIELD = /^id_[a-z_]{1,40}$/;

  function widgetOf(name) {
    if (!FIELD.test(name)) return null;
    const input = document.getElementById(name);
    return input ? input.closest(".related-widget") : null;
  }

  function open(link) {
    const widget = link.closest(".related-widget");
    const input = widget && widget.querySelector("input[name]");
    if (!input) return true;
    const url = new URL(link.href, window.location.href);
    url.searchParams.set("_popup", "1");
    const popup = window.open(url.href, input.id, "height=640,width=900,resizable=yes,scrollbars=yes");
    if (!popup) return true; // a blocked popup: follow the plain link instead
    popup.focus();
    return false;
  }

  function choose(name, value, label) {
    const widget = widgetOf(name);
    if (!widget) return;
    const input = document.getElementById(name);
    input.value = value;
    const shown = widget.querySelector(".related-label");
    if (shown) shown.textContent = label;
    const related = widget.querySelector(".change-related, .view-related");
    if (related && related.dataset.hrefTemplate && /^[0-9]+$/.test(value)) {
      related.href = related.dataset.hrefTemplate.replace("__fk__", value);
      related.hidden = false;
    }
    input.dispatchEvent(new Event("change", { bubbles: true }));
  }

  window.dismissAddRelatedObjectPopup = (popup, value, label) => {
    choose(popup.name, String(value), String(label));
    popup.close();
  };

  window.dismissChangeRelatedObjectPopup = (popup, value, label) => {
    choose(popup.name, String(value), String(label));
    popup.close();
  };

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.related-widget-wrapper-link");
    if (!link || link.hidden) return;
    if (!open(link)) event.preventDefault();
  });
})();
